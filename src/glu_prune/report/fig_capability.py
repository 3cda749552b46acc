"""Capability against the GLU expansion ratio, normalised to the unpruned model: each level with its
paired 95 % interval, significant changes filled (the correction named in the footer)."""

from __future__ import annotations

from pathlib import Path

from .intervals import significance_note, significant
from .metrics import CHANCE
from .plotting import (
    XLABEL,
    eval_context,
    figure,
    grid,
    hide_unused,
    legend,
    log_if_wide,
    metric_title,
    paired_errorbar,
    save,
    series,
)

PAIRED_BARS = (
    "error bars: 95 % paired bootstrap interval of the ratio to the unpruned model (both models scored "
    "on the same documents); perplexities inverted (unpruned / pruned) so that > 1 is better"
)
YLABEL = "score / unpruned score  (> 1 = better)"


def mark_significant(frame):
    """frame with a boolean `significant` column: BH over its pruned rows -> (frame, family size)."""
    pruned = frame["method"] != "none"
    marks, family = significant(frame[pruned])
    frame = frame.assign(significant=False)
    frame.loc[pruned, "significant"] = marks
    return frame, family


def without_interval(frame) -> list[str]:
    """Footer line for pruned rows drawn without a paired interval (and why that can be)."""
    pruned = frame[frame["method"] != "none"]
    missing = sorted(
        {f"{r.task} {r.metric}" for r in pruned.itertuples() if r.normalised_ci_low != r.normalised_ci_low}
    )
    if not missing:
        return []
    return [
        "drawn without an interval (no per-document values, or a ratio undefined in some resamples): "
        + ", ".join(missing)
    ]


def capability_figure(frame, path: Path, left_out=()) -> Path:
    frame, family = mark_significant(frame)
    pruned = frame[frame["method"] != "none"]
    metrics = pruned[["task", "metric", "filter"]].drop_duplicates().sort_values(["task", "metric", "filter"])
    notes = [PAIRED_BARS + "; dotted: random guessing", significance_note(family), *without_interval(frame)]
    fig, axes = figure(
        *grid(len(metrics), 4),
        notes + eval_context(frame) + list(left_out),
        "Capability retained against GLU expansion ratio, normalised to the unpruned model",
        xlabel=XLABEL,
        ylabel=YLABEL,
    )
    axes = hide_unused(axes, len(metrics))
    colors: dict = {}
    for ax, (_, m) in zip(axes, metrics.iterrows(), strict=False):
        rows = frame[
            (frame["task"] == m["task"]) & (frame["metric"] == m["metric"]) & (frame["filter"] == m["filter"])
        ]
        first = rows.iloc[0]
        base = rows[(rows["method"] == "none") & (rows["pruning_pct"] == 0)]
        if (
            not base.empty
            and m["task"] in CHANCE
            and first["higher_is_better"]
            and base.iloc[0]["baseline_value"]
        ):
            chance = CHANCE[m["task"]] / base.iloc[0]["baseline_value"]
            ax.axhline(chance, ls=":", color="0.4", lw=1, label="random guessing")
        ax.axhline(1.0, color="0.3", lw=0.8)
        for label, s in series(rows):
            paired_errorbar(ax, s, colors.setdefault(label, f"C{len(colors) % 10}"), label)
        ax.set_title(metric_title(first), fontsize=9)
        ax.invert_xaxis()
        log_if_wide(ax, rows["normalised"])
    legend(fig, axes, "selection method")
    return save(fig, path)
