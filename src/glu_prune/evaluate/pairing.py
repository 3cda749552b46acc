"""Which task runs pair with which, and the paired columns of the tidy table.

A pruned run pairs with the unpruned run whose identity is the same in everything but the pruning
(model, dtype, task and its files, few-shot, limit, chat template, package versions, ...). Their
per-document files must then hold the same documents with the same prompts; anything else is an
error, never a silent mismatch. A group's row (mmlu) pools the documents of its subtasks, which is
lm-eval's own aggregate when the group weighs by size; the per-document values must reproduce every
stored score, or the pairing stops with an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path

from ..errors import UserError
from ..store import identity_key
from .documents import documents_problem, read_documents
from .paired import AGGREGATIONS, DEFAULT_PAIRED, PairedSettings, adjust_within_families, paired_statistics

PAIRED_COLUMNS = (
    "baseline_checkpoint",
    "n_paired",
    "delta",
    "delta_stderr",
    "delta_ci_low",
    "delta_ci_high",
    "ratio",
    "ratio_stderr",
    "ratio_ci_low",
    "ratio_ci_high",
    "p_value",
    "p_test",
    "p_adjusted",
)
FAMILY = "the task-level rows (subtask == task) of one model and data source in one consolidated table"
REL_TOLERANCE = 1e-6  # per-document values reproduce lm-eval's score up to summation order
_CACHE: dict = {}  # (file hashes, row, settings) -> statistics: views of one study share their pairs


def is_unpruned(identity: dict) -> bool:
    return identity.get("prune") is None and "pruned_dir" not in identity


def pair_key(identity: dict) -> str:
    return identity_key({k: v for k, v in identity.items() if k != "prune"})


def leaves(run: dict, task: str) -> list[str]:
    """The tasks whose documents make up `task`'s score (itself, or a group's subtasks)."""
    children = (run.get("lm_eval") or {}).get("group_subtasks") or {}
    if not children.get(task):
        return [task]
    return [leaf for child in children[task] for leaf in leaves(run, child)]


def _index(rows: list[dict]) -> dict:
    return {(r["task"], r["filter"], r["doc_id"]): r for r in rows}


def row_keys(run, metric, docs) -> list[tuple]:
    """The (task, filter, doc_id) of one tidy row's documents in `docs`, sorted."""
    tasks = leaves(run, metric["subtask"])
    return sorted(
        k
        for k, r in docs.items()
        if k[0] in tasks and k[1] == metric["filter"] and metric["metric"] in r["values"]
    )


def aligned(run, base, metric, docs, base_docs) -> tuple[list, list, str | None]:
    """(pruned values, unpruned values, aggregation) of one tidy row's documents, in one order."""
    tasks = leaves(run, metric["subtask"])
    names = {(run["documents"]["aggregation"].get(t) or {}).get(metric["metric"]) for t in tasks}
    keys, base_keys = row_keys(run, metric, docs), row_keys(run, metric, base_docs)
    if keys != base_keys:
        differ = sorted(set(keys) ^ set(base_keys))
        raise UserError(
            f"cannot pair {run['checkpoint']} with {base['checkpoint']} on {metric['subtask']} "
            f"{metric['metric']}: {len(keys)} against {len(base_keys)} documents (e.g. {differ[0]} is "
            "in one only): other limits or data"
        )
    for k in keys:
        a, b = docs[k], base_docs[k]
        if (a["prompt_hash"], a["doc_hash"]) != (b["prompt_hash"], b["doc_hash"]):
            raise UserError(
                f"cannot pair {run['checkpoint']} with {base['checkpoint']}: document {k[0]} #{k[2]} "
                "differs (other prompt, few-shot examples or data)"
            )
    name = names.pop() if len(names) == 1 else None
    m = metric["metric"]
    return [docs[k]["values"][m] for k in keys], [base_docs[k]["values"][m] for k in keys], name


def _check_reproduced(run, metric, got: float, what: str) -> None:
    want = metric["value"]
    if want is None or not math.isclose(got, want, rel_tol=REL_TOLERANCE, abs_tol=1e-12):
        raise UserError(
            f"the per-document values of {run['checkpoint']} give {metric['subtask']} {metric['metric']} "
            f"= {got!r}, its {what} record says {want!r}: a damaged or foreign per-document file"
        )


def same_row(other: dict, metric: dict) -> dict | None:
    """The other run's row of the same subtask, metric and filter."""
    key = (metric["subtask"], metric["metric"], metric["filter"])
    return next((m for m in other["metrics"] if (m["subtask"], m["metric"], m["filter"]) == key), None)


