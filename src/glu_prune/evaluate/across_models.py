"""Two models pruned to the same level: does the same expansion ratio, or the same percentage,
cost the same on both?

The original study's 1B-vs-3B question. Each model's pruned run keeps a share of its own unpruned
score (higher is better; 1 keeps all of it):
- of its margin above chance, (pruned - chance) / (unpruned - chance), where the task has a chance
  level (multiple choice: both shares reach 0 at chance, whatever each model's unpruned score). It
  means something only where both unpruned margins are known (`margin_resolved`: each at least
  MARGIN_STDERRS standard errors of its unpruned score, so known to within +-50 % at 95 %; a
  model at or near chance unpruned has no margin to share);
- pruned / unpruned for other scores, unpruned / pruned where lower is better (perplexities).
The answer is the difference of the two shares. Both models answered the same documents (same task,
data, limit and few-shot count: the same document hash at every doc_id), each in its own prompt
format (the instruct model may read a chat template; `same_prompts` says so), so the four
per-document columns (each model pruned and unpruned) are resampled together: one paired bootstrap
(`scipy.stats.bootstrap(..., paired=True)`, PairedSettings) gives the interval of the difference
and of each share. Runs match when they are the same series (every pruning setting but the level)
and either their achieved expansion ratios differ by at most RATIO_TOLERANCE (`matched_on`
"expansion_ratio") or they were asked for the same percentage ("pruning_pct"; models of one
expansion ratio meet at both, and count as matched on the ratio). Intervals are per row (95 %),
not adjusted for the number of rows.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import math
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..provenance import provenance
from ..store import atomic_write_json, atomic_write_text
from .paired import AGGREGATIONS, DEFAULT_PAIRED, PairedSettings, paired_bootstrap, split_values
from .pairing import complete_runs, document_loader, is_unpruned, pair_key, pairable, row_keys, same_row

FILES = ("models_compared.csv", "models_compared_complete.json")
MARGIN_STDERRS = 4.0  # 1.96 standard errors are then under half the margin
RATIO_TOLERANCE = 0.01  # widths are whole neurons: 40 % of 1536 and 50 % of 2048 give 1.6007 and 1.6
MATCH_KEYS = (
    "task",
    "num_fewshot",
    "limit",
    "limit_per_subtask",
    "sample_seed",
    "fewshot_seed",
    "data_source",
)
LEVEL_KEYS = ("pct", "expansion_ratio")  # the only pruning settings two matched runs may differ in
MATCHED_ON = {"expansion_ratio": "ratio", "pruning_pct": "percentage"}  # matched_on -> its word
COLUMNS = (
    "model_a",
    "model_b",
    "data_source",
    "task",
    "metric",
    "filter",
    "higher_is_better",
    "method",
    "divisor",
    "seed",
    "matched_on",
    "pruning_pct_a",
    "pruning_pct_b",
    "expansion_ratio_a",
    "expansion_ratio_b",
    "n_paired",
    "same_prompts",
    "chance",
    "margin_resolved",
    "value_a",
    "baseline_a",
    "value_b",
    "baseline_b",
    "share_a",
    "share_a_ci_low",
    "share_a_ci_high",
    "share_b",
    "share_b_ci_low",
    "share_b_ci_high",
    "difference",
    "difference_stderr",
    "difference_ci_low",
    "difference_ci_high",
    "checkpoint_a",
    "baseline_checkpoint_a",
    "checkpoint_b",
    "baseline_checkpoint_b",
)
INTERVAL_COLUMNS = tuple(c for c in COLUMNS if "_ci_" in c or c == "difference_stderr")


def share_difference(
    a,
    a_base,
    b,
    b_base,
    aggregation: str,
    higher_is_better: bool,
    chance: float = 0.0,
    settings: PairedSettings = DEFAULT_PAIRED,
) -> dict:
    """share_a - share_b of four lists of per-document values on the same documents, same order;
    the shares of the margin above `chance` (0: of the whole score).

    Raises:
        UserError: unknown aggregation, lists of different lengths, or documents whose weights
            (word, byte or instruction counts) differ: they are not the same documents.
    """
    if aggregation not in AGGREGATIONS:
        raise UserError(f"no paired statistic for lm-eval aggregation {aggregation!r}")
    if chance and (not higher_is_better or aggregation != "mean"):
        raise UserError("a chance level is a floor of mean scores where higher is better")
    agg = AGGREGATIONS[aggregation]
    columns = [split_values(v, agg) for v in (a, a_base, b, b_base)]
    den = columns[0][1]
    if any(len(c[1]) != len(den) or not np.array_equal(c[1], den) for c in columns) or not len(den):
        raise UserError("the two models' values are not of the same documents (counts or weights differ)")

    def statistic(*arrays, axis=-1):
        *nums, d = arrays
        with np.errstate(divide="ignore", invalid="ignore"):
            va, va0, vb, vb0 = (agg.g(np.sum(x, axis=axis) / np.sum(d, axis=axis)) for x in nums)
            if higher_is_better:
                sa, sb = (va - chance) / (va0 - chance), (vb - chance) / (vb0 - chance)
            else:
                sa, sb = va0 / va, vb0 / vb
            return np.stack([sa - sb, sa, sb])

    nums = [c[0] for c in columns]
    point = statistic(*nums, den)
    values = [float(agg.g(np.sum(x) / np.sum(den))) for x in nums]
    out = {
        "n_paired": len(den),
        "chance": chance,
        "margin_resolved": all(_above(n, chance) for n in (nums[1], nums[3])),
        **dict(zip(("value_a", "baseline_a", "value_b", "baseline_b"), values, strict=True)),
        "difference": float(point[0]),
        "share_a": float(point[1]),
        "share_b": float(point[2]),
    }
    if len(den) < 2:
        return out | dict.fromkeys(INTERVAL_COLUMNS, math.nan)
    result = paired_bootstrap((*nums, den), statistic, settings)
    low, high = result.confidence_interval
    for i, name in enumerate(("difference", "share_a", "share_b")):
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(low[i]), float(high[i])
    out["difference_stderr"] = float(result.standard_error[0])
    return out


def _above(scores, chance: float) -> bool:
    """A mean score's margin above `chance` is MARGIN_STDERRS of its standard errors (0: no floor)."""
    if not chance:
        return True
    stderr = np.std(scores, ddof=1) / math.sqrt(len(scores)) if len(scores) > 1 else math.inf
    return bool(np.mean(scores) - chance >= MARGIN_STDERRS * stderr)


