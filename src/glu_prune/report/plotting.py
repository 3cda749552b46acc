"""Shared pieces of the study's figures: the figure scaffold with its footer, legends, series
labels, and the context lines (model, data, n per task, hardware) every figure carries."""

from __future__ import annotations

import io
import math
import textwrap
from pathlib import Path

from ..prune import METHODS
from ..store import atomic_write_bytes

DPI = 130
MIN_WIDTH = 9.0  # inches: a one-panel figure still has room for its title, legend and footer
XLABEL = "GLU expansion ratio (intermediate / hidden size); pruning increases to the right"


def save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)  # fixed layout: one draw (tight bboxes cost 3 more)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def figure(
    nrows: int,
    ncols: int,
    footer: list[str],
    title: str,
    panel=(3.3, 2.5),
    legend_in=1.9,
    xlabel: str | None = None,
    ylabel: str | None = None,
    sharey=False,
):
    """A grid of panels with fixed margins (inches): title on top, legend on the right, the
    footer (provenance, settings) wrapped to the figure's width at the bottom."""
    import matplotlib.pyplot as plt

    left, gap_w, gap_h, top = 0.75, 0.55, 0.75, 0.6
    width = max(left + ncols * panel[0] + (ncols - 1) * gap_w + legend_in, MIN_WIDTH)  # room for the title
    lines = [w for line in footer for w in textwrap.wrap(line, int(width * 17)) or [""]]
    bottom = 0.65 + 0.13 * len(lines)
    height = top + nrows * panel[1] + (nrows - 1) * gap_h + bottom
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, sharey=sharey)
    fig.subplots_adjust(
        left=left / width,
        right=1 - legend_in / width,
        top=1 - top / height,
        bottom=bottom / height,
        wspace=gap_w / panel[0],
        hspace=gap_h / panel[1],
    )
    fig.suptitle(title, fontsize=11, y=1 - 0.12 / height, va="top")
    fig.text(0.08 / width, 0.08 / height, "\n".join(lines), ha="left", va="bottom", fontsize=7, color="0.25")
    if xlabel:
        fig.text(
            0.5 * (left / width + 1 - legend_in / width),
            (0.12 + 0.13 * len(lines) + 0.12) / height,
            xlabel,
            ha="center",
            va="bottom",
            fontsize=9,
        )
    if ylabel:
        fig.text(
            0.1 / width,
            0.5 * (1 - top / height + bottom / height),
            ylabel,
            rotation=90,
            ha="left",
            va="center",
            fontsize=9,
        )
    return fig, axes


def legend(fig, axes, title=None) -> None:
    handles = {}
    for ax in list(getattr(axes, "flat", axes)):
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=False):
            handles.setdefault(lab, h)
    if handles:
        fig.legend(
            handles.values(),
            handles.keys(),
            loc="upper right",
            fontsize=8,
            title=title,
            title_fontsize=8,
            frameon=False,
        )


def series_label(method, divisor, seed) -> str:
    label = str(method)
    if divisor == divisor and divisor is not None:
        label += f" /{int(divisor)}"
    if seeded(method) and seed == seed and seed is not None:
        label += f" s{int(seed)}"
    return label


def seeded(method) -> bool:
    """Methods whose result depends on the seed (random; data-driven: calibration sampling)."""
    return method in METHODS and METHODS[method].uses_seed


def uniq(values) -> list:
    return sorted({str(v) for v in values if v == v and v is not None})


def eval_context(frame) -> list[str]:
    """Footer lines: model, data source, n scored and limit per task, few-shot, chat template, hardware."""
    per_task = frame.groupby("task").agg(
        n=("n_samples", "max"), limit=("limit", "max"), shots=("num_fewshot", "max")
    )
    n = ", ".join(
        f"{t} {num(r.n)} ({'all' if r.limit != r.limit else num(r.limit)})" for t, r in per_task.iterrows()
    )
    few = (
        ", ".join(
            f"{t} {num(r.shots)}-shot" for t, r in per_task.iterrows() if r.shots == r.shots and r.shots
        )
        or "all 0-shot"
    )
    chat = ", ".join(uniq(frame.get("chat_template", []))).replace("True", "on").replace("False", "off")
    return [
        f"model: {frame['model'].iloc[0]}   data source: {', '.join(uniq(frame['data_source']))}   "
        f"few-shot: {few}"
        f"   chat template: {chat or 'unknown'}",
        f"documents scored per task (limit): {n}",
        f"hardware: {'; '.join(uniq(frame['hardware']))}   project commit: "
        f"{', '.join(uniq(frame.get('project_commit', []))) or 'unknown'}",
    ]


def num(v) -> str:
    return "?" if v != v or v is None else f"{v:g}"


def grid(n: int, ncols: int) -> tuple[int, int]:
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


def hide_unused(axes, n: int) -> list:
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return flat[:n]


def metric_title(row) -> str:
    flt = "" if row["filter"] == "none" else f" ({row['filter']})"
    inverted = "" if row["higher_is_better"] else " (lower is better: inverted)"
    return f"{row['task']}: {row['metric']}{flt}{inverted}"


def series(frame):
    """(label, rows sorted by expansion ratio) per pruned series, each starting at the baseline."""
    import pandas as pd

    base = frame[(frame["method"] == "none") & (frame["pruning_pct"] == 0)]
    pruned = frame[frame["method"] != "none"]
    out = []
    for (method, divisor, seed), g in pruned.groupby(["method", "divisor", "seed"], dropna=False):
        rows = g if base.empty else pd.concat([base, g])
        out.append(
            (series_label(method, divisor, seed), rows.sort_values("expansion_ratio", ascending=False))
        )
    return out


def log_if_wide(ax, values) -> None:
    """Log scale when the ratios span more than 20x (perplexities of heavily pruned models). Where
    some are 0 (an accuracy lost entirely) the scale is linear below the smallest positive ratio, so
    those points stay on the plot instead of vanishing from a log axis."""
    v = values[values > 0]
    if len(v) and v.max() / v.min() > 20:
        if (values <= 0).any():
            ax.set_yscale("symlog", linthresh=float(v.min()))
            ax.set_ylim(bottom=0)  # a ratio is never negative: no mirrored half-axis
        else:
            ax.set_yscale("log")


def paired_errorbar(ax, s, color, label, marker="o", linestyle="-") -> None:
    """One series: its line with each level's paired 95 % interval (normalised_ci_*), markers
    filled where the change is significant (column `significant`), open where it is not."""
    import numpy as np

    y = s["normalised"].to_numpy(float)
    lo = np.clip(y - s["normalised_ci_low"].to_numpy(float), 0, None)  # NaN: no interval, no bar
    hi = np.clip(s["normalised_ci_high"].to_numpy(float) - y, 0, None)
    x = s["expansion_ratio"].to_numpy(float)
    ax.errorbar(x, y, yerr=[lo, hi], color=color, lw=1.2, capsize=2, ls=linestyle, label=label)
    filled = s.get("significant", False)
    filled = np.asarray(filled if not np.isscalar(filled) else [filled] * len(s), bool)
    ax.scatter(x[filled], y[filled], s=22, marker=marker, color=color, zorder=3)
    ax.scatter(x[~filled], y[~filled], s=22, marker=marker, facecolors="white", edgecolors=color, zorder=3)
