"""The committed whole-split runs (results/*whole-split*/<model>/) extend the study's runs of the same
settings: their first documents are the study's own (same documents, prompts and answers,
log-likelihoods within float32 noise), so a whole split narrows the study's interval instead of
measuring something else."""

import functools
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
    assert {p.parent.parent.name for p in WHOLE} == {
        "two-models-whole-splits",
        "boolq-whole-split",
        "hellaswag-whole-split",
    }


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


# the study's BoolQ sweep configurations whose intervals at 1,000 documents missed the plan's 0.04
MISSED = {
    "smollm2-135m-instruct": {"data": {10.0, 30.0}, "maw": {10.0, 30.0}},  # MAW: the reference
    "gemma-3-270m": {"data": {10.0, 20.0, 30.0, 40.0}, "maw": {10.0, 20.0, 30.0, 40.0}},
}


@pytest.mark.parametrize("model", MISSED)
def test_boolqs_whole_split_meets_the_plans_half_width(model):
    """results/README 'BoolQ's whole split': the sweep intervals of the study above the plan's 0.04
    at 10-40 % are within it on the whole split, against the unpruned model and against MAW."""
    folder = RESULTS / "boolq-whole-split" / model
    results = pd.read_csv(folder / "results.csv")
    pruned = results[(results["metric"] == "acc") & results["method"].isin(["data", "maw"])]
    levels = {m: set(pruned.loc[pruned["method"] == m, "pruning_pct"]) for m in ("data", "maw")}
    assert levels == MISSED[model] and set(pruned["n_paired"]) == {3270}
    contrasts = pd.read_csv(folder / "contrasts.csv").query("metric == 'acc'")
    assert set(contrasts["pruning_pct"]) == MISSED[model]["data"] & MISSED[model]["maw"]
    for table in (pruned, contrasts):
        half_width = (table["delta_ci_high"] - table["delta_ci_low"]) / 2
        assert (half_width <= 0.04).all(), half_width.tolist()


@functools.cache
def _hellaswag_sources() -> list[str]:
    """Each HellaSwag validation item's source (activitynet or wikihow), by doc_id."""
    from glu_prune.tasks.sources import hellaswag

    return [s.split("~")[0] for s in hellaswag()["validation"]["source_id"]]


def test_the_studys_hellaswag_documents_are_activitynet_alone():
    """results/README "HellaSwag's whole split": --limit takes a split's first documents, and
    HellaSwag's validation split lists all its ActivityNet items before its WikiHow items."""
    sources = _hellaswag_sources()
    limit = int(
        pd.read_csv(STUDY / "smollm2-135m-instruct_offline_results.csv")
        .query("task == 'hellaswag'")["limit"]
        .max()
    )
    assert limit == 1000 and set(sources[:limit]) == {"activitynet"}
    assert (sources.count("activitynet"), sources.count("wikihow")) == (3243, 6799)
    whole = pd.read_csv(RESULTS / "hellaswag-whole-split" / "smollm2-135m-instruct" / "results.csv")
    assert set(whole["n_paired"].dropna()) == {len(sources)}


# results/README "HellaSwag's whole split": `data` 40 % on SmolLM2 by source, (value, Δ, low, high)
BY_SOURCE = {
    ("acc", "activitynet"): (0.335, -0.019, -0.031, -0.008),
    ("acc", "wikihow"): (0.260, -0.060, -0.068, -0.051),
    ("acc_norm", "activitynet"): (0.337, -0.036, -0.051, -0.021),
    ("acc_norm", "wikihow"): (0.274, -0.113, -0.124, -0.102),
}


def test_hellaswags_loss_by_source_is_recomputed_from_the_committed_documents():
    from glu_prune.evaluate.paired import paired_statistics

    sources = _hellaswag_sources()
    runs, documents_of = complete_runs(
        RESULTS / "hellaswag-whole-split" / "smollm2-135m-instruct" / "complete.json"
    )
    values = {
        run["identity"]["prune"] is None: {
            d["doc_id"]: d["values"] for d in read_documents(documents_of(run))
        }
        for run in runs
        if run["identity"]["prune"] is None or run["identity"]["prune"]["method"] == "data"
    }
    for (metric, source), expected in BY_SOURCE.items():
        ids = [i for i in sorted(values[True]) if sources[i] == source]
        stats = paired_statistics(
            [values[False][i][metric] for i in ids], [values[True][i][metric] for i in ids], "mean"
        )
        got = (stats["value"], stats["delta"], stats["delta_ci_low"], stats["delta_ci_high"])
        assert got == pytest.approx(expected, abs=5e-4), (metric, source)
