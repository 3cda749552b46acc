"""Gemma-3-270M (GeGLU, expansion 3.2, sliding-window and global attention) pruned for real:
optipfair's selections, what pruning must not touch, and a reload that changes nothing.

Every test prunes a copy of the session's one loaded model (fixture `gemma`, read only) whose MLP
weights are its own; the rest (the 168M-parameter embedding above all) is shared, never changed.
"""

from __future__ import annotations

import copy

import pytest
import torch

from glu_prune.models import glu_mlps
from glu_prune.prune import PruneConfig, calibration_batches, prune, save_pruned

pytestmark = pytest.mark.slow


def mlp_copy(model):
    """A copy with its own MLP weights, sharing every other parameter (pruning replaces only those)."""
    return copy.deepcopy(model, {id(p): p for n, p in model.named_parameters() if ".mlp." not in n})


def same_mlp_weights(a, b) -> bool:
    return all(
        torch.equal(getattr(x, p).weight, getattr(y, p).weight)
        for x, y in zip(glu_mlps(a), glu_mlps(b), strict=True)
        for p in ("gate_proj", "up_proj", "down_proj")
    )


@pytest.mark.parametrize(
    "method,opf,divisor", [("maw", "MAW", None), ("vow", "VOW", 64), ("pon", "PON", None), ("l2", "L2", 128)]
)
def test_static_methods_select_what_optipfair_selects(gemma, method, opf, divisor):
    import optipfair

    model, tok = gemma
    ours, theirs = mlp_copy(model), mlp_copy(model)
    record = prune(ours, PruneConfig(method, pct=30, divisor=divisor), tok, progress=False)
    optipfair.prune_model(
        theirs,
        neuron_selection_method=opf,
        pruning_percentage=30,
        expansion_divisor=divisor,
        show_progress=False,
    )
    width = {None: 2048 - 614, 64: 1408, 128: 1408}[divisor]  # 1434 rounded down to 64s / 128s
    assert record.intermediate_size == theirs.config.intermediate_size == width
    assert same_mlp_weights(ours, theirs)


def test_data_optipfair_selects_what_optipfair_selects_on_bos_windows(gemma):
    """Calibration windows start with Gemma's BOS; optipfair's data-driven MAW on the same batches
    keeps the same neurons."""
    import optipfair

    model, tok = gemma
    batches = calibration_batches(tok, 4, 32, seed=3)
    assert all(bool((ids[:, 0] == tok.bos_token_id).all()) and ids.shape[1] == 32 for ids in batches)
    ours, theirs = mlp_copy(model), mlp_copy(model)
    cfg = PruneConfig("data-optipfair", pct=25, calibration_samples=4, calibration_seq_len=32, seed=3)
    prune(ours, cfg, tok, progress=False)
    optipfair.prune_model(
        theirs,
        neuron_selection_method="MAW",
        pruning_percentage=25,
        dataloader=[{"input_ids": ids} for ids in batches],
        show_progress=False,
    )
    assert same_mlp_weights(ours, theirs)


@torch.no_grad()
def test_prune_save_reload_keeps_geglu_norms_and_both_attention_kinds(gemma, tmp_path):
    from transformers import AutoModelForCausalLM

    model, tok = gemma
    pruned = mlp_copy(model)
    record = prune(pruned, PruneConfig("maw", pct=40), tok, progress=False).to_dict()
    assert record["intermediate_size"] == 1229 and record["parameters_after"] == 268_098_176 - 819 * 34_560

    # what pruning must not touch: the GeGLU activation and the norms around every MLP
    for before, after in zip(model.model.layers, pruned.model.layers, strict=True):
        assert after.mlp.act_fn is before.mlp.act_fn or type(after.mlp.act_fn) is type(before.mlp.act_fn)
        for norm in ("pre_feedforward_layernorm", "post_feedforward_layernorm", "input_layernorm"):
            assert torch.equal(getattr(after, norm).weight, getattr(before, norm).weight)
    assert pruned.config.hidden_activation == "gelu_pytorch_tanh"

    out = save_pruned(pruned, tok, record, tmp_path / "gemma-40")
    reloaded = AutoModelForCausalLM.from_pretrained(out).eval()
    assert reloaded.config.layer_types == model.config.layer_types and reloaded.config.sliding_window == 512
    assert (
        reloaded.config.intermediate_size == 1229 and reloaded.config.hidden_activation == "gelu_pytorch_tanh"
    )

    # 600 tokens: past the 512-token window, so sliding and global layers see different contexts
    text = " ".join(["The river ran past the old mill and the bridge."] * 60)
    ids = tok(text, return_tensors="pt").input_ids[:, :600]
    assert ids.shape[1] == 600 and ids[0, 0] == tok.bos_token_id
    a = reloaded.model(ids, output_hidden_states=True).hidden_states  # logits of 600 x 262k are costly:
    assert torch.equal(a[-1], pruned.model(ids).last_hidden_state)  # compare what feeds the output layer
    assert torch.equal(reloaded(ids, logits_to_keep=4).logits, pruned(ids, logits_to_keep=4).logits)

    # change token 1: a sliding layer (0) cannot see it from position 599, a global layer (5) can
    changed = ids.clone()
    changed[0, 1] = tok(" Zebra", add_special_tokens=False).input_ids[0]
    b = reloaded.model(changed, output_hidden_states=True).hidden_states
    assert (
        reloaded.config.layer_types[0] == "sliding_attention"
        and reloaded.config.layer_types[5] == "full_attention"
    )
    assert torch.equal(a[1][0, 599], b[1][0, 599])  # after layer 0 (sliding): position 599 unchanged
    assert not torch.equal(a[1][0, 300], b[1][0, 300])  # ... but inside the window it changed
    assert not torch.equal(a[6][0, 599], b[6][0, 599])  # after layer 5 (global): changed
