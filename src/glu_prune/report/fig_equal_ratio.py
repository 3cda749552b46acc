"""Two models pruned to the same expansion ratio: the difference of the shares of their unpruned
scores they keep, per task, with its 95 % interval paired over the documents both answered
(evaluate/across_models.py). Above 0, the first model keeps more; an interval across 0 does not
tell the two apart. One panel per pair of models and ratio; each task's headline metric, where both
unpruned margins above the task's chance level are known (across_models.MARGIN_STDERRS: a share of a
margin near 0 is noise, WinoGrande or ARC-Challenge on these models)."""

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


def headline_rows(frame):
    """The rows of each task's headline metric whose unpruned margins above chance are known."""
    return frame[frame["margin_resolved"].astype(bool).to_numpy() & headline_mask(frame)]


def equal_ratio_figure(frame, path: Path) -> Path | None:
    """None when no task's headline metric was compared."""
    import numpy as np

    rows = headline_rows(frame)
    if rows.empty:
        return None
    rows = rows.assign(
        series=[series_label(*k) for k in zip(rows["method"], rows["divisor"], rows["seed"], strict=True)],
        ratio=rows["expansion_ratio_a"].round(2),
    )
    panels = list(rows.groupby(["model_a", "model_b", "ratio"]))
    labels = sorted(set(rows["series"]))
    n = ", ".join(f"{t} {int(g['n_paired'].max())}" for t, g in rows.groupby("task"))
    below = sorted(set(frame["task"]) - set(rows["task"]))
    prompts = rows.loc[~rows["same_prompts"].astype(bool), "task"].unique()
    footer = [
        BARS,
        f"documents paired: {n}; data source: {', '.join(sorted(set(rows['data_source'])))}",
        "prompt formats differ between the models on: " + (", ".join(sorted(prompts)) or "none"),
        f"not drawn (an unpruned model within {MARGIN_STDERRS:g} standard errors of chance): "
        + (", ".join(below) or "none"),
    ]
    fig, axes = figure(
        *grid(len(panels), 2),
        footer,
        "The same expansion ratio on two models: does it cost the same?",
        panel=(5.0, 2.8),
        ylabel="share kept: model A - model B",
    )
    axes = hide_unused(axes, len(panels))
    width = 0.7 / len(labels)
    for ax, ((model_a, model_b, ratio), p) in zip(axes, panels, strict=True):
        tasks = sorted(set(p["task"]))
        for i, label in enumerate(labels):
            s = p[p["series"] == label].set_index("task").reindex(tasks)
            x = np.arange(len(tasks)) + (i - (len(labels) - 1) / 2) * width
            y = s["difference"].to_numpy(float)
            err = [
                np.clip(y - s["difference_ci_low"].to_numpy(float), 0, None),
                np.clip(s["difference_ci_high"].to_numpy(float) - y, 0, None),
            ]
            ax.errorbar(x, y, yerr=err, fmt="o", ms=5, capsize=3, color=f"C{(i + 1) % 10}", label=label)
        ax.axhline(0.0, color="0.3", lw=0.8)
        ax.set_xticks(np.arange(len(tasks)), [t.replace("_", "_\n") for t in tasks], fontsize=7)
        levels = f"{num(p['pruning_pct_a'].iloc[0])} % against {num(p['pruning_pct_b'].iloc[0])} %"
        ax.set_title(f"A = {model_a}, B = {model_b}\nexpansion ratio {ratio:g} ({levels})", fontsize=9)
    legend(fig, axes, "series")
    return save(fig, path)
