"""Pruning: shapes, equality with optipfair, reload round trips, seeds, data-driven selection."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from tiny import tiny_model

from glu_prune.errors import UserError
from glu_prune.models import glu_mlps
from glu_prune.prune import PruneConfig, PruningRecord, kept_width, prune, save_pruned


def mlp_weights(model):
    return [(m.gate_proj.weight, m.up_proj.weight, m.down_proj.weight) for m in glu_mlps(model)]


def assert_same_weights(a, b):
    for wa, wb in zip(mlp_weights(a), mlp_weights(b), strict=True):
        for x, y in zip(wa, wb, strict=False):
            assert x.shape == y.shape
            assert torch.equal(x, y)


@torch.no_grad()
def logits(model, ids):
    return model(input_ids=ids).logits


# ----------------------------------------------------------------------------- the embedded model


@pytest.mark.slow
def test_embedded_maw_shapes_config_and_equality_with_optipfair(embedded):
    import optipfair

    model, tok = embedded
    reference = copy.deepcopy(model)
    record = prune(model, PruneConfig("maw", pct=40), tok, progress=False).to_dict()
    optipfair.prune_model(
        reference, neuron_selection_method="MAW", pruning_percentage=40, show_progress=False
    )

    assert record["original_intermediate_size"] == 1536
    assert record["intermediate_size"] == 1536 - int(0.4 * 1536) == 922
    assert model.config.intermediate_size == 922
    for m in glu_mlps(model):
        assert m.gate_proj.weight.shape == (922, 576) and m.up_proj.weight.shape == (922, 576)
        assert m.down_proj.weight.shape == (576, 922)
    assert record["parameters_after"] == sum(p.numel() for p in model.parameters())
    assert record["parameters_before"] - record["parameters_after"] == 30 * 614 * 3 * 576
    assert_same_weights(model, reference)
    ids = tok("The capital of France is", return_tensors="pt").input_ids
    assert torch.equal(logits(model, ids), logits(reference, ids))


@pytest.mark.slow
@pytest.mark.parametrize("method,opf", [("vow", "VOW"), ("pon", "PON"), ("l2", "L2")])
def test_embedded_static_methods_equal_optipfair_with_divisor(embedded, method, opf):
    import optipfair

    model, tok = embedded
    reference = copy.deepcopy(model)
    prune(model, PruneConfig(method, pct=30, divisor=64), tok, progress=False)
    optipfair.prune_model(
        reference,
        neuron_selection_method=opf,
        pruning_percentage=30,
        expansion_divisor=64,
        show_progress=False,
    )
    assert model.config.intermediate_size == 1024  # 1536 - 460 = 1076, rounded down to 64s
    assert_same_weights(model, reference)


@pytest.mark.slow
def test_embedded_expansion_ratio_equals_optipfair(embedded):
    import optipfair

    model, tok = embedded
    reference = copy.deepcopy(model)
    record = prune(model, PruneConfig("maw", expansion_ratio=2.0), tok, progress=False).to_dict()
    optipfair.prune_model(
        reference,
        neuron_selection_method="MAW",
        pruning_percentage=None,
        expansion_rate=200,
        show_progress=False,
    )
    assert record["intermediate_size"] == 1152 and record["expansion_ratio"] == 2.0
    assert_same_weights(model, reference)


@pytest.mark.slow
def test_embedded_reload_round_trip(embedded, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = embedded
    record = prune(model, PruneConfig("maw", pct=40, divisor=128), tok, progress=False).to_dict()
    out = save_pruned(model, tok, record, tmp_path / "pruned")
    reloaded = AutoModelForCausalLM.from_pretrained(out).eval()
    assert reloaded.config.intermediate_size == 896  # 922 rounded down to a multiple of 128
    assert (out / "model.safetensors").is_file()
    saved = json.loads((out / "pruning.json").read_text())
    assert saved["intermediate_size"] == 896 and saved["method"] == "maw" and saved["divisor"] == 128
    tok2 = AutoTokenizer.from_pretrained(out)
    ids = tok2("Pruning keeps the widest neurons", return_tensors="pt").input_ids
    assert torch.equal(ids, tok("Pruning keeps the widest neurons", return_tensors="pt").input_ids)
    assert torch.equal(logits(reloaded, ids), logits(model, ids))
    assert tok2.chat_template == tok.chat_template


@pytest.mark.slow
def test_random_is_reproducible_by_seed_and_differs_across_seeds(embedded_dir):
    from glu_prune.models import ModelSpec
    from glu_prune.prune import load_pruned

    a, _, rec = load_pruned(ModelSpec("default"), PruneConfig("random", pct=20, seed=1), progress=False)
    b, _, _ = load_pruned(ModelSpec("default"), PruneConfig("random", pct=20, seed=1), progress=False)
    c, _, _ = load_pruned(ModelSpec("default"), PruneConfig("random", pct=20, seed=2), progress=False)
    assert rec["seed"] == 1
    assert_same_weights(a, b)
    assert not torch.equal(glu_mlps(a)[0].gate_proj.weight, glu_mlps(c)[0].gate_proj.weight)


@pytest.mark.slow
def test_data_optipfair_equals_optipfair_data_driven_mode(embedded):
    """Our calibration pass reproduces optipfair's data-driven MAW exactly (same batches)."""
    import optipfair

    from glu_prune.prune import calibration_batches

    model, tok = embedded
    reference = copy.deepcopy(model)
    cfg = PruneConfig("data-optipfair", pct=25, calibration_samples=8, calibration_seq_len=64, seed=3)
    record = prune(model, cfg, tok, progress=False).to_dict()
    batches = [{"input_ids": ids} for ids in calibration_batches(tok, 8, 64, seed=3)]
    optipfair.prune_model(
        reference,
        neuron_selection_method="MAW",
        pruning_percentage=25,
        dataloader=batches,
        show_progress=False,
    )
    assert record["calibration_samples"] == 8 and "calibration_source" in record
    assert_same_weights(model, reference)


