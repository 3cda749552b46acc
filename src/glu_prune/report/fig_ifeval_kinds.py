"""IFEval by kind of instruction against the GLU expansion ratio: the share of each kind's
instructions followed, with the paired 95 % interval of the difference to the unpruned model."""

from __future__ import annotations

from pathlib import Path

from ..evaluate.ifeval_kinds import KINDS
from .plotting import XLABEL, figure, legend, num, save, series_label

METRIC = "inst_level_strict_acc"
BARS = (
    "error bars: the paired 95 % bootstrap interval of the difference to the unpruned model on the "
    "same prompts (resampled by prompt), drawn around the pruned value"
)


def ifeval_kinds_figure(frame, path: Path) -> Path:
    """One panel per kind of instruction (the strict metric, lm-eval's filter `none`)."""
    rows = frame[(frame["metric"] == METRIC) & (frame["filter"] == "none")]
    first = rows.iloc[0]
    footer = [
        *(f"{kind}: {what}" for kind, (what, _) in KINDS.items()),
        BARS,
        f"model: {first['model']}   data: IFEval ({first['data_source']}), the runs' per-document values   "
        f"metric: {METRIC}",
    ]
    fig, axes = figure(
        1,
        len(KINDS),
        footer,
        "IFEval by kind of instruction: share of the instructions followed",
        xlabel=XLABEL,
        ylabel="instructions followed (strict)",
        sharey=True,
    )
    axes = list(axes.flat)
    base = rows[rows["method"] == "none"]
    x0 = base["expansion_ratio"].max()
    pad = 0.05 * (x0 - rows["expansion_ratio"].min() or 1)
    for ax, kind in zip(axes, KINDS, strict=True):
        k = rows[rows["kind"] == kind]
        pruned = k[k["method"] != "none"]
        for i, (key, s) in enumerate(pruned.groupby(["method", "divisor", "seed"], dropna=False)):
            s = s.sort_values("expansion_ratio", ascending=False)
            low = (s["delta"] - s["delta_ci_low"]).clip(lower=0)
            high = (s["delta_ci_high"] - s["delta"]).clip(lower=0)
            ax.errorbar(
                [x0, *s["expansion_ratio"]],
                [k.loc[k["method"] == "none", "value"].max(), *s["value"]],
                yerr=[[0.0, *low], [0.0, *high]],
                marker="o",
                ms=4,
                capsize=2,
                color=f"C{i % 10}",
                label=series_label(*key),
            )
        n, prompts = k["instructions"].max(), k["prompts"].max()
        ax.set_title(f"{kind}: {num(n)} instructions in {num(prompts)} prompts", fontsize=9)
        ax.set_xlim(x0 + pad, rows["expansion_ratio"].min() - pad)
        ax.set_ylim(-0.03, 1.03)
    legend(fig, axes, "selection method")
    return save(fig, path)
