"""`glu-prune lm-eval`: lm-eval's own command line with the glu-prune back end registered, on a
pruned model directory, in one process and data-parallel in two CPU processes (torchrun with
ACCELERATE_USE_CPU=1; accelerate's own CPU launcher needs MPI): same scores, half the work each."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

BIN = os.path.dirname(sys.executable)
GLU_PRUNE = os.path.join(BIN, "glu-prune")
DOCS = 4  # piqa documents: 8 log-likelihood requests


def lm_eval(out, *launcher, env=None) -> tuple[dict, str]:
    cmd = [
        *launcher,
        GLU_PRUNE,
        "lm-eval",
        "--offline",
        "run",
        "--model",
        "glu-prune",
        "--model_args",
        f"pretrained={out.parent / 'pruned'},dtype=float32",
        "--tasks",
        "piqa",
        "--limit",
        str(DOCS),
        "--device",
        "cpu",
        "--batch_size",
        "8",
        "--output_path",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [results] = out.rglob("results_*.json")
    return json.loads(results.read_text())["results"]["piqa"], proc.stderr


@pytest.mark.slow
def test_two_cpu_processes_score_what_one_does(tmp_path, embedded_dir):
    prune = [GLU_PRUNE, "prune", "--model", "default", "--pct", "10", "--out", str(tmp_path / "pruned")]
    subprocess.run(prune, check=True, capture_output=True, timeout=300)
    one, log_one = lm_eval(tmp_path / "one")
    torchrun = [os.path.join(BIN, "torchrun"), "--nproc-per-node", "2"]
    two, log_two = lm_eval(tmp_path / "two", *torchrun, env={"ACCELERATE_USE_CPU": "1"})
    for key in ("acc,none", "acc_norm,none", "acc_stderr,none"):
        assert two[key] == one[key]
    # one process scored all 8 requests; of two, rank 0 (the only one with a progress bar) half
    assert f"| {2 * DOCS}/{2 * DOCS} [" in log_one and f"/{2 * DOCS} [" not in log_two
    assert f"| {DOCS}/{DOCS} [" in log_two


def test_the_back_end_is_registered_in_lm_evals_model_registry():
    from lm_eval.api.registry import get_model

    from glu_prune.evaluate import NAME, backend_class

    cls = backend_class()  # built (and registered) on first use
    assert get_model(NAME) is cls