@pytest.mark.slow
def test_data_method_uses_activations(embedded):
    model, tok = embedded
    static = copy.deepcopy(model)
    prune(
        model,
        PruneConfig("data", pct=25, calibration_samples=8, calibration_seq_len=192),
        tok,
        progress=False,
    )
    prune(static, PruneConfig("maw", pct=25), tok, progress=False)
    assert model.config.intermediate_size == static.config.intermediate_size
    differs = [
        not torch.equal(a.gate_proj.weight, b.gate_proj.weight)
        for a, b in zip(glu_mlps(model), glu_mlps(static), strict=False)
    ]
    assert any(differs)


def test_data_method_needs_a_tokenizer():
    with pytest.raises(UserError, match="tokenizer"):
        prune(tiny_model(), PruneConfig("data", pct=25), tokenizer=None, progress=False)


# ----------------------------------------------------------------------------- other GLU families


@pytest.mark.parametrize(
    "model_type", ["llama", "qwen2", "qwen3", "mistral", "gemma", "gemma2", "gemma3_text"]
)
def test_tiny_families_prune_save_reload(model_type, tmp_path):
    from transformers import AutoModelForCausalLM

    model = tiny_model(model_type)
    record = prune(model, PruneConfig("maw", pct=50, divisor=32), progress=False).to_dict()
    assert record["intermediate_size"] == 96 and model.config.intermediate_size == 96
    out = save_pruned(model, None, record, tmp_path / model_type)
    reloaded = AutoModelForCausalLM.from_pretrained(out).eval()
    ids = torch.arange(10).unsqueeze(0)
    assert torch.allclose(logits(reloaded, ids), logits(model, ids), atol=1e-6)
    assert sum(p.numel() for p in reloaded.parameters()) == record["parameters_after"]


def test_saved_dir_and_results_get_ordinary_permissions(tmp_path):
    """Temp-then-rename writes must not leave mkdtemp's 0700 / mkstemp's 0600 behind."""
    import os

    from glu_prune.store import atomic_write_text

    old = os.umask(0o022)
    try:
        model = tiny_model("llama")
        out = save_pruned(
            model, None, prune(model, PruneConfig("maw", pct=50), progress=False).to_dict(), tmp_path / "m"
        )
        table = atomic_write_text(tmp_path / "results.csv", "a,b\n")
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o755
    assert {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()} == {
        "config.json": 0o644,
        "generation_config.json": 0o644,
        "model.safetensors": 0o644,  # safetensors writes 0600
        "pruning.json": 0o644,
    }
    assert table.stat().st_mode & 0o777 == 0o644


def test_partial_layers_prune_in_memory_but_refuse_to_save(tmp_path):
    model = tiny_model("llama")
    record = prune(model, PruneConfig("l2", pct=50, layers=(1,)), progress=False).to_dict()
    assert record["uniform_width"] is False
    assert record["layer_intermediate_sizes"] == [192, 96]
    assert model.config.intermediate_size == 192  # config describes no longer every layer
    model(input_ids=torch.arange(5).unsqueeze(0))  # still runs in memory
    with pytest.raises(UserError, match="different widths"):
        save_pruned(model, None, record, tmp_path / "out")
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []


def test_non_glu_model_is_refused():
    from transformers import AutoModelForCausalLM, GPT2Config

    gpt2 = AutoModelForCausalLM.from_config(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64))
    with pytest.raises(UserError, match="not a GLU model"):
        prune(gpt2, PruneConfig("maw", pct=10), progress=False)


