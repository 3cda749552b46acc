"""A run dir rebuilt from consolidated results: each run comes back as the checkpoint it was read
from, so a continued study reuses it (no model loads) and consolidates the same numbers; a
per-document file that does not match its record is not restored, and nothing in the run dir is
overwritten. Real embedded model and real offline data at tiny sizes."""

from __future__ import annotations

import json

import pytest

from glu_prune.evaluate import EvalSettings, TaskSpec, consolidate_results, run_robust_evaluation
from glu_prune.fidelity import FidelitySettings, consolidate_fidelity, run_fidelity
from glu_prune.fidelity.text import Text
from glu_prune.models import ModelSpec
from glu_prune.prune import PruneConfig
from glu_prune.study.plan import shipped_plan
from glu_prune.study.restore import restore_part

pytestmark = pytest.mark.slow

SPEC = ModelSpec("default")
PIQA = [TaskSpec("piqa")]
TINY = EvalSettings(offline=True, limit=2)
CONFIGS = [None, PruneConfig("maw", 10)]
TEXT = Text("The Normans gave their name to Normandy, a region in France. " * 5, "normans", "file")
FIDELITY = FidelitySettings(window=24, max_windows=2, bootstrap_iters=200)
PART = shipped_plan("quick").parts[0]  # the embedded model's part: its results files' names


@pytest.fixture(scope="module")
def results(tmp_path_factory, embedded_dir):
    """A work dir's evaluation and fidelity runs, consolidated into a results dir as a study does."""
    work, results = tmp_path_factory.mktemp("work"), tmp_path_factory.mktemp("results")
    assert run_robust_evaluation(SPEC, CONFIGS, PIQA, work / "evaluation", TINY, progress=False).complete
    assert run_fidelity(SPEC, CONFIGS[1:], TEXT, work / "fidelity", FIDELITY, progress=False).complete
    view = results / PART.sweep_view
    consolidate_results(work / "evaluation", f"{view}_results.csv", f"{view}_complete.json")
    fidelity = results / f"{PART.name}_fidelity"
    consolidate_fidelity(work / "fidelity", f"{fidelity}_results.csv", f"{fidelity}_complete.json")
    return results


def refuse(*_a, **_k):
    raise AssertionError("a restored run was computed again")


def test_restored_runs_are_reused_and_consolidate_to_the_same_numbers(results, tmp_path, monkeypatch):
    found = restore_part(PART, results, tmp_path)
    assert found == {"restored": 3, "present": 0, "skipped": []}  # 2 task runs, 1 fidelity run

    monkeypatch.setattr("glu_prune.evaluate.runner.load_pruned", refuse)
    monkeypatch.setattr("glu_prune.fidelity.runner.load_pruned", refuse)
    again = run_robust_evaluation(SPEC, CONFIGS, PIQA, tmp_path / "evaluation", TINY, progress=False)
    assert [d["reused"] for d in again.done] == [True, True]
    fidelity = run_fidelity(SPEC, CONFIGS[1:], TEXT, tmp_path / "fidelity", FIDELITY, progress=False)
    assert fidelity.done == [{"config": "maw-10pct", "reused": True}]

    csv = tmp_path / "again_results.csv"
    consolidate_results(tmp_path / "evaluation", csv, tmp_path / "again_complete.json")
    assert csv.read_text() == (results / f"{PART.sweep_view}_results.csv").read_text()
    consolidate_fidelity(tmp_path / "fidelity", tmp_path / "f.csv", tmp_path / "f.json")
    assert (tmp_path / "f.csv").read_text() == (results / f"{PART.name}_fidelity_results.csv").read_text()

    assert restore_part(PART, results, tmp_path) == {"restored": 0, "present": 3, "skipped": []}


def test_a_document_file_that_does_not_match_its_record_is_not_restored(results, tmp_path):
    complete = json.loads((results / f"{PART.sweep_view}_complete.json").read_text())
    copy = tmp_path / "results"
    copy.mkdir()
    for path in results.rglob("*"):
        target = copy / path.relative_to(results)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file():
            target.write_bytes(path.read_bytes())
    damaged = copy / next(iter(complete["documents"]["files"].values()))
    damaged.write_bytes(damaged.read_bytes()[:-1])

    found = restore_part(PART, copy, tmp_path / "work")
    assert found["restored"] == 2 and len(found["skipped"]) == 1
    assert "does not match the sha256 in its record" in found["skipped"][0]
    assert len(list((tmp_path / "work" / "evaluation" / "checkpoints").glob("*.json"))) == 1


def test_nothing_there_is_overwritten_and_a_torn_complete_json_is_reported(results, tmp_path):
    restore_part(PART, results, tmp_path / "work")
    kept = next((tmp_path / "work" / "evaluation" / "checkpoints").glob("*.json"))
    kept.write_text("newer work")
    again = restore_part(PART, results, tmp_path / "work")
    assert again["present"] == 3 and kept.read_text() == "newer work"

    torn = tmp_path / "torn"
    torn.mkdir()
    (torn / f"{PART.sweep_view}_complete.json").write_text('{"runs": [')
    found = restore_part(PART, torn, tmp_path / "other")
    assert found["restored"] == 0 and "not a complete JSON" in found["skipped"][0]