def _series(identity: dict) -> str:
    prune = identity["prune"]
    return repr(sorted((k, repr(v)) for k, v in prune.items() if k not in LEVEL_KEYS))


def _task(identity: dict) -> tuple:
    return tuple(repr(identity.get(k)) for k in MATCH_KEYS)


def _documents(run, metric, docs) -> list[tuple]:
    """(key, document hash, prompt hash) of one row's documents, in pairing.aligned's order."""
    return [(k, docs[k]["doc_hash"], docs[k]["prompt_hash"]) for k in row_keys(run, metric, docs)]


def across_models_table(
    completes,
    chance: dict | None = None,
    tolerance: float = RATIO_TOLERANCE,
    settings: PairedSettings = DEFAULT_PAIRED,
):
    """(table of COLUMNS, [left-out rows with their reason]) over the runs of the given complete
    JSONs (each model's consolidated views; a run in several is read once): every pair of models,
    every pair of their pruned runs of one series at expansion ratios within `tolerance` or at the
    same requested percentage, every task-level metric both have; `chance` ({task: chance level})
    for the tasks that have one.
    Raises UserError when a run's own pairing with its unpruned run finds other documents
    (pairing.aligned)."""
    import pandas as pd

    runs, files = {}, {}
    for path in map(Path, completes):
        found, documents_of = complete_runs(path)
        for run in found:
            runs.setdefault(run["checkpoint"], run)
            files.setdefault(run["checkpoint"], documents_of(run))
    docs = document_loader(lambda run: files.get(run["checkpoint"]))
    by_model: dict[str, list[dict]] = {}
    for run in runs.values():
        by_model.setdefault(run["model"], []).append(run)
    bases = {pair_key(r["identity"]): r for r in runs.values() if is_unpruned(r["identity"])}
    rows, left_out = [], []
    for model_a, model_b in itertools.combinations(sorted(by_model), 2):
        for a, b, matched_on in _matches(by_model[model_a], by_model[model_b], tolerance):
            base_a, base_b = bases.get(pair_key(a["identity"])), bases.get(pair_key(b["identity"]))
            where = {
                "checkpoint_a": a["checkpoint"],
                "checkpoint_b": b["checkpoint"],
                "task": a["task"],
                "matched_on": matched_on,
            }
            if base_a is None or base_b is None:
                left_out.append({**where, "reason": "no unpruned run with the same settings"})
                continue
            loaded = [docs(r) for r in (a, base_a, b, base_b)]
            if any(isinstance(d, str) for d in loaded):
                left_out.append({**where, "reason": next(d for d in loaded if isinstance(d, str))})
                continue
            for metric in (m for m in a["metrics"] if m["subtask"] == a["task"]):
                row = _row(a, base_a, b, base_b, metric, loaded, chance or {}, settings)
                if isinstance(row, str):
                    left_out.append({**where, "metric": metric["metric"], "reason": row})
                else:
                    rows.append(row | {"matched_on": matched_on})
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    order = ["model_a", "model_b", "matched_on", "task", "metric", "method", "seed", "expansion_ratio_a"]
    return table.sort_values(order, kind="stable").reset_index(drop=True), left_out