# ----------------------------------------------------------------------------- widths and config


@pytest.mark.parametrize(
    "width,pct,divisor,expected",
    [
        (8192, 10, None, 7373),
        (8192, 40, None, 4916),
        (8192, 50, None, 4096),
        (8192, 60, None, 3277),
        (8192, 10, 128, 7296),
        (8192, 10, 256, 7168),
        (1536, 40, 128, 896),
        (1536, 99.99, None, 1),
    ],
)
def test_kept_width(width, pct, divisor, expected):
    assert kept_width(width, pct, divisor) == expected


def test_divisor_that_removes_nothing_is_refused():
    with pytest.raises(UserError, match="removes no neuron"):
        kept_width(256, 0.1, 32)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"pct": 0}, "strictly between"),
        ({"pct": 100}, "strictly between"),
        ({"pct": -3}, "strictly between"),
        ({"pct": float("nan")}, "strictly between"),
        ({}, "exactly one"),
        ({"pct": 10, "expansion_ratio": 2.0}, "exactly one"),
        ({"pct": 10, "method": "magic"}, "unknown method"),
        ({"pct": 10, "divisor": 100}, "divisor"),
        ({"expansion_ratio": -1.0}, "positive"),
        ({"pct": 10, "layers": (1, 1)}, "distinct"),
    ],
)
def test_prune_config_validation(kwargs, match):
    with pytest.raises(UserError, match=match):
        PruneConfig(**kwargs)


def test_settings_hold_only_what_changes_the_weights():
    assert "seed" not in PruneConfig("maw", pct=10, seed=5).settings()
    assert PruneConfig("random", pct=10, seed=5).settings()["seed"] == 5
    data = PruneConfig("data", pct=10).settings()
    assert data["calibration_samples"] == 64 and data["seed"] == 0
    assert "calibration_samples" not in PruneConfig("l2", pct=10).settings()


def test_unpruned_record_matches_model():
    model = tiny_model("qwen2")
    rec = PruningRecord.unpruned(model).to_dict()
    assert rec["pruning_pct"] == 0 and rec["intermediate_size"] == 192 and rec["method"] == "none"
    assert rec["expansion_ratio"] == 3.0 and rec["parameters_after"] == rec["parameters_before"]


def test_least_squares_refit_beats_plain_slicing_on_calibration_activations():
    from glu_prune.prune.refit import least_squares_down as _least_squares_down

    torch.manual_seed(0)
    x = torch.randn(2000, 48) @ torch.randn(48, 48)  # correlated activations [tokens, intermediate]
    down = torch.randn(16, 48)  # [hidden, intermediate]
    keep = torch.arange(0, 48, 2)
    gram = x.T @ x
    refit = _least_squares_down(down, gram, keep)
    target = x @ down.T
    plain_error = (target - x[:, keep] @ down[:, keep].T).norm()
    refit_error = (target - x[:, keep] @ refit.T).norm()
    assert refit.shape == (16, 24) and refit_error < 0.8 * plain_error
    # keeping every neuron of well-conditioned activations, the re-fit gives back the original
    # weights (up to the small ridge)
    white = torch.randn(2000, 48)
    assert torch.allclose(_least_squares_down(down, white.T @ white, torch.arange(48)), down, atol=1e-2)


def test_refit_needs_enough_calibration_tokens(embedded):
    model, tok = embedded
    with pytest.raises(UserError, match="at least as many calibration tokens"):
        prune(
            model,
            PruneConfig("data", pct=25, calibration_samples=8, calibration_seq_len=64),
            tok,
            progress=False,
        )


@pytest.mark.slow
def test_calibration_is_reused_across_levels_with_identical_results(embedded_dir, monkeypatch):
    import glu_prune.prune.calibration as calibration
    from glu_prune.models import ModelSpec
    from glu_prune.prune import load_pruned

    calls = []
    real = calibration.collect_statistics
    monkeypatch.setattr(calibration, "collect_statistics", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(calibration, "_CACHE", {})
    cfg = dict(calibration_samples=8, calibration_seq_len=192)
    a, _, _ = load_pruned(ModelSpec("default"), PruneConfig("data", pct=20, **cfg), progress=False)
    b, _, _ = load_pruned(ModelSpec("default"), PruneConfig("data", pct=40, **cfg), progress=False)
    c, _, _ = load_pruned(ModelSpec("default"), PruneConfig("data", pct=40, seed=1, **cfg), progress=False)
    assert len(calls) == 2  # the 40 % run reused the 20 % run's statistics; a new seed recalibrates
    monkeypatch.setattr(calibration, "_CACHE", {})
    fresh, _, _ = load_pruned(ModelSpec("default"), PruneConfig("data", pct=40, **cfg), progress=False)
    assert_same_weights(b, fresh)
