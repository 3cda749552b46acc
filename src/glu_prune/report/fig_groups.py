"""The fragile / robust / other grouping (the original study's hypothesis, tested): each group's
mean retention with a 95 % interval from its tasks' paired standard errors, its tasks thin."""

from __future__ import annotations

from pathlib import Path

from .analysis import group_retention
from .metrics import CAPABILITY_GROUPS_NOTE, GROUP_ORDER
from .plotting import XLABEL, eval_context, figure, legend, save, series, series_label

Z95 = 1.959964
GROUP_BARS = (
    "bold: the group's mean ratio to the unpruned model over its tasks' headline metrics, error bars 95 % "
    "(+-1.96 x the paired standard error of the mean; tasks independent; none where a task has no "
    "per-document values); thin: each task"
)


def _empty(ax, group: str) -> None:
    ax.text(
        0.5, 0.5, f"no '{group}' task\nin these results", transform=ax.transAxes, ha="center", va="center"
    )


def same_tasks(retention):
    """(the group means over every task their line measured at any level, a note on the others): a
    mean over fewer tasks (a level not yet fully measured) is not comparable along the line."""
    if retention.empty:
        return retention, []
    keys = ["method", "divisor", "seed", "group"]
    union = retention.groupby(keys, dropna=False)["tasks"].transform(
        lambda s: ",".join(sorted({t for v in s for t in v.split(",") if t}))
    )
    short = retention[retention["tasks"] != union]
    said = [
        f"{series_label(r.method, r.divisor, r.seed)} {r.pruning_pct:g} % {r.group} "
        f"({r.tasks or 'none'} of {u})"
        for r, u in zip(short.itertuples(), union[short.index], strict=True)
    ]
    note = f"group means not drawn where a task of the line is missing: {'; '.join(said)}" if said else None
    return retention[retention["tasks"] == union], [note] if note else []


def groups_figure(frame, path: Path, left_out=()) -> Path:
    heads = frame[frame["headline"]]
    retention, partial = same_tasks(group_retention(heads, stderr="normalised_paired_stderr"))
    fig, axes = figure(
        1,
        3,
        [CAPABILITY_GROUPS_NOTE, GROUP_BARS, *eval_context(frame), *partial, *left_out],
        "Capability groups: bold = group mean of the headline metrics (95 % interval), thin = its tasks",
        panel=(3.6, 2.8),
        xlabel=XLABEL,
        ylabel="score / unpruned score  (> 1 = better)",
        sharey=True,
    )
    axes = list(axes.flat)
    colors: dict = {}
    base_x = heads.loc[heads["method"] == "none", "expansion_ratio"].max()
    x_lo, x_hi = heads["expansion_ratio"].min(), heads["expansion_ratio"].max()
    pad = 0.05 * (x_hi - x_lo or 1)
    for ax, group in zip(axes, GROUP_ORDER, strict=False):
        gr = heads[heads["group"] == group]
        ax.axhline(1.0, color="0.3", lw=0.8)
        if gr.empty:
            _empty(ax, group)
        for label, s in series(gr):
            color = colors.setdefault(label, f"C{len(colors) % 10}")
            for _, t in s.groupby("task"):
                ax.plot(t["expansion_ratio"], t["normalised"], color=color, lw=0.7, alpha=0.35)
        rg = retention[retention["group"] == group] if not retention.empty else retention
        for (method, divisor, seed), s in (
            rg.groupby(["method", "divisor", "seed"], dropna=False) if not rg.empty else []
        ):
            label = series_label(method, divisor, seed)
            s = s.sort_values("expansion_ratio", ascending=False)
            ax.errorbar(
                [base_x, *s["expansion_ratio"]],
                [1.0, *s["retention"]],
                yerr=[0.0, *(Z95 * s["retention_stderr"]).fillna(0)],
                marker="o",
                ms=4,
                lw=2,
                capsize=2,
                color=colors.setdefault(label, f"C{len(colors) % 10}"),
                label=label,
            )
        drawn = sorted(set(gr.loc[gr["method"] != "none", "task"]))
        ax.set_title(f"{group}: {', '.join(drawn) or '-'}", fontsize=9)
        ax.set_xlim(x_hi + pad, x_lo - pad)  # the same range in every panel, pruning to the right
    legend(fig, axes, "selection method")
    return save(fig, path)
