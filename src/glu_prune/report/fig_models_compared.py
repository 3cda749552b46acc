"""Two models pruned to the same level, the same expansion ratio in one figure and the same
percentage in another: the difference of the shares of their unpruned scores they keep, per task,
with its 95 % interval paired over the documents both answered (evaluate/across_models.py). Above
0, the first model keeps more; an interval across 0 does not tell the two apart. One panel per pair
of models and task, the level on the x axis; each task's headline metric, where both unpruned
margins above the task's chance level are known (across_models.MARGIN_STDERRS: a share of a margin
near 0 is noise, WinoGrande or ARC-Challenge on these models); the series measured at the most
levels (the sweeps: a method comparison's few levels would bury them, and stay in the CSV)."""

from __future__ import annotations

from pathlib import Path

from ..evaluate.across_models import MARGIN_STDERRS
from .metrics import headline_mask
from .plotting import figure, grid, hide_unused, legend, num, save, series_label

BARS = (
    "points: share of its own unpruned score model A keeps minus the share model B keeps (higher is better "
    "for a share: multiple choice as (pruned - chance) / (unpruned - chance), other scores as pruned / "
    "unpruned, perplexities as unpruned / pruned); error bars: 95 % paired bootstrap interval over the "
    "documents both models answered, each row on its own (not adjusted for the number of rows)"
)
# matched_on -> (figure title, x label, the level column of the table)
LEVELS = {
    "expansion_ratio": (
        "The same expansion ratio on two models: does it cost the same?",
        "expansion ratio both reach",
        "expansion_ratio_a",
    ),
    "pruning_pct": (
        "The same pruning percentage on two models: does it cost the same?",
        "GLU neurons removed from both (%)",
        "pruning_pct_a",
    ),
}


def headline_rows(frame):
    """The rows of each task's headline metric whose unpruned margins above chance are known."""
    return frame[frame["margin_resolved"].astype(bool).to_numpy() & headline_mask(frame)]


def models_compared_figure(frame, matched_on: str, path: Path) -> Path | None:
    """None when no task's headline metric was compared at this kind of level."""
    import numpy as np

    rows = headline_rows(frame[frame["matched_on"] == matched_on])
    if rows.empty:
        return None
    title, xlabel, level = LEVELS[matched_on]
    rows = rows.assign(
        series=[series_label(*k) for k in zip(rows["method"], rows["divisor"], rows["seed"], strict=True)],
        level=rows[level].round(2),
    )
    counts = rows.groupby("series")["level"].nunique()
    fewer = sorted(counts.index[counts < counts.max()])
    rows = rows[~rows["series"].isin(fewer)]
    panels = list(rows.groupby(["model_a", "model_b", "task", "metric"]))
    labels = sorted(set(rows["series"]))
    fig, axes = figure(
        *grid(len(panels), 3),
        _footer(frame, rows, fewer),
        title,
        panel=(4.0, 2.8),
        ylabel="share kept: model A - model B",
    )
    axes = hide_unused(axes, len(panels))
    levels = sorted(set(rows["level"]))
    span = min(np.diff(levels), default=0.2 * abs(levels[0]) or 1.0)  # one level: a nominal width
    step = span * 0.5 / len(labels)
    for ax, ((model_a, model_b, task, metric), p) in zip(axes, panels, strict=True):
        for i, label in enumerate(labels):
            s = p[p["series"] == label].sort_values("level")
            if s.empty:
                continue
            x = s["level"].to_numpy(float) + (i - (len(labels) - 1) / 2) * step
            y = s["difference"].to_numpy(float)
            err = [
                np.clip(y - s["difference_ci_low"].to_numpy(float), 0, None),
                np.clip(s["difference_ci_high"].to_numpy(float) - y, 0, None),
            ]
            color = f"C{(i + 1) % 10}"
            ax.errorbar(x, y, yerr=err, fmt="o-", ms=4, lw=0.8, capsize=2, color=color, label=label)
        ax.axhline(0.0, color="0.3", lw=0.8)
        ax.set_xticks(levels, [num(v) for v in levels], fontsize=7)
        ax.set_xlim(levels[0] - span, levels[-1] + span)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_title(f"{task} ({metric})\nA = {model_a}, B = {model_b}", fontsize=8)
    legend(fig, axes, "series")
    return save(fig, path)


def _footer(frame, rows, fewer) -> list[str]:
    n = ", ".join(f"{t} {int(g['n_paired'].max())}" for t, g in rows.groupby("task"))
    pairs = rows.drop_duplicates(["model_a", "model_b", "level"])
    below = sorted(set(frame["task"]) - set(headline_rows(frame)["task"]))
    prompts = rows.loc[~rows["same_prompts"].astype(bool), "task"].unique()
    return [
        BARS,
        "levels: "
        + "; ".join(
            f"{r.model_a} {num(r.pruning_pct_a)} % (ratio {r.expansion_ratio_a:.2f}) with {r.model_b} "
            f"{num(r.pruning_pct_b)} % ({r.expansion_ratio_b:.2f})"
            for r in pairs.itertuples()
        ),
        f"documents paired: {n}; data source: {', '.join(sorted(set(rows['data_source'])))}",
        "prompt formats differ between the models on: " + (", ".join(sorted(prompts)) or "none"),
        f"not drawn (an unpruned model within {MARGIN_STDERRS:g} standard errors of chance): "
        + (", ".join(below) or "none")
        + f"; series at fewer levels (in the CSV): {', '.join(fewer) or 'none'}",
    ]
