"""Several models side by side against the GLU expansion ratio (the original study's 1B-vs-3B
question): does the same ratio cost the same on each? Paired intervals, one colour per model, one
line style per swept series. Only the series every model was swept along are drawn: a method scored
at the comparison's few levels alone is the method-comparison figure's, not a curve."""

from __future__ import annotations

from pathlib import Path

from .fig_capability import PAIRED_BARS, YLABEL, mark_significant
from .fig_fidelity import Z95
from .intervals import significance_note
from .plotting import (
    XLABEL,
    figure,
    grid,
    hide_unused,
    legend,
    metric_title,
    paired_errorbar,
    save,
    series,
    series_label,
)

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


def swept(frame) -> list[str]:
    """Series labels (method, divisor, seed) that every model of `frame` has at as many pruned
    levels as its longest series: the sweeps both models ran, not one model's comparison points."""
    pruned = frame[frame["method"] != "none"]
    if pruned.empty:
        return []
    levels = pruned.assign(label=_label_column).groupby(["model", "label"])["pruning_pct"].nunique()
    longest = levels.groupby(level="model").transform("max")
    per_model = [
        set(g.index.get_level_values("label")) for _, g in levels[levels == longest].groupby(level="model")
    ]
    return sorted(set.intersection(*per_model))


def _style(label: str, labels: list[str]) -> tuple[str, str]:
    k = labels.index(label)
    return MARKERS[k % len(MARKERS)], STYLES[k % len(STYLES)]


def _kl_panel(ax, kl, colors, labels, kept) -> None:
    for label, s in series(kl):
        if label not in kept:
            continue
        for model, m in s.groupby("model"):
            marker, ls = _style(label, labels)
            ax.errorbar(
                m["expansion_ratio"],
                m["value"],
                yerr=(Z95 * m["stderr"].astype(float)).fillna(0),
                marker=marker,
                ls=ls,
                ms=3.5,
                capsize=2,
                color=colors.setdefault(model, f"C{len(colors) % 10}"),
                label=f"{model}: {label}",
            )
    ax.set_yscale("log")
    ax.set_title(
        f"fidelity: KL(unpruned || pruned), nats/token\n({', '.join(sorted(set(kl['text'])))})", fontsize=9
    )
    ax.invert_xaxis()


def _label_column(frame):
    return [series_label(*k) for k in zip(frame["method"], frame["divisor"], frame["seed"], strict=True)]


def _swept_rows(norm, metrics):
    """The headline rows of each shared metric's swept series and its baselines, labelled."""
    import pandas as pd

    kept = []
    for task, metric, flt in metrics:
        rows = norm[(norm["task"] == task) & (norm["metric"] == metric) & (norm["filter"] == flt)]
        rows = rows[rows["headline"]].assign(label=_label_column)
        kept.append(rows[(rows["method"] == "none") | rows["label"].isin(swept(rows))])
    return pd.concat(kept)


def models_figure(norm, fidelity, path: Path) -> Path | None:
    """None when fewer than two models share a metric."""
    metrics = shared_metrics(norm)
    with_kl = fidelity is not None and not fidelity.empty and fidelity["model"].nunique() >= 2
    if not metrics and not with_kl:
        return None
    frame, family = mark_significant(_swept_rows(norm, metrics)) if metrics else (norm, 0)
    kl = fidelity[fidelity["metric"] == "kl_mean"] if with_kl else None
    curves = frame.loc[frame["method"] != "none", "label"] if metrics else ()
    kl_curves = swept(kl) if with_kl else []
    labels = sorted({*curves, *kl_curves})
    panels = len(metrics) + with_kl
    models = sorted(set(frame["model"] if metrics else []) | (set(fidelity["model"]) if with_kl else set()))
    notes = [PAIRED_BARS, significance_note(family)] if metrics else [KL_BARS]
    notes.append(f"models: {', '.join(models)}; line style: the series every model was swept along")
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
    for ax, (task, metric, flt) in zip(axes, metrics, strict=False):
        rows = frame[(frame["task"] == task) & (frame["metric"] == metric) & (frame["filter"] == flt)]
        ax.axhline(1.0, color="0.3", lw=0.8)
        for model, m in rows.groupby("model"):
            color = colors.setdefault(model, f"C{len(colors) % 10}")
            for label, s in series(m):
                paired_errorbar(ax, s, color, f"{model}: {label}", *_style(label, labels))
        ax.set_title(metric_title(rows.iloc[0]), fontsize=9)
        ax.invert_xaxis()
    if with_kl:
        _kl_panel(axes[len(metrics)], kl, colors, labels, kl_curves)
    legend(fig, axes, "model: series")
    return save(fig, path)
