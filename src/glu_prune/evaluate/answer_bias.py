"""Answer bias on two-choice tasks, recomputed from the per-document values and the tasks' golds.

On a task with two answers, accuracy mixes skill with a preference for one answer: a model that
always says "yes" scores BoolQ's share of "yes" golds (0.625 on its first 1,000 validation
documents). With the gold, a document's 0/1 accuracy gives the answer the model chose, so each run
gets the share of documents it answered with the second choice, the recall on each gold, and their
mean, the balanced accuracy: 0.5 for any constant answer however the golds are balanced. Its 95 %
interval is the normal one from the two recalls' binomial variances (independent documents).

Golds come from lm-eval's own task over the data the run read (doc_to_target, or doc_to_text for a
task whose choices are contexts, as WinoGrande's), matched by doc_id and checked against the
document hash in the per-document file, so a row is never matched by position alone.
"""

from __future__ import annotations

import functools
import math

from ..errors import UserError
from ..prune.record import TABLE_COLUMNS, table_columns
from ..tasks import task_manager
from .documents import document_hash
from .pairing import complete_runs, document_loader

TASKS = ("boolq", "piqa", "winogrande")  # the two-choice tasks of the suites
METRICS = ("acc", "acc_norm")
Z95 = 1.959963984540054
COLUMNS = (
    *TABLE_COLUMNS,
    "data_source",
    "task",
    "metric",
    "filter",
    "documents",
    "choice_0",
    "choice_1",
    "gold_share_1",
    "answer_share_1",
    "recall_0",
    "recall_1",
    "value",
    "balanced_accuracy",
    "balanced_accuracy_stderr",
    "balanced_ci_low",
    "balanced_ci_high",
    "checkpoint",
)


@functools.cache  # each consolidated view of a study asks again
def golds(task: str, source: str = "offline") -> tuple[dict[str, int], tuple[str, str]]:
    """({document hash: index of its gold choice}, the two choices' names) of lm-eval's `task` over
    the data a run of that source read: the offline copy, or lm-eval's hub task."""
    try:
        t = task_manager(offline=source == "offline").load([task])["tasks"][task]
    except Exception as exc:  # no hub, no cache: say which data is missing
        raise UserError(f"{task} ({source} data) could not be loaded for its golds: {exc}") from None
    out, names = {}, set()
    for doc in t.eval_docs:
        choices = t.doc_to_choice(doc)
        if len(choices) != 2:
            raise UserError(f"{task} has a document with {len(choices)} choices, not 2")
        gold = t.doc_to_text(doc) if t.multiple_input else t.doc_to_target(doc)
        out[document_hash(doc)] = choices.index(gold) if isinstance(gold, str) else int(gold)
        names.add(tuple(choices))
    fixed = names.pop() if len(names) == 1 else ("first", "second")  # BoolQ: ("no", "yes")
    return out, fixed


def bias_row(answers_right: list[float], gold: list[int]) -> dict:
    """The bias columns of one run's documents (0/1 accuracy and gold index per document)."""
    n = len(gold)
    by_gold = {g: [a for a, h in zip(answers_right, gold, strict=True) if h == g] for g in (0, 1)}
    if not by_gold[0] or not by_gold[1]:
        raise UserError(f"balanced accuracy needs documents of both golds; these {n} have one")
    recall = {g: sum(v) / len(v) for g, v in by_gold.items()}
    said_1 = sum((a == 1) == (h == 1) for a, h in zip(answers_right, gold, strict=True))
    balanced = (recall[0] + recall[1]) / 2
    stderr = math.sqrt(sum(r * (1 - r) / len(by_gold[g]) for g, r in recall.items())) / 2
    return {
        "documents": n,
        "gold_share_1": len(by_gold[1]) / n,
        "answer_share_1": said_1 / n,
        "recall_0": recall[0],
        "recall_1": recall[1],
        "value": sum(answers_right) / n,
        "balanced_accuracy": balanced,
        "balanced_accuracy_stderr": stderr,
        "balanced_ci_low": balanced - Z95 * stderr,
        "balanced_ci_high": balanced + Z95 * stderr,
    }


def answer_bias_table(runs: list[dict], documents_of):
    """The tidy table (COLUMNS) of the two-choice task runs among `runs`: per metric and filter,
    the share of each answer and the balanced accuracy. Empty when there is none; runs without
    usable per-document values are left out (consolidation lists them with the reason).

    Raises:
        UserError: a task's data that cannot be loaded, or a document not in it.
    """
    import pandas as pd

    load = document_loader(documents_of)
    runs = [r for r in runs if r.get("task") in TASKS and not isinstance(load(r), str)]
    data = {key: golds(*key) for key in {(r["task"], r["data_source"]) for r in runs}}  # loaded once each
    rows = []
    for run in runs:
        gold_of, names = data[(run["task"], run["data_source"])]
        docs = sorted(load(run).values(), key=lambda d: (d["filter"], d["doc_id"]))
        head = {**table_columns(run["model"], run["pruning"]), "data_source": run["data_source"]}
        for metric in METRICS:
            for flt in sorted({d["filter"] for d in docs if metric in d["values"]}):
                mine = [d for d in docs if d["filter"] == flt and metric in d["values"]]
                missing = [d["doc_id"] for d in mine if d["doc_hash"] not in gold_of]
                if missing:
                    raise UserError(
                        f"run {run['checkpoint']}: {run['task']} document #{missing[0]} is not in "
                        f"the task's {run['data_source']} data (a damaged or foreign per-document file)"
                    )
                gold = [gold_of[d["doc_hash"]] for d in mine]
                right = [d["values"][metric] for d in mine]
                row = {**head, "task": run["task"], "metric": metric, "filter": flt}
                row |= {"choice_0": names[0], "choice_1": names[1], **bias_row(right, gold)}
                rows.append({**row, "checkpoint": run["checkpoint"]})
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    order = ["model", "task", "metric", "filter", "pruning_pct", "method", "seed"]
    return table.sort_values(order, kind="stable").reset_index(drop=True) if rows else table


def answer_bias(complete_json):
    """answer_bias_table of the runs of a consolidated complete JSON (its `*_documents/` beside it)."""
    return answer_bias_table(*complete_runs(complete_json))
