"""Answer bias on two-choice tasks: the arithmetic, real BoolQ and WinoGrande golds found by lm-eval's
document hash, constructed per-document values, and the committed study's own files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from task_runs import complete_json, task_run

from glu_prune.errors import UserError
from glu_prune.evaluate import answer_bias
from glu_prune.evaluate.answer_bias import bias_row, golds
from glu_prune.evaluate.documents import document_hash, write_documents
from glu_prune.tasks import task_manager

DOCS = 60
STUDY = Path(__file__).parents[2] / "results" / "full-study"


def test_a_constant_answer_has_balanced_accuracy_one_half():
    gold = [1] * 70 + [0] * 30
    always_yes = bias_row([float(g == 1) for g in gold], gold)
    assert always_yes["value"] == 0.7 and always_yes["answer_share_1"] == 1.0
    assert always_yes["balanced_accuracy"] == 0.5 and always_yes["balanced_accuracy_stderr"] == 0.0
    always_no = bias_row([float(g == 0) for g in gold], gold)
    assert always_no["answer_share_1"] == 0.0 and always_no["balanced_accuracy"] == 0.5
    # right on 60 of 70 "yes" and 15 of 30 "no" documents
    right = [1.0] * 60 + [0.0] * 10 + [1.0] * 15 + [0.0] * 15
    row = bias_row(right, gold)
    assert row["recall_1"] == pytest.approx(60 / 70) and row["recall_0"] == 0.5
    assert row["answer_share_1"] == pytest.approx((60 + 15) / 100)  # right on yes, wrong on no
    stderr = math.sqrt((60 / 70) * (10 / 70) / 70 + 0.25 / 30) / 2
    assert row["balanced_accuracy_stderr"] == pytest.approx(stderr)
    assert row["balanced_ci_low"] == pytest.approx(row["balanced_accuracy"] - 1.959964 * stderr)
    with pytest.raises(UserError, match="both golds"):
        bias_row([1.0, 0.0], [1, 1])


def run_record(tmp_path, task, docs, right, prune=None):
    rows = [
        {
            "task": task,
            "doc_id": n,
            "filter": "none",
            "doc_hash": document_hash(d),
            "prompt_hash": f"p{n}",
            "values": {"acc": r},
        }
        for n, (d, r) in enumerate(zip(docs, right, strict=True))
    ]
    metrics = [{"subtask": task, "metric": "acc", "filter": "none", "value": sum(right) / len(right)}]
    return task_run(tmp_path / "X_documents", f"{task}-{prune or 0}", task, rows, prune, metrics)


def test_real_golds_give_each_runs_answers(tmp_path):
    tasks = task_manager(offline=True).load(["boolq", "winogrande"])["tasks"]
    boolq, wino = (list(tasks[t].eval_docs)[:DOCS] for t in ("boolq", "winogrande"))
    gold, names = golds("boolq")
    assert names == ("no", "yes") and gold[document_hash(boolq[0])] == boolq[0]["label"]
    wino_gold, wino_names = golds("winogrande")
    assert wino_names == ("first", "second")  # its choices are the two filled-in sentences
    assert [wino_gold[document_hash(d)] for d in wino[:8]] == [int(d["answer"]) - 1 for d in wino[:8]]
    says_yes = [float(d["label"] == 1) for d in boolq]  # right exactly where the gold is "yes"
    first = [float(wino_gold[document_hash(d)] == 0) for d in wino]  # always the first option
    runs = [
        run_record(tmp_path, "boolq", boolq, says_yes),
        run_record(tmp_path, "winogrande", wino, first, 40),
    ]
    path = complete_json(tmp_path, runs)
    table = answer_bias(path).set_index("task")
    assert table.loc["boolq", "answer_share_1"] == 1.0 and table.loc["boolq", "balanced_accuracy"] == 0.5
    assert table.loc["boolq", "value"] == pytest.approx(table.loc["boolq", "gold_share_1"])
    assert table.loc["winogrande", "answer_share_1"] == 0.0 and table.loc["winogrande", "pruning_pct"] == 40
    assert table.loc["boolq", "choice_1"] == "yes" and len(table) == 2
    runs[0]["documents"] = write_documents(  # a document that is not in BoolQ
        tmp_path / "X_documents" / "boolq-0.jsonl.gz",
        [
            {
                "task": "boolq",
                "doc_id": 0,
                "filter": "none",
                "doc_hash": "0" * 16,
                "prompt_hash": "p",
                "values": {"acc": 1},
            }
        ],
        {"boolq": {}},
    )
    complete_json(tmp_path, runs)
    with pytest.raises(UserError, match="not in the task's offline data"):
        answer_bias(path)


@pytest.mark.parametrize(
    "complete",
    [
        STUDY / "smollm2-135m-instruct_offline_complete.json",
        STUDY / "gemma-3-270m_offline_complete.json",
        STUDY.parent / "boolq-whole-split" / "smollm2-135m-instruct" / "complete.json",
        STUDY.parent / "boolq-whole-split" / "gemma-3-270m" / "complete.json",
    ],
    ids=lambda p: p.relative_to(STUDY.parent).as_posix(),
)
def test_the_committed_boolq_runs_answer_no_better_than_a_constant(complete):
    """README finding 2 and results/README: BoolQ accuracy here is answer bias (balanced accuracy
    0.45-0.53, every interval's upper end within 0.06 of a constant answer's 0.5), on the study's
    first 1,000 documents and on the whole split."""
    table = answer_bias(complete)
    stored = {
        (r["checkpoint"], m["metric"]): m["value"]
        for r in json.loads(complete.read_text())["runs"]
        for m in r["metrics"]
        if m["subtask"] == r["task"] and m["filter"] == "none"
    }
    for row in table.itertuples():
        assert row.value == pytest.approx(stored[(row.checkpoint, row.metric)])  # the runs' own scores
    boolq = table[table["task"] == "boolq"]
    assert len(boolq) >= 5 and boolq["balanced_accuracy"].between(0.45, 0.53).all()
    assert (boolq["balanced_ci_high"] < 0.56).all()


def test_the_figure_is_drawn_from_the_table_file(tmp_path):
    from glu_prune.report.fig_answer_bias import answer_bias_figure
    from glu_prune.report.figures import draw_figures

    table = answer_bias(STUDY / "gemma-3-270m_offline_complete.json")
    table.to_csv(tmp_path / "gemma-3-270m_offline_answer_bias.csv", index=False)
    report = draw_figures(tmp_path)
    assert [p.name for p in report.written] == ["answer_bias_gemma-3-270m_offline.png"]
    manifest = json.loads((tmp_path / "figures" / "figures.json").read_text())
    assert manifest["inputs"]["answer_bias"] and not manifest["inputs"]["ignored"]
    assert (
        answer_bias_figure(table[table["metric"] == "acc_norm"].assign(task="boolq"), tmp_path / "x.png")
        is None
    )
