"""The upload decision matrix: which pruned models keep enough capability for what they gain.

One row per pruned config (x profiling hardware/dtype/weights kind): capability retention per
group, the worst task, measured speed-up, memory saving and energy per token, and a
recommendation with its reason, against thresholds recorded in every row.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..errors import UserError
from .analysis import group_retention, normalise_to_baseline, performance_summary
from .metrics import GROUP_ORDER
from .results import join_key


@dataclass(frozen=True)
class Thresholds:
    """When a pruned model is worth uploading. Recorded in every row of the decision matrix."""

    min_retention: float = 0.90  # every capability group with results keeps at least this (1 = baseline)
    min_speedup: float = 1.10  # measured decode speed-up (TPOT ratio) at the smallest batch size
    min_memory_saving: float = 0.10  # fraction of the baseline's peak memory saved at the smallest batch
    z: float = 1.96  # a retention within z * stderr of min_retention is 'borderline'


def _verdict(row: dict, groups: list[str], t: Thresholds) -> tuple[str, str]:
    reasons, borderline = [], []
    for g in groups:
        r, se = row.get(f"retention_{g}"), row.get(f"retention_{g}_stderr")
        if r is None or r != r:
            continue
        if se == se and abs(r - t.min_retention) < t.z * se:
            borderline.append(f"{g} retention {r:.3f}±{se:.3f} is within {t.z:g} s.e. of {t.min_retention:g}")
        elif r < t.min_retention:
            reasons.append(f"{g} retention {r:.3f} < {t.min_retention:g}")
    if not any(row.get(f"retention_{g}") == row.get(f"retention_{g}") for g in groups):
        return "undecided", "no capability results with a baseline"
    speed, mem = row.get("decode_speedup", math.nan), row.get("memory_saving", math.nan)
    if speed != speed and mem != mem:
        return "undecided", "no profile measurements for this width"
    if not (speed >= t.min_speedup or mem >= t.min_memory_saving):
        reasons.append(
            f"gain too small: decode speed-up {speed:.3f} < {t.min_speedup:g} "
            f"and memory saving {mem:.3f} < {t.min_memory_saving:g}"
        )
    if reasons:
        return "do not upload", "; ".join(reasons + borderline)
    if borderline:
        return "borderline", "; ".join(borderline)
    return (
        "upload",
        f"retention >= {t.min_retention:g} in {', '.join(groups)}; decode speed-up {speed:.3f}, memory "
        f"saving {mem:.3f}",
    )


def decision_matrix(evaluation, profiles=None, thresholds: Thresholds = Thresholds()):
    """One row per pruned config (x profiling hardware/dtype/weights kind): capability retention per
    group (mean headline retention, stderr, tasks), the worst task, measured speed-up, throughput
    gain, memory saving and energy per token, and a recommendation with its reason. Speed is
    matched by model and intermediate_size: it depends on the shapes, not on which neurons were
    kept. The thresholds are recorded in columns threshold_*."""
    import pandas as pd

    norm = normalise_to_baseline(evaluation)
    retention = group_retention(norm)
    if retention.empty:
        raise UserError("no pruned configuration has capability results next to an unpruned baseline")
    keys = [
        k
        for k in retention.columns
        if k not in ("group", "retention", "retention_stderr", "tasks", "n_tasks")
    ]
    groups = [g for g in GROUP_ORDER if g in set(retention["group"])]
    wide = None
    for g in groups:
        part = (
            retention[retention["group"] == g]
            .drop(columns="group")
            .rename(
                columns={
                    "retention": f"retention_{g}",
                    "retention_stderr": f"retention_{g}_stderr",
                    "tasks": f"tasks_{g}",
                    "n_tasks": f"n_tasks_{g}",
                }
            )
        )
        wide = part if wide is None else wide.merge(part, on=keys, how="outer")
    pruned = norm[norm["headline"] & (norm["method"] != "none") & norm["normalised"].notna()]
    worst = pruned.loc[pruned.groupby(join_key(pruned, keys))["normalised"].idxmin()]
    wide["_k"] = join_key(wide, keys)
    worst = worst.assign(_k=join_key(worst, keys)).set_index("_k")
    wide["worst_task"] = wide["_k"].map(worst["task"])
    wide["worst_retention"] = wide["_k"].map(worst["normalised"])
    perf = performance_summary(profiles)
    if not perf.empty:
        wide = wide.merge(perf, on=["model", "intermediate_size"], how="left")
    rows = []
    for row in wide.drop(columns="_k").to_dict("records"):
        verdict, reason = _verdict(row, groups, thresholds)
        rows.append(
            {
                **row,
                "recommendation": verdict,
                "reason": reason,
                **{f"threshold_{k}": v for k, v in asdict(thresholds).items()},
            }
        )
    return pd.DataFrame(rows)
