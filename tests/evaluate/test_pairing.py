"""Pairing task runs with their unpruned run through constructed per-document files: a group pools
its subtasks' documents, documents that differ are an error, a run without a partner is listed."""

from __future__ import annotations

import math

import pytest

from glu_prune.errors import UserError
from glu_prune.evaluate.documents import read_documents, write_documents
from glu_prune.evaluate.paired import PairedSettings
from glu_prune.evaluate.pairing import paired_columns

FAST = PairedSettings(n_resamples=500)
# a group "grp" of two subtasks; (subtask, doc_id) -> 0/1 outcome of the unpruned and the pruned model
BASE = {("grp_a", 0): 1, ("grp_a", 1): 1, ("grp_a", 2): 0, ("grp_b", 0): 1, ("grp_b", 1): 0}
PRUNED = {("grp_a", 0): 1, ("grp_a", 1): 0, ("grp_a", 2): 0, ("grp_b", 0): 0, ("grp_b", 1): 0}


def doc_rows(outcomes, prompt="p"):
    return [
        {
            "task": task,
            "doc_id": i,
            "filter": "none",
            "doc_hash": f"d{task}{i}",
            "prompt_hash": f"{prompt}{task}{i}",
            "values": {"acc": v},
        }
        for (task, i), v in sorted(outcomes.items())
    ]


def mean(outcomes, task=None):
    vals = [v for (t, _), v in outcomes.items() if task in (None, t)]
    return sum(vals) / len(vals)


def make_run(tmp_path, name, outcomes, prune=None, rows=None, **identity):
    info = write_documents(
        tmp_path / f"{name}.documents.jsonl.gz",
        doc_rows(outcomes) if rows is None else rows,
        {"grp_a": {"acc": "mean"}, "grp_b": {"acc": "mean"}},
    )
    metrics = [
        {
            "subtask": sub,
            "metric": "acc",
            "filter": "none",
            "value": mean(outcomes, None if sub == "grp" else sub),
        }
        for sub in ("grp", "grp_a", "grp_b")
    ]
    return {
        "checkpoint": name,
        "task": "grp",
        "model": "m",
        "data_source": "offline",
        "identity": {"task": "grp", "limit": 3, "prune": prune, **identity},
        "metrics": metrics,
        "lm_eval": {"group_subtasks": {"grp": ["grp_a", "grp_b"]}},
        "documents": info,
    }


def pair(tmp_path, runs):
    return paired_columns(runs, lambda r: tmp_path / r["documents"]["file"], FAST)


def test_a_group_pools_its_subtasks_documents_and_only_task_rows_are_adjusted(tmp_path):
    base = make_run(tmp_path, "base", BASE)
    pruned = make_run(tmp_path, "maw", PRUNED, prune={"method": "maw", "pct": 10})
    out, unpaired = pair(tmp_path, [base, pruned])
    assert not unpaired and set(out) == {("maw", s, "acc", "none") for s in ("grp", "grp_a", "grp_b")}
    group = out[("maw", "grp", "acc", "none")]
    assert group["n_paired"] == 5 and group["delta"] == pytest.approx(1 / 5 - 3 / 5)
    assert group["baseline_checkpoint"] == "base" and group["p_test"] == "mcnemar-exact"
    assert group["p_value"] == pytest.approx(0.5)  # 2 discordant pairs, both one way: 2 * (1/2)^2
    assert group["p_adjusted"] == pytest.approx(0.5)  # a family of one task-level row
    assert out[("maw", "grp_a", "acc", "none")]["n_paired"] == 3
    assert math.isnan(out[("maw", "grp_a", "acc", "none")]["p_adjusted"])  # subtasks are no family members
    assert read_documents(tmp_path / "maw.documents.jsonl.gz") == doc_rows(PRUNED)


def test_documents_that_differ_are_an_error(tmp_path):
    base = make_run(tmp_path, "base", BASE)
    other_prompt = make_run(
        tmp_path, "fewshot", PRUNED, prune={"method": "maw"}, rows=doc_rows(PRUNED, prompt="q")
    )
    with pytest.raises(UserError, match="differs .other prompt, few-shot"):
        pair(tmp_path, [base, other_prompt])
    fewer = {k: v for k, v in PRUNED.items() if k != ("grp_b", 1)}
    limited = make_run(tmp_path, "limited", fewer, prune={"method": "maw"})
    with pytest.raises(UserError, match="4 against 5 documents .* other limits or data"):
        pair(tmp_path, [base, limited])


def test_per_document_values_must_reproduce_the_stored_score(tmp_path):
    base = make_run(tmp_path, "base", BASE)
    pruned = make_run(tmp_path, "maw", PRUNED, prune={"method": "maw"})
    pruned["metrics"][1]["value"] = 0.9  # grp_a's score no longer matches its documents
    with pytest.raises(UserError, match="per-document values of maw give grp_a acc"):
        pair(tmp_path, [base, pruned])


def test_runs_without_a_partner_or_a_file_are_listed_with_the_reason(tmp_path):
    base = make_run(tmp_path, "base", BASE)
    other_limit = make_run(tmp_path, "maw20", PRUNED, prune={"method": "maw"}, limit_note="other")
    no_file = make_run(tmp_path, "maw10", PRUNED, prune={"method": "maw", "pct": 10})
    (tmp_path / no_file["documents"]["file"]).unlink()
    out, unpaired = pair(tmp_path, [base, other_limit, no_file])
    assert out == {}
    reasons = {u["checkpoint"]: u["reason"] for u in unpaired}
    assert reasons["maw20"] == "no unpruned run with the same settings"
    assert "maw10.documents.jsonl.gz is missing" in reasons["maw10"]


def test_aggregations_are_named_as_lm_eval_applies_them():
    from glu_prune.evaluate.documents import aggregations

    configs = {
        "boolq": {"metric_list": [{"metric": "acc"}]},  # no aggregation in the YAML: lm-eval's default
        "ifeval": {
            "metric_list": [
                {"metric": "inst_level_strict_acc", "aggregation": "def agg_inst_level_acc(items):\n"}
            ]
        },
        "wikipedia_ppl": {"metric_list": [{"metric": "bits_per_byte", "aggregation": "bits_per_byte"}]},
    }
    assert aggregations({"configs": configs}) == {
        "boolq": {"acc": "mean"},
        "ifeval": {"inst_level_strict_acc": "agg_inst_level_acc"},
        "wikipedia_ppl": {"bits_per_byte": "bits_per_byte"},
    }
