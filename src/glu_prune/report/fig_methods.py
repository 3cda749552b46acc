"""Neuron-selection methods side by side at equal pruning levels: bars of the ratio to the unpruned
model with their paired 95 % intervals, significant changes starred."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .fig_capability import PAIRED_BARS, YLABEL, mark_significant, without_interval
from .intervals import significance_note
from .plotting import eval_context, figure, grid, hide_unused, legend, metric_title, save, series_label


def _comparable(frame):
    """Headline rows of the levels where two or more methods ran, each with its series label."""
    pruned = frame[(frame["method"] != "none") & frame["headline"]]
    counts = pruned.groupby("pruning_pct")["method"].nunique()
    levels = sorted(counts[counts >= 2].index)
    pruned = pruned[pruned["pruning_pct"].isin(levels)]
    pruned = pruned.assign(
        series=[
            series_label(*k) for k in zip(pruned["method"], pruned["divisor"], pruned["seed"], strict=False)
        ]
    )
    clash = pruned[pruned.duplicated(["series", "pruning_pct", "task", "metric", "filter"], keep=False)]
    if not clash.empty:
        r = clash.iloc[0]
        raise UserError(
            f"the results hold {r['series']} at {r['pruning_pct']:g} % on {r['task']} more than once "
            "(different limits or settings?): draw each setting from its own results dir"
        )
    return pruned, levels


def _bars(ax, t, labels, levels) -> None:
    import numpy as np

    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        s = t[t["series"] == label].set_index("pruning_pct").reindex(levels)
        x = np.arange(len(levels)) + (i - (len(labels) - 1) / 2) * width
        y = s["normalised"].to_numpy(float)
        err = [
            np.clip(y - s["normalised_ci_low"], 0, None),
            np.clip(s["normalised_ci_high"] - y, 0, None),
        ]
        ax.bar(x, y, width, yerr=err, capsize=2, color=f"C{i % 10}", label=label)
        for xi, top, mark in zip(
            x, s["normalised_ci_high"].fillna(s["normalised"]), s["significant"].fillna(False), strict=True
        ):
            if mark:
                ax.text(xi, top, "*", ha="center", va="bottom", fontsize=9)
    ax.axhline(1.0, color="0.3", lw=0.8)
    ax.set_xticks(np.arange(len(levels)), [f"{lv:g} %" for lv in levels])


def methods_figure(frame, path: Path, left_out=()) -> Path | None:
    """None when at no level two or more methods were evaluated."""
    pruned, levels = _comparable(frame)
    if not levels:
        return None
    pruned, family = mark_significant(pruned)
    labels, tasks = sorted(set(pruned["series"])), sorted(set(pruned["task"]))
    notes = [PAIRED_BARS, significance_note(family).replace("filled markers", "*"), *without_interval(pruned)]
    fig, axes = figure(
        *grid(len(tasks), 4),
        [*notes, *eval_context(frame), *left_out],
        "Neuron-selection methods at equal pruning levels, normalised to the unpruned model",
        xlabel="GLU neurons pruned",
        ylabel=YLABEL,
    )
    axes = hide_unused(axes, len(tasks))
    for ax, task in zip(axes, tasks, strict=False):
        t = pruned[pruned["task"] == task]
        _bars(ax, t, labels, levels)
        ax.set_title(metric_title(t.iloc[0]), fontsize=9)
    legend(fig, axes, "selection method")
    return save(fig, path)
