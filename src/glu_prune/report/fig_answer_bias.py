"""Two-choice tasks against the GLU expansion ratio: balanced accuracy with its 95 % interval (a
constant answer scores 0.5 whatever the golds), and the share of documents given the second answer
(BoolQ: "yes"), so that an accuracy that moves only with the answer bias is seen as such."""

from __future__ import annotations

from pathlib import Path

from .metrics import PRIMARY_METRICS
from .plotting import XLABEL, figure, legend, num, save, series


def answer_bias_figure(frame, path: Path) -> Path | None:
    """Top row: balanced accuracy; bottom row: the second answer's share, per task (its headline
    metric, lm-eval's filter `none`). None when no row is a task's headline metric."""
    heads = {t: m[0].name for t, m in PRIMARY_METRICS.items()}
    rows = frame[(frame["filter"] == "none") & (frame["metric"] == frame["task"].map(heads))]
    if rows.empty:
        return None
    tasks = sorted(rows["task"].unique())
    first = rows.iloc[0]
    footer = [
        "balanced accuracy: the mean of the recall on each gold answer, with its normal 95 % interval "
        "(binomial variance per gold); 0.5 for any constant answer. Accuracy (dotted) is what the "
        "capability figures draw.",
        f"model: {first['model']}   data: {first['data_source']}, the runs' per-document values and "
        "lm-eval's golds   "
        + "   ".join(f"{t}: {num(rows.loc[rows['task'] == t, 'documents'].max())} documents" for t in tasks),
    ]
    fig, axes = figure(2, len(tasks), footer, "Two-choice tasks: skill or answer bias?", xlabel=XLABEL)
    colors: dict[str, str] = {}  # one color per series across the panels (each holds only some)
    x0 = rows["expansion_ratio"].max()
    pad = 0.05 * (x0 - rows["expansion_ratio"].min() or 1)
    for col, task in enumerate(tasks):
        t = rows[rows["task"] == task]
        top, bottom = axes[0][col], axes[1][col]
        for label, s in series(t):
            color = colors.setdefault(label, f"C{len(colors) % 10}")
            top.errorbar(
                s["expansion_ratio"],
                s["balanced_accuracy"],
                yerr=[
                    s["balanced_accuracy"] - s["balanced_ci_low"],
                    s["balanced_ci_high"] - s["balanced_accuracy"],
                ],
                marker="o",
                ms=4,
                capsize=2,
                color=color,
                label=label,
            )
            top.plot(s["expansion_ratio"], s["value"], linestyle=":", color=color, alpha=0.7)
            bottom.plot(s["expansion_ratio"], s["answer_share_1"], marker="o", ms=4, color=color)
        top.axhline(0.5, color="0.4", linewidth=0.8, linestyle="--", label="a constant answer")
        bottom.axhline(
            t["gold_share_1"].iloc[0], color="0.4", linewidth=0.8, linestyle="--", label="gold share"
        )
        top.set_title(f"{task} ({t['metric'].iloc[0]}): balanced accuracy", fontsize=9)
        bottom.set_title(f"share answered '{t['choice_1'].iloc[0]}' (dashed: golds)", fontsize=9)
        bottom.set_ylim(-0.03, 1.03)
        for ax in (top, bottom):
            ax.set_xlim(x0 + pad, rows["expansion_ratio"].min() - pad)
    legend(fig, list(axes.flat), "selection method")
    return save(fig, path)
