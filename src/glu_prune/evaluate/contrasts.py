"""Selection methods against a reference method at the same pruning level, on the same documents.

Two methods' differences to the unpruned model each carry an interval, but whether one method beats
another is a question about their own difference: paired over the documents both answered, its
interval is much tighter than the two unpruned-model intervals side by side. The reference is the
original study's method (MAW) unless told otherwise. A run pairs with the reference run whose
identity is the same in everything but the selection method, its seed and calibration settings: the
same model, task, data, limit, level (percentage or target ratio), divisor and layers. Only the
tasks' own rows are compared (not subtasks'), adjusted (Benjamini-Hochberg) over the rows of one
model and data source.
"""

from __future__ import annotations

from ..prune.record import TABLE_COLUMNS, table_columns
from ..store import identity_key
from .paired import DEFAULT_PAIRED, PairedSettings, adjust_within_families, paired_statistics
from .pairing import document_loader, is_unpruned, pairable

REFERENCE = "maw"
LEVEL_KEYS = ("pct", "expansion_ratio", "divisor", "layers")  # what makes two configs one level
STATISTICS = (
    "n_paired",
    "value",
    "delta",
    "delta_stderr",
    "delta_ci_low",
    "delta_ci_high",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "p_value",
    "p_test",
)
COLUMNS = (
    *TABLE_COLUMNS,
    "data_source",
    "task",
    "metric",
    "filter",
    "higher_is_better",
    "reference_method",
    "reference_value",
    *STATISTICS,
    "p_adjusted",
    "checkpoint",
    "reference_checkpoint",
)


def level_key(identity: dict) -> str:
    """Everything of a run's identity but its selection method (and the method's own settings)."""
    prune = identity["prune"]
    rest = {k: v for k, v in identity.items() if k != "prune"}
    return identity_key({**rest, "level": {k: prune.get(k) for k in LEVEL_KEYS}})


def method_contrasts(runs: list[dict], documents_of, reference: str = REFERENCE, settings=DEFAULT_PAIRED):
    """(table of COLUMNS, [(checkpoint, task, metric, why) left out]): every pruned run of another
    method against the `reference` run of its level; empty when no level has both.

    Raises:
        UserError: paired runs whose documents differ (pairing.aligned).
    """
    import pandas as pd

    refs = {
        level_key(r["identity"]): r
        for r in runs
        if not is_unpruned(r["identity"]) and r["identity"]["prune"]["method"] == reference
    }
    docs = document_loader(documents_of)
    rows, left_out = [], []
    for run in runs:
        if is_unpruned(run["identity"]) or run["identity"]["prune"]["method"] == reference:
            continue
        ref = refs.get(level_key(run["identity"]))
        if ref is None:
            continue
        mine, theirs = docs(run), docs(ref)
        head = {**table_columns(run["model"], run["pruning"]), "data_source": run["data_source"]}
        for metric in (m for m in run["metrics"] if m["subtask"] == run["task"]):
            where = (run["checkpoint"], run["task"], metric["metric"])
            if isinstance(mine, str) or isinstance(theirs, str):
                left_out.append((*where, mine if isinstance(mine, str) else f"its reference: {theirs}"))
                continue
            stats = _contrast(run, ref, metric, mine, theirs, settings)
            if isinstance(stats, str):
                left_out.append((*where, stats))
                continue
            rows.append(
                {
                    **head,
                    "task": run["task"],
                    "metric": metric["metric"],
                    "filter": metric["filter"],
                    "higher_is_better": metric.get("higher_is_better"),
                    "reference_method": reference,
                    "reference_value": stats["baseline_value"],
                    **{k: stats[k] for k in STATISTICS},
                    "checkpoint": run["checkpoint"],
                    "reference_checkpoint": ref["checkpoint"],
                }
            )
    _adjust(rows, settings)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    order = ["model", "task", "metric", "filter", "pruning_pct", "method", "seed"]
    return table.sort_values(order, kind="stable").reset_index(drop=True), left_out


def _contrast(run, ref, metric, docs, ref_docs, settings: PairedSettings) -> dict | str:
    """The paired statistics of one metric, or why there are none."""
    values = pairable(run, ref, metric, docs, ref_docs, who="the reference run")
    return values if isinstance(values, str) else paired_statistics(*values, settings)


def _adjust(rows: list[dict], settings: PairedSettings) -> None:
    """Benjamini-Hochberg over each model's contrasts on one data source."""
    families = [(r["model"], r["data_source"]) for r in rows]
    adjusted = adjust_within_families([r["p_value"] for r in rows], families, settings.correction)
    for row, p in zip(rows, adjusted, strict=True):
        row["p_adjusted"] = p
