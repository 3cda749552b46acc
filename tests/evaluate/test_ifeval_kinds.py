"""IFEval by kind of instruction: real IFEval prompts (the offline copy) found by lm-eval's document
hash, constructed per-document values, and the committed study's own files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from task_runs import complete_json, task_run

from glu_prune.errors import UserError
from glu_prune.evaluate import consolidate, ifeval_kinds
from glu_prune.evaluate.documents import document_hash
from glu_prune.evaluate.ifeval_kinds import (
    KIND_OF,
    KINDS,
    instruction_kinds,
    kind_of,
)
from glu_prune.evaluate.paired import PairedSettings
from glu_prune.report.figures import draw_figures
from glu_prune.report.results import load_results
from glu_prune.tasks.sources import ifeval

FAST = PairedSettings(n_resamples=300)
PROMPTS = 40
STUDY = Path(__file__).parents[2] / "results" / "full-study" / "smollm2-135m-instruct_offline_complete.json"


@pytest.fixture(scope="module")
def docs():
    return [dict(d) for d in ifeval()["train"]]


def outcomes(docs, rule):
    """Per prompt, one 0/1 per instruction: rule(instruction id, position in the data) -> 0/1."""
    return [[rule(i, n) for i in d["instruction_id_list"]] for n, d in enumerate(docs[:PROMPTS])]


def run_record(tmp_path, docs, name, values, prune=None, stored=None):
    rows = [
        {
            "task": "ifeval",
            "doc_id": n,
            "filter": "none",
            "doc_hash": document_hash(d),
            "prompt_hash": f"p{n}",
            "values": {"inst_level_strict_acc": v, "inst_level_loose_acc": v},
        }
        for n, (d, v) in enumerate(zip(docs, values, strict=False))
    ]
    score = sum(map(sum, values)) / sum(map(len, values)) if stored is None else stored
    metrics = [{"subtask": "ifeval", "metric": "inst_level_strict_acc", "filter": "none", "value": score}]
    return task_run(tmp_path / "X_documents", name, "ifeval", rows, prune, metrics)


def test_every_instruction_of_the_ifeval_data_has_one_kind(docs):
    ids = {i for d in docs for i in d["instruction_id_list"]}
    assert ids == set(KIND_OF)  # all 25, none left over
    assert sum(len(i) for _, i in KINDS.values()) == len(KIND_OF)  # no id in two kinds


def test_kinds_count_the_instructions_and_pair_them_over_prompts(tmp_path, docs):
    base = outcomes(docs, lambda i, n: int(KIND_OF[i] == "action" or n % 2 == 0))
    pruned = outcomes(docs, lambda i, n: int(KIND_OF[i] == "omission"))  # only omissions "followed"
    runs = [run_record(tmp_path, docs, "base", base), run_record(tmp_path, docs, "p40", pruned, prune=40)]
    table = instruction_kinds(complete_json(tmp_path, runs), settings=FAST)
    strict = table[table["metric"] == "inst_level_strict_acc"].set_index(["checkpoint", "kind"])
    ids = [i for d in docs[:PROMPTS] for i in d["instruction_id_list"]]
    for kind in KINDS:
        n = sum(KIND_OF[i] == kind for i in ids)
        row, base_row = strict.loc[("p40", kind)], strict.loc[("base", kind)]
        assert row["instructions"] == base_row["instructions"] == n
        assert row["followed"] == (n if kind == "omission" else 0)
        assert row["delta"] == pytest.approx(row["value"] - base_row["value"])
        assert row["delta_ci_low"] <= row["delta"] <= row["delta_ci_high"]
        assert row["baseline_checkpoint"] == "base" and 0 <= row["p_adjusted"] <= 1
        assert base_row[["delta", "p_value"]].isna().all()  # the unpruned row: values only
    assert strict.loc[("p40", "action"), "delta"] == -1.0 and strict.loc[("p40", "action"), "p_value"] < 0.01
    assert strict["instructions"].sum() == 2 * len(ids)  # the kinds partition each run's instructions


def test_runs_without_usable_documents_are_left_to_consolidation_to_report(tmp_path, docs):
    values = outcomes(docs, lambda i, n: n % 3 == 0)
    runs = [run_record(tmp_path, docs, "base", values), run_record(tmp_path, docs, "p20", values, prune=20)]
    path = complete_json(tmp_path, runs)
    (tmp_path / "X_documents" / "base.jsonl.gz").unlink()  # the unpruned run's file: gone
    table = instruction_kinds(path, settings=FAST)
    assert set(table["checkpoint"]) == {"p20"} and table["delta"].isna().all()  # no partner to pair
    piqa = tmp_path / "piqa.json"
    piqa.write_text(json.dumps({"documents": {}, "runs": [{"task": "piqa", "checkpoint": "c"}]}))
    assert instruction_kinds(piqa).empty


def test_consolidation_keeps_its_tables_when_the_ifeval_data_cannot_be_read(tmp_path, docs, monkeypatch):
    values = outcomes(docs, lambda i, n: 1)
    run = run_record(tmp_path, docs, "base", values)
    sources = {"base": tmp_path / "X_documents" / "base.jsonl.gz"}

    def no_data(source, docs=None):
        raise UserError("google/IFEval (the hub runs' data) could not be loaded: offline")

    monkeypatch.setattr(ifeval_kinds, "instruction_ids", no_data)
    with pytest.warns(UserWarning, match="no IFEval kinds table"):
        said = consolidate._derived([run], sources, FAST, tmp_path / "X_results.csv")
    assert said["ifeval_kinds"] == {
        "error": "google/IFEval (the hub runs' data) could not be loaded: offline",
        "file": None,
    }
    assert not (tmp_path / "X_ifeval_kinds.csv").exists() and said["contrasts"]["file"] is None


def test_an_instruction_no_kind_names_is_an_error():
    with pytest.raises(UserError, match="has no kind"):
        kind_of("new:instruction")


@pytest.mark.parametrize(
    "damage, message",
    [
        ("foreign document", "not in the given IFEval data"),
        ("short list", "values for"),
        ("other score", "is not its stored score"),
    ],
)
def test_values_that_do_not_fit_their_prompts_are_an_error(tmp_path, docs, damage, message):
    values = outcomes(docs, lambda i, n: 1)
    if damage == "short list":  # one prompt with an instruction's value missing
        values[3] = values[3][:-1] if len(values[3]) > 1 else [1, 1]
    run = run_record(tmp_path, docs, "base", values, stored=0.5 if damage == "other score" else None)
    path = complete_json(tmp_path, [run])
    with pytest.raises(UserError, match=message):
        instruction_kinds(path, docs=docs[1:] if damage == "foreign document" else None, settings=FAST)


@pytest.mark.skipif(not STUDY.is_file(), reason="the committed study's results are not in this checkout")
def test_the_committed_ifeval_runs_split_into_kinds_that_reproduce_their_scores():
    table = instruction_kinds(STUDY, settings=FAST)  # raises if a kind split misses a stored score
    strict = table[table["metric"] == "inst_level_strict_acc"]
    totals = strict.groupby("checkpoint")["instructions"].sum()
    assert totals.nunique() == 1 and len(totals) >= 2  # every run: the same instructions
    assert set(strict["kind"]) == set(KINDS) and strict["delta"].notna().sum() == len(strict) - 3


def test_the_written_table_is_read_back_and_drawn(tmp_path, docs):
    base = outcomes(docs, lambda i, n: int(n % 2 == 0))
    pruned = outcomes(docs, lambda i, n: int(KIND_OF[i] == "omission"))
    runs = [run_record(tmp_path, docs, "base", base), run_record(tmp_path, docs, "p40", pruned, prune=40)]
    written = tmp_path / "X_ifeval_kinds.csv"
    instruction_kinds(complete_json(tmp_path, runs), settings=FAST).to_csv(written, index=False)
    rs = load_results(tmp_path)
    assert rs.sources["ifeval_kinds"] == [str(written)]
    assert len(rs.ifeval_kinds) == 2 * 2 * len(KINDS)  # runs x metrics x kinds
    report = draw_figures(rs, tmp_path / "figures")
    assert [p.name for p in report.written] == ["ifeval_kinds_m_offline.png"]
    assert report.written[0].stat().st_size > 10_000