def pairable(run, other, metric, docs, other_docs, who: str = "the unpruned run") -> tuple | str:
    """(run's values, other's values, aggregation) of one tidy row on the same documents, or the
    reason they cannot be compared. Raises UserError when the documents differ (aligned)."""
    if same_row(other, metric) is None:
        return f"{who} has no such metric"
    x, y, name = aligned(run, other, metric, docs, other_docs)
    if not x:
        return "no per-document values for this metric"
    if name not in AGGREGATIONS:
        return f"no paired statistic for aggregation {name!r}"
    return x, y, name


def compare_metric(run, base, metric, docs, base_docs, settings: PairedSettings) -> dict | str:
    """The paired columns of one tidy row, or the reason there are none."""
    values = pairable(run, base, metric, docs, base_docs)
    if isinstance(values, str):
        return values
    x, y, name = values
    key = (run["documents"]["sha256"], base["documents"]["sha256"], metric["subtask"], metric["metric"])
    key += (metric["filter"], astuple(settings))
    if key not in _CACHE:
        _CACHE[key] = paired_statistics(x, y, name, settings)
    stats = _CACHE[key]
    group = leaves(run, metric["subtask"]) != [metric["subtask"]]
    want = metric["value"] if metric["value"] is not None else math.nan
    if group and not math.isclose(stats["value"], want, rel_tol=REL_TOLERANCE, abs_tol=1e-12):
        return "the group's score is not the pooled score of its documents (not weighted by size)"
    _check_reproduced(run, metric, stats["value"], "pruned")
    _check_reproduced(base, same_row(base, metric), stats["baseline_value"], "unpruned")
    return {k: stats[k] for k in PAIRED_COLUMNS if k in stats} | {"baseline_checkpoint": base["checkpoint"]}


def document_loader(documents_of: Callable[[dict], Path | None]) -> Callable[[dict], dict | str]:
    """run -> its per-document values by (task, filter, doc_id), or why there are none; each file
    is read and checked once."""
    loaded: dict[str, dict | str] = {}

    def docs(run):
        if run["checkpoint"] not in loaded:
            path = documents_of(run)
            problem = (
                "no per-document file" if path is None else documents_problem(path, run.get("documents"))
            )
            loaded[run["checkpoint"]] = problem or _index(read_documents(path))
        return loaded[run["checkpoint"]]

    return docs


def complete_runs(complete_json) -> tuple[list[dict], Callable[[dict], Path | None]]:
    """(runs, run -> its per-document file) of a consolidated complete JSON, `*_documents/` beside it."""
    import json

    complete_json = Path(complete_json)
    complete = json.loads(complete_json.read_text(encoding="utf-8"))
    files = (complete.get("documents") or {}).get("files") or {}

    def documents_of(run):
        name = files.get(run["checkpoint"])
        return None if name is None else complete_json.parent / name

    return complete.get("runs", []), documents_of


def paired_columns(
    runs: list[dict],
    documents_of: Callable[[dict], Path | None],
    settings: PairedSettings = DEFAULT_PAIRED,
) -> tuple[dict, list[dict]]:
    """({(checkpoint, subtask, metric, filter): paired columns}, [runs or rows without them, and why]).

    p_adjusted is adjusted over FAMILY. Raises UserError when paired documents differ.
    """
    bases = {pair_key(r["identity"]): r for r in runs if is_unpruned(r["identity"])}
    docs = document_loader(documents_of)
    out, unpaired = {}, []
    for run in runs:
        if run["identity"].get("prune") is None:
            continue
        base = bases.get(pair_key(run["identity"]))
        where = {"checkpoint": run["checkpoint"], "task": run["task"]}
        if base is None:
            unpaired.append({**where, "reason": "no unpruned run with the same settings"})
            continue
        mine, theirs = docs(run), docs(base)
        if isinstance(mine, str) or isinstance(theirs, str):
            why = mine if isinstance(mine, str) else f"its unpruned run {base['checkpoint']}: {theirs}"
            unpaired.append({**where, "reason": why})
            continue
        for metric in run["metrics"]:
            cols = compare_metric(run, base, metric, mine, theirs, settings)
            row = (run["checkpoint"], metric["subtask"], metric["metric"], metric["filter"])
            if isinstance(cols, str):
                unpaired.append(
                    {**where, "subtask": metric["subtask"], "metric": metric["metric"], "reason": cols}
                )
            else:
                out[row] = cols
    _adjust(out, runs, settings)
    return out, unpaired


def _adjust(out: dict, runs: list[dict], settings: PairedSettings) -> None:
    """p_adjusted over FAMILY; other rows keep their p_value and no p_adjusted."""
    family_of = {r["checkpoint"]: (r["model"], r["data_source"]) for r in runs}
    task_of = {r["checkpoint"]: r["task"] for r in runs}
    keys = list(out)
    families = [family_of[k[0]] if k[1] == task_of[k[0]] else None for k in keys]
    adjusted = adjust_within_families([out[k]["p_value"] for k in keys], families, settings.correction)
    for key, p in zip(keys, adjusted, strict=True):
        out[key]["p_adjusted"] = p
