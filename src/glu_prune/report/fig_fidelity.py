"""Fidelity to the unpruned model against the GLU expansion ratio: KL divergence, top-1 agreement
and the token-perplexity ratio, one line per selection method."""

from __future__ import annotations

from pathlib import Path

from .plotting import XLABEL, figure, legend, num, save, series_label, uniq

Z95 = 1.959964
PANELS = (  # metric, title, log scale, the unpruned model's value (by definition)
    ("kl_mean", "KL(unpruned || pruned), nats per token", True, None),
    ("top1_agreement", "top-1 agreement with the unpruned model", False, 1.0),
    ("ppl_ratio", "token perplexity, pruned / unpruned", True, 1.0),
)
BARS = (
    "error bars: 95 % (+-1.96 x the bootstrap standard error over windows); the unpruned model is the "
    "reference (KL 0, agreement 1, ratio 1; drawn at its expansion ratio where the scale allows)"
)


def original_ratio(row) -> float:
    """The unpruned model's expansion ratio: the pruned width is original x (1 - effective pct / 100)."""
    return row["expansion_ratio"] / (1 - row["effective_pruning_pct"] / 100)


def context(frame) -> list[str]:
    def cells(col) -> str:
        return ", ".join(
            sorted({num(v) if isinstance(v, (int, float)) else str(v) for v in frame[col].dropna()})
        )

    first = frame.iloc[0]
    return [
        f"model: {first['model']} ({cells('dtype')})   text: {cells('text')} ({cells('data_source')}), "
        f"windows of {cells('window')} tokens, {num(frame['n_samples'].max())} scored tokens "
        f"(at most {cells('limit') or 'all'} windows)",
        f"hardware: {'; '.join(uniq(frame.get('hardware', ['unknown'])))}   project commit: "
        f"{', '.join(uniq(frame.get('project_commit', []))) or 'unknown'}",
    ]


def fidelity_figure(frame, path: Path) -> Path:
    x0 = original_ratio(frame.iloc[0])
    fig, axes = figure(
        1,
        3,
        [BARS, *context(frame)],
        "Fidelity to the unpruned model against GLU expansion ratio",
        xlabel=XLABEL,
    )
    axes = list(axes.flat)
    keys = ["method", "divisor", "seed"]
    pad = 0.05 * (x0 - frame["expansion_ratio"].min() or 1)
    for ax, (metric, title, log, reference) in zip(axes, PANELS, strict=True):
        rows = frame[frame["metric"] == metric]
        for i, (key, s) in enumerate(rows.groupby(keys, dropna=False)):
            s = s.sort_values("expansion_ratio", ascending=False)
            xs, ys = list(s["expansion_ratio"]), list(s["value"])
            errs = list((Z95 * s["stderr"].astype(float)).fillna(0))
            if reference is not None:
                xs, ys, errs = [x0, *xs], [reference, *ys], [0.0, *errs]
            ax.errorbar(
                xs, ys, yerr=errs, marker="o", ms=3.5, capsize=2, color=f"C{i % 10}", label=series_label(*key)
            )
        ax.set_title(title, fontsize=9)
        if log:
            ax.set_yscale("log")
        ax.set_xlim(x0 + pad, frame["expansion_ratio"].min() - pad)  # the same range in every panel
    legend(fig, axes, "selection method")
    return save(fig, path)
