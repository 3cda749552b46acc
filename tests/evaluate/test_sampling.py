"""Drawn samples: the same documents everywhere, nested by size, in their own checkpoints, and run
by lm-eval under their indices in the split, so they pair with a whole-split run document by document."""

from __future__ import annotations

from pathlib import Path

import pytest

from glu_prune.cli import main
from glu_prune.evaluate import EvalSettings, TaskSpec, run_robust_evaluation, task_identity
from glu_prune.evaluate.documents import read_documents
from glu_prune.evaluate.pairing import complete_runs
from glu_prune.evaluate.sampling import draw_samples, drawn
from glu_prune.models import ModelSpec
from glu_prune.store import identity_key

WHOLE = Path(__file__).parents[2] / "results" / "hellaswag-whole-split" / "smollm2-135m-instruct"
DRAWN = Path(__file__).parents[2] / "results" / "hellaswag-drawn-sample"


def config(identity):
    prune = identity["prune"] or {}
    return prune.get("method"), prune.get("pct")


def committed_runs(complete_json):
    """{(method, pct): (identity, {doc_id: per-document row})} of a committed complete.json."""
    runs, documents_of = complete_runs(complete_json)
    out = {
        config(run["identity"]): (
            run["identity"],
            {d["doc_id"]: d for d in read_documents(documents_of(run))},
        )
        for run in runs
    }
    assert len(out) == len(runs), "two runs of one configuration"
    return out


def scored_alike(row, other):
    """The same document, the same prompt, the same per-document values."""
    keys = ("doc_hash", "prompt_hash", "values")
    return [row[k] for k in keys] == [other[k] for k in keys]


def test_a_draw_is_fixed_sorted_and_nested():
    # pinned: a drawn sample's documents follow from its seed alone, on any machine and version
    assert drawn("hellaswag", 10042, 8, 0) == [442, 1431, 1850, 1926, 2957, 6661, 7621, 8996]
    small, large = drawn("hellaswag", 10042, 50, 0), drawn("hellaswag", 10042, 100, 0)
    assert set(small) < set(large) and large == sorted(set(large)) and len(large) == 100
    assert drawn("hellaswag", 10042, 50, 1) != small and drawn("piqa", 10042, 50, 0) != small
    assert drawn("boolq", 5, 10, 0) == [0, 1, 2, 3, 4]  # more than the split: all of it


def test_a_group_draws_from_each_subtask():
    samples = draw_samples("mmlu", 2, 0, offline=True)
    assert len(samples) == 57 and all(name.startswith("mmlu_") for name in samples)
    assert all(len(indices) == 2 and indices == sorted(indices) for indices in samples.values())


def test_a_drawn_sample_has_its_own_identity_and_the_first_documents_keep_theirs():
    task, first = TaskSpec("hellaswag"), EvalSettings(offline=True, limit=100)
    plain = task_identity(ModelSpec("default"), None, task, first)
    assert "sample_seed" not in plain  # identities from before drawn samples are unchanged
    keys = {
        identity_key(
            task_identity(ModelSpec("default"), None, task, EvalSettings(offline=True, limit=100, **s))
        )
        for s in ({}, {"sample_seed": 0}, {"sample_seed": 1})
    }
    assert len(keys) == 3


@pytest.mark.parametrize("args", [["--sample-seed", "0"], ["--limit", "5", "--sample-seed", "-1"]])
def test_a_sample_seed_needs_a_limit(args, capsys, tmp_path):
    code = main(["evaluate", "--offline", "--tasks", "piqa", "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--sample-seed" in err, err


@pytest.mark.slow
def test_drawn_documents_are_the_whole_splits_at_their_indices(tmp_path, embedded_dir):
    """SmolLM2 on 6 drawn HellaSwag documents gives the committed whole-split run's documents,
    prompts and answers at the drawn indices (same settings but the sample)."""
    settings = EvalSettings(offline=True, limit=6, sample_seed=0, chat_template=True)
    status = run_robust_evaluation(ModelSpec("default"), [None], [TaskSpec("hellaswag")], tmp_path, settings)
    assert status.complete
    [record] = status.records
    drawn_docs = {
        r["doc_id"]: r for r in read_documents(tmp_path / "checkpoints" / record["documents"]["file"])
    }
    assert sorted(drawn_docs) == drawn("hellaswag", 10042, 6, 0)

    whole_identity, whole = committed_runs(WHOLE / "complete.json")[(None, None)]
    mine = {
        k: v for k, v in record["identity"].items() if k not in ("limit", "limit_per_subtask", "sample_seed")
    }
    assert mine == {k: v for k, v in whole_identity.items() if k not in ("limit", "limit_per_subtask")}
    for doc_id, row in drawn_docs.items():
        assert scored_alike(row, whole[doc_id]), doc_id


@pytest.mark.parametrize(
    "model, configs",
    [
        ("smollm2-135m-instruct", {("data", 10), ("data", 40), ("maw", 10), ("maw", 40)}),
        ("gemma-3-270m", {("data", 25), ("data", 50), ("maw", 50)}),
    ],
)
def test_the_committed_drawn_sample_is_its_draw(model, configs):
    """results/README "HellaSwag drawn at random": every run (unpruned and the pruned `configs`)
    scored the 3,000 documents seed 0 draws; SmolLM2's answers there are its whole-split answers at
    the same indices (the whole split has its unpruned and `data` 40 % runs)."""
    runs = committed_runs(DRAWN / model / "complete.json")
    assert set(runs) == {(None, None), *configs}
    whole = committed_runs(WHOLE / "complete.json") if model == "smollm2-135m-instruct" else {}
    assert not whole or {(None, None), ("data", 40)} <= set(whole)
    draw = drawn("hellaswag", 10042, 3000, 0)
    for key, (identity, rows) in runs.items():
        assert (identity["limit"], identity["sample_seed"]) == (3000, 0)
        assert list(rows) == draw
        for doc_id, row in rows.items() if key in whole else ():
            assert scored_alike(row, whole[key][1][doc_id]), (key, doc_id)
