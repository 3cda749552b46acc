"""The committed whole-split runs (results/*whole-split*/<model>/) extend the study's runs of the same
settings: their first documents are the study's own (same documents, prompts and answers,
log-likelihoods within float32 noise), so a whole split narrows the study's interval instead of
measuring something else."""

import json
from pathlib import Path

import pandas as pd
import pytest

from glu_prune.evaluate.documents import read_documents
from glu_prune.evaluate.pairing import complete_runs

RESULTS = Path(__file__).parents[2] / "results"
STUDY = RESULTS / "full-study"
WHOLE = sorted(RESULTS.glob("*whole-split*/*/complete.json"))
LIMITS = ("limit", "limit_per_subtask")


def _settings(identity: dict) -> str:
    return json.dumps({k: v for k, v in identity.items() if k not in LIMITS}, sort_keys=True)


def _documents(complete: Path) -> dict:
    """settings -> (run, its per-document rows by (doc_id, filter)) of a complete JSON."""
    runs, documents_of = complete_runs(complete)
    return {
        _settings(run["identity"]): (
            run,
            {(r["doc_id"], r["filter"]): r for r in read_documents(documents_of(run))},
        )
        for run in runs
    }


def test_the_whole_split_folders_are_there():
    assert {p.parent.parent.name for p in WHOLE} == {"two-models-whole-splits", "boolq-whole-split"}


@pytest.mark.parametrize("complete", WHOLE, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_a_whole_split_begins_with_the_studys_documents_and_answers(complete):
    model = complete.parent.name
    study = {}
    for path in sorted(STUDY.glob(f"{model}_*_complete.json")):
        if "fidelity" not in path.name and "profile" not in path.name:
            study |= _documents(path)
    compared = 0
    for settings, (run, whole) in _documents(complete).items():
        assert run["identity"]["limit"] is None and run["limit"] is None
        if settings not in study:
            continue
        _, first = study[settings]
        assert len(whole) > len(first) >= 1000
        for key, row in first.items():
            other = whole[key]
            assert (other["doc_hash"], other["prompt_hash"]) == (row["doc_hash"], row["prompt_hash"])
            assert other["values"].keys() == row["values"].keys()
            for metric, value in row["values"].items():
                if metric == "perplexity":  # the continuation's log-likelihood, in nats
                    assert other["values"][metric] == pytest.approx(value, abs=2e-4)
                else:
                    assert other["values"][metric] == value, (run["checkpoint"], key, metric)
        compared += 1
    assert compared >= 2  # every folder's unpruned run and at least one pruned one


def test_boolqs_whole_split_meets_the_plans_half_width_on_smollm2():
    """results/README 'BoolQ's whole split': the two sweep intervals of the study above the plan's
    0.04 at 10-40 % (`data` at 10 and 30 % against the unpruned model) are within it here."""
    results = pd.read_csv(RESULTS / "boolq-whole-split" / "smollm2-135m-instruct" / "results.csv")
    pruned = results[(results["metric"] == "acc") & results["method"].isin(["data", "maw"])]
    assert set(pruned["n_paired"]) == {3270}
    half_width = (pruned["delta_ci_high"] - pruned["delta_ci_low"]) / 2
    assert set(pruned.loc[pruned["method"] == "data", "pruning_pct"]) == {10.0, 30.0}
    assert (half_width <= 0.04).all(), half_width.tolist()
