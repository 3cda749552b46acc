"""`glu-prune restore`: committed evaluations written back as a run dir's checkpoints, so that
`evaluate` reuses them (no model loads) and consolidates them to the committed numbers again; a
run that cannot be restored is named, with exit code 1, and the others still come back. Uses the
committed HellaSwag drawn sample (real runs, 3,000 documents each)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from glu_prune.cli import main

COMMITTED = Path(__file__).parents[2] / "results" / "hellaswag-drawn-sample" / "smollm2-135m-instruct"
EVALUATE = (
    "evaluate --model default --dtype float32 --method data --levels 0,40 --tasks hellaswag --offline "
    "--chat-template on --limit 3000 --sample-seed 0"
).split()


def refuse(*_a, **_k):
    raise AssertionError("a restored run was computed again")


def test_restored_runs_are_reused_and_consolidate_to_the_committed_numbers(tmp_path, monkeypatch, capsys):
    runs = len(list((COMMITTED / "documents").glob("*.jsonl.gz")))
    assert main(["restore", str(COMMITTED), "--out", str(tmp_path)]) == 0
    assert f"{runs} runs restored into" in capsys.readouterr().out

    monkeypatch.setattr("glu_prune.evaluate.runner.load_pruned", refuse)
    assert main([*EVALUATE, "--out", str(tmp_path)]) == 0
    assert (tmp_path / "results.csv").read_text() == (COMMITTED / "results.csv").read_text()
    assert (tmp_path / "contrasts.csv").read_text() == (COMMITTED / "contrasts.csv").read_text()

    assert main(["restore", str(COMMITTED / "complete.json"), "--out", str(tmp_path)]) == 0
    assert f"0 runs restored into {tmp_path / 'checkpoints'}, {runs} already there" in capsys.readouterr().out


def test_a_run_that_cannot_be_restored_is_named_and_the_others_come_back(tmp_path, capsys):
    copy = tmp_path / "results"
    shutil.copytree(COMMITTED, copy)
    damaged = sorted((copy / "documents").glob("*.jsonl.gz"))[0]
    damaged.write_bytes(damaged.read_bytes()[:-1])
    assert main(["restore", str(copy), "--out", str(tmp_path / "run")]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("not restored") == 1 and damaged.stem.removesuffix(".jsonl") in captured.err
    assert "does not match the sha256 in its record" in captured.err
    restored = len(list((tmp_path / "run" / "checkpoints").glob("*.json")))
    assert restored == len(list(damaged.parent.glob("*.jsonl.gz"))) - 1


@pytest.mark.parametrize(
    "where, says",
    [
        ("nowhere", "no consolidated results to restore"),
        ("empty", "no consolidated results to restore"),
        ("torn", "not a complete JSON"),
    ],
)
def test_bad_results_are_one_line_and_exit_2_before_anything_is_written(where, says, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / "complete.json").write_text('{"runs": [')
    args = ["restore", str(COMMITTED), str(tmp_path / where), "--out", str(tmp_path / "run")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err
    assert not (tmp_path / "run").exists()  # the good results named first were not restored either
