"""Several models side by side against the GLU expansion ratio (the original study's 1B-vs-3B
question): does the same ratio cost the same on each? Paired intervals, one colour per model."""

from __future__ import annotations

from pathlib import Path

from .fig_capability import PAIRED_BARS, YLABEL, mark_significant
from .fig_fidelity import Z95
from .intervals import significance_note
from .plotting import XLABEL, figure, grid, hide_unused, legend, metric_title, paired_errorbar, save, series

STYLES = ("-", "--", ":", "-.")
KL_BARS = "error bars: 95 % from the bootstrap standard error over windows of held-out text"
MARKERS = ("o", "s", "^", "D", "v")


def shared_metrics(norm):
    """Headline (task, metric, filter) that two or more models have pruned results for."""
    if norm.empty:
        return []
    pruned = norm[(norm["method"] != "none") & norm["headline"]]
    models = pruned.groupby(["task", "metric", "filter"])["model"].nunique()
    return sorted(models[models >= 2].index)


def _kl_panel(ax, fidelity, colors) -> None:
    kl = fidelity[fidelity["metric"] == "kl_mean"]
    methods = sorted(set(kl["method"]))
    for (model, method), s in kl.groupby(["model", "method"]):
        s = s.sort_values("expansion_ratio", ascending=False)
        k = methods.index(method)
        ax.errorbar(
            s["expansion_ratio"],
            s["value"],
            yerr=(Z95 * s["stderr"].astype(float)).fillna(0),
            marker=MARKERS[k % 5],
            ls=STYLES[k % 4],
            ms=3.5,
            capsize=2,
            color=colors.setdefault(model, f"C{len(colors) % 10}"),
            label=f"{model}: {method}",
        )
    ax.set_yscale("log")
    ax.set_title(
        f"fidelity: KL(unpruned || pruned), nats/token\n({', '.join(sorted(set(kl['text'])))})", fontsize=9
    )
    ax.invert_xaxis()


def models_figure(norm, fidelity, path: Path) -> Path | None:
    """None when fewer than two models share a metric."""
    metrics = shared_metrics(norm)
    with_kl = fidelity is not None and not fidelity.empty and fidelity["model"].nunique() >= 2
    if not metrics and not with_kl:
        return None
    frame, family = mark_significant(norm[norm["headline"]]) if metrics else (norm, 0)
    panels = len(metrics) + with_kl
    models = sorted(set(frame["model"] if metrics else []) | (set(fidelity["model"]) if with_kl else set()))
    notes = [PAIRED_BARS, significance_note(family)] if metrics else [KL_BARS]
    notes.append(f"models: {', '.join(models)}; line style: selection method")
    what = "capability retained, normalised to each unpruned one" if metrics else "fidelity to the unpruned"
    fig, axes = figure(
        *grid(panels, 4),
        notes,
        f"The same expansion ratio on different models: {what}",
        xlabel=XLABEL,
        ylabel=YLABEL if metrics else "KL(unpruned || pruned), nats/token",
        legend_in=3.2,  # "model: method" labels are long
    )
    axes = hide_unused(axes, panels)
    colors: dict = {}
    methods = sorted(set(frame.loc[frame["method"] != "none", "method"])) if metrics else []
    for ax, (task, metric, flt) in zip(axes, metrics, strict=False):
        rows = frame[(frame["task"] == task) & (frame["metric"] == metric) & (frame["filter"] == flt)]
        ax.axhline(1.0, color="0.3", lw=0.8)
        for model, m in rows.groupby("model"):
            for label, s in series(m):
                k = methods.index(label.split(" ")[0]) if label.split(" ")[0] in methods else 0
                color = colors.setdefault(model, f"C{len(colors) % 10}")
                paired_errorbar(ax, s, color, f"{model}: {label}", MARKERS[k % 5], STYLES[k % 4])
        ax.set_title(metric_title(rows.iloc[0]), fontsize=9)
        ax.invert_xaxis()
    if with_kl:
        _kl_panel(axes[len(metrics)], fidelity, colors)
    legend(fig, axes, "model: selection method")
    return save(fig, path)
