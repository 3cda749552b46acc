"""Fidelity to the unpruned model: the window rule, the output layer path against a plain forward
pass, a model against itself (KL 0, agreement 1), a pruned copy against a hand computation, the
tidy rows, bad input before any work, and SIGKILL resume.

The real embedded model where numbers matter; tiny random models where only the head path matters.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from tiny import tiny_model

from glu_prune.cli import main
from glu_prune.fidelity import (
    FIDELITY_COLUMNS,
    FidelitySettings,
    Text,
    consolidate_fidelity,
    load_text,
    make_windows,
    run_fidelity,
)
from glu_prune.fidelity.measure import compare, head_logits, reference
from glu_prune.models import ModelSpec
from glu_prune.prune import PruneConfig, prune

GLU_PRUNE = os.path.join(os.path.dirname(sys.executable), "glu-prune")
TEXT = Text(
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a "
    "region in France. They were descended from Norse raiders and pirates from Denmark, Iceland and "
    "Norway who, under their leader Rollo, agreed to swear fealty to King Charles III of West Francia.",
    "normans",
    "file",
)


@pytest.mark.parametrize("kind", ["llama", "qwen2", "gemma3_text"])
def test_the_output_layer_path_equals_a_plain_forward_pass(kind):
    import torch

    model = tiny_model(kind, **({"final_logit_softcapping": 5.0} if kind == "gemma3_text" else {}))
    ids = torch.randint(0, 256, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = model(ids).logits
        got = head_logits(model, model.base_model(input_ids=ids).last_hidden_state)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_windows_start_with_bos_and_score_every_token_once(embedded):
    _, tokenizer = embedded
    ids = tokenizer(TEXT.body, add_special_tokens=False)["input_ids"]
    windows = make_windows(tokenizer, TEXT, 16, None)
    assert all(w[0] == tokenizer.bos_token_id for w in windows)
    assert [len(w) for w in windows[:-1]] == [16] * (len(windows) - 1) and 2 <= len(windows[-1]) <= 16
    assert [t for w in windows for t in w[1:]] == ids  # each text token scored exactly once
    assert make_windows(tokenizer, TEXT, 16, 2) == windows[:2]


def hand_kl(model_p, model_q, window):
    """KL(P || Q), agreement and both NLLs per position from plain forward passes, in float64."""
    import torch

    ids = torch.tensor([window])
    with torch.no_grad():
        lp = torch.log_softmax(model_p(ids).logits[0, :-1].double(), -1)
        lq = torch.log_softmax(model_q(ids).logits[0, :-1].double(), -1)
    t = torch.tensor(window[1:])[:, None]
    kl = (lp.exp() * (lp - lq)).sum(-1)
    return (
        kl.numpy(),
        (lp.argmax(-1) == lq.argmax(-1)).numpy(),
        -lp.gather(-1, t)[:, 0],
        -lq.gather(-1, t)[:, 0],
    )


def test_against_itself_kl_0_against_a_pruned_copy_as_computed_by_hand(embedded_dir):
    from glu_prune.models import load_model

    base, tokenizer = load_model(ModelSpec("default"))
    windows = make_windows(tokenizer, TEXT, 12, 3)
    ref = reference(base, windows, batch_size=2)
    copy = load_model(ModelSpec("default"))[0]
    same = compare(copy, ref, batch_size=2, chunk=4)
    assert same["per_window"]["kl"].sum() == 0 and (same["kl_tokens"] == 0).all()
    assert (same["per_window"]["agree"] == same["per_window"]["tokens"]).all()
    # other batches run other kernels: equal up to float32 rounding, not bit for bit, on some CPUs
    rebatched = compare(copy, ref, batch_size=1, chunk=4)
    assert np.abs(rebatched["kl_tokens"]).max() < 1e-5
    assert (rebatched["per_window"]["agree"] == rebatched["per_window"]["tokens"]).all()
    pruned = load_model(ModelSpec("default"))[0]
    prune(pruned, PruneConfig("maw", 20), tokenizer, progress=False)
    got = compare(pruned, ref, batch_size=2, chunk=5)
    want = [hand_kl(base, pruned, w) for w in windows]
    kl = np.concatenate([w[0] for w in want])
    assert (kl > 0).all() and got["kl_tokens"] == pytest.approx(kl, rel=1e-4, abs=1e-6)
    for key, i in (("agree", 1), ("nll_unpruned", 2), ("nll_pruned", 3)):
        assert got["per_window"][key] == pytest.approx([float(w[i].sum()) for w in want], rel=1e-4), key
    assert got["per_window"]["tokens"].tolist() == [11, 11, 11]


def test_records_rows_and_resume_in_process(tmp_path, embedded_dir, monkeypatch):
    settings = FidelitySettings(window=24, max_windows=3, bootstrap_iters=200)
    spec = ModelSpec("default")
    status = run_fidelity(spec, [None, PruneConfig("maw", 10)], TEXT, tmp_path, settings, progress=False)
    assert status.complete and status.done == [{"config": "maw-10pct", "reused": False}]
    metrics = {m["metric"]: m for m in status.records[0]["metrics"]}
    assert set(metrics) == {
        "kl_mean",
        "kl_median",
        "kl_p99",
        "top1_agreement",
        "ppl_unpruned",
        "ppl_pruned",
        "ppl_ratio",
    }
    per = status.records[0]["per_window"]
    n = sum(per["tokens"])
    assert (
        per["tokens"][:2] == [23, 23] and n == status.records[0]["tokens"] == metrics["kl_mean"]["n_samples"]
    )
    assert metrics["kl_mean"]["value"] == pytest.approx(sum(per["kl"]) / n)
    assert metrics["ppl_ratio"]["value"] == pytest.approx(
        math.exp((sum(per["nll_pruned"]) - sum(per["nll_unpruned"])) / n)
    )
    for name in ("kl_mean", "top1_agreement", "ppl_ratio"):
        assert 0 < metrics[name]["stderr"] < abs(metrics[name]["value"]), name
    assert (
        metrics["kl_median"]["stderr"] is None
        and 0 < metrics["kl_median"]["value"] < metrics["kl_p99"]["value"]
    )

    def refuse(*_a, **_k):
        raise AssertionError("a finished configuration was computed again")

    monkeypatch.setattr("glu_prune.fidelity.runner.load_pruned", refuse)
    again = run_fidelity(spec, [PruneConfig("maw", 10)], TEXT, tmp_path, settings, progress=False)
    assert again.done == [{"config": "maw-10pct", "reused": True}] and again.records == status.records
    table, _ = consolidate_fidelity(tmp_path)
    assert list(table.columns) == list(FIDELITY_COLUMNS) and len(table) == 7
    assert set(table["task"]) == {"fidelity"} and set(table["text"]) == {"normans"}

    from glu_prune.report import load_results

    found = load_results(tmp_path)  # read like the evaluation tables, kept apart from them
    assert len(found.fidelity) == 7 and found.evaluation.empty
    assert (found.fidelity["hardware"] != "unknown").all()  # from fidelity_complete.json beside it


BAD = [
    (["--pct", "10", "--text", "/no/such/file"], "no such file"),
    (["--levels", "0"], "level above 0"),
    (["--pct", "10", "--window", "1"], "--window must be an integer of at least 2"),
    (["--pct", "10", "--method", "magic"], "unknown method"),
    (["--pct", "10", "--max-windows", "-1"], "--max-windows must be a positive integer"),
]


@pytest.mark.parametrize("args,match", BAD)
def test_bad_input_is_one_line_exit_2_before_loading(args, match, capsys, tmp_path, monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("loaded a model")

    monkeypatch.setattr("glu_prune.fidelity.runner.load_pruned", refuse)
    code = main(["fidelity", "--out", str(tmp_path / "o"), *args])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and match in err, err
    assert not (tmp_path / "o").exists()


def test_not_utf8_text_is_refused(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(Exception, match="is not UTF-8"):
        load_text(bad)


@pytest.mark.slow
def test_sigkilled_run_resumes_and_equals_an_uninterrupted_run(tmp_path, embedded_dir):
    text = tmp_path / "text.txt"
    text.write_text((TEXT.body + "\n") * 6, encoding="utf-8")
    levels, settings = [10, 20, 30], FidelitySettings(window=32, max_windows=4)
    reference_run = run_fidelity(
        ModelSpec("default"), [PruneConfig("maw", p) for p in levels], text, tmp_path / "ref", settings, False
    )
    cmd = [GLU_PRUNE, "fidelity", "--model", "default", "--levels", "10,20,30", "--method", "maw"]
    cmd += ["--text", str(text), "--window", "32", "--max-windows", "4"]
    cmd += ["--out", str(tmp_path / "run"), "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    ckpts = tmp_path / "run" / "checkpoints"
    deadline = time.monotonic() + 180
    while not list(ckpts.glob("*.json")):
        assert proc.poll() is None, "the run ended before its first checkpoint appeared"
        assert time.monotonic() < deadline, "no checkpoint within 180 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished = list(ckpts.glob("*.json"))
    assert 1 <= len(finished) < 3 and all(json.loads(p.read_text())["status"] == "done" for p in finished)

    resumed = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"3 done ({len(finished)} reused from checkpoints)" in resumed.stderr
    got = {r["pruning_pct"]: r["metrics"] for r in json.loads(resumed.stdout)}
    want = {r["pruning"]["pruning_pct"]: r["metrics"] for r in reference_run.records}
    assert got.keys() == want.keys() == set(map(float, levels))
    for level, metrics in want.items():
        for m in metrics:
            assert got[level][m["metric"]]["value"] == pytest.approx(m["value"], rel=1e-9), (
                level,
                m["metric"],
            )