def _matches(runs_a: list[dict], runs_b: list[dict], tolerance: float):
    """(a, b, matched_on): runs pruned here (not loaded pruned: their series is unknown) of one series
    and task, at expansion ratios within `tolerance` or asked for the same percentage."""
    index: dict = {}
    for b in runs_b:
        if b["identity"].get("prune") is not None:
            index.setdefault((_series(b["identity"]), _task(b["identity"])), []).append(b)
    for a in runs_a:
        if a["identity"].get("prune") is None:
            continue
        pct = a["identity"]["prune"].get("pct")
        for b in index.get((_series(a["identity"]), _task(a["identity"])), []):
            if abs(a["pruning"]["expansion_ratio"] - b["pruning"]["expansion_ratio"]) <= tolerance:
                yield a, b, "expansion_ratio"
            elif pct and pct == b["identity"]["prune"].get("pct"):
                yield a, b, "pruning_pct"


def _row(a, base_a, b, base_b, metric, loaded, chance: dict, settings: PairedSettings) -> dict | str:
    """One row of the table (but its `matched_on`), or why the metric cannot be compared."""
    other = same_row(b, metric)
    if other is None:
        return f"{b['model']} has no such metric"
    direction = metric.get("higher_is_better")
    if direction is None or direction != direction:
        return "the metric's direction is unknown"
    docs_a, docs_base_a, docs_b, docs_base_b = loaded
    mine, theirs = (
        pairable(a, base_a, metric, docs_a, docs_base_a),
        pairable(b, base_b, other, docs_b, docs_base_b),
    )
    for values in (mine, theirs):
        if isinstance(values, str):
            return values
    if mine[2] != theirs[2]:
        return f"the models aggregate it differently ({mine[2]} against {theirs[2]})"
    seen_a, seen_b = _documents(a, metric, docs_a), _documents(b, other, docs_b)
    if [d[:2] for d in seen_a] != [d[:2] for d in seen_b]:
        return "the two models answered other documents (limits or data differ)"
    floor = chance.get(a["task"], 0.0) if direction else 0.0
    stats = share_difference(*mine[:2], *theirs[:2], mine[2], bool(direction), floor, settings)
    prune = a["pruning"]
    return {
        "model_a": a["model"],
        "model_b": b["model"],
        "data_source": a["data_source"],
        "task": a["task"],
        "metric": metric["metric"],
        "filter": metric["filter"],
        "higher_is_better": bool(direction),
        "method": prune["method"],
        "divisor": prune.get("divisor"),
        "seed": prune.get("seed"),
        "pruning_pct_a": prune["pruning_pct"],
        "pruning_pct_b": b["pruning"]["pruning_pct"],
        "expansion_ratio_a": prune["expansion_ratio"],
        "expansion_ratio_b": b["pruning"]["expansion_ratio"],
        "same_prompts": [d[2] for d in seen_a] == [d[2] for d in seen_b],
        **stats,
        "checkpoint_a": a["checkpoint"],
        "baseline_checkpoint_a": base_a["checkpoint"],
        "checkpoint_b": b["checkpoint"],
        "baseline_checkpoint_b": base_b["checkpoint"],
    }


def write_across_models(
    completes,
    out_dir,
    chance: dict | None = None,
    tolerance: float = RATIO_TOLERANCE,
    settings: PairedSettings = DEFAULT_PAIRED,
) -> tuple:
    """The table as FILES in `out_dir`: a tidy CSV and a complete JSON (its rows, what was left out
    and why, the settings, and the sha256 of every complete JSON it was computed from).
    -> (DataFrame, dict)."""
    completes = sorted(map(Path, completes))
    table, left_out = across_models_table(completes, chance, tolerance, settings)
    complete = {
        "consolidated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "provenance": provenance(),
        "about": __doc__,
        "chance": chance or {},
        "tolerance": tolerance,
        "paired": asdict(settings),
        "sources": [  # each file relative to out_dir
            {"file": os.path.relpath(p, out_dir), "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
            for p in completes
        ],
        "csv_columns": list(COLUMNS),
        "rows": table.to_dict(orient="records"),
        "left_out": left_out,
    }
    atomic_write_text(Path(out_dir) / FILES[0], table.to_csv(index=False))
    atomic_write_json(Path(out_dir) / FILES[1], complete)
    return table, complete
