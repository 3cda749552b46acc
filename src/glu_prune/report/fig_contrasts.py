"""Each selection method against MAW at the same level, on the same documents, with its paired 95 %
interval, starred where the difference is significant. The question "is MAW the best rule?" is
answered by these intervals, not by two intervals against the unpruned model side by side.

Scores (higher is better) are drawn as the difference method - MAW: a ratio explodes where MAW is
near 0 (LAMBADA at 40 % on SmolLM2). Perplexities are drawn as the ratio MAW / method, so > 1 is
better on every panel's own scale."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .intervals import ALPHA, better_ratio
from .metrics import headline, headline_mask
from .plotting import figure, grid, hide_unused, legend, log_if_wide, save, series_label

BARS = (
    "points: method against MAW at the same level on the same documents: scores as method - MAW (> 0 = "
    "better than MAW), perplexities as MAW / method (> 1 = better); error bars: 95 % paired bootstrap "
    "interval; *: Benjamini-Hochberg "
    f"adjusted p < {ALPHA:g} over the model's contrasts (exact McNemar for 0/1 scores, paired "
    "permutation test otherwise)"
)


def headline_contrasts(frame):
    """The rows of each task's headline metric, with `better`, `better_low`, `better_high` and the
    `reference` line they are read against: the difference to MAW (0) for scores, the ratio MAW /
    method (1) for metrics where lower is better."""
    import numpy as np

    rows = frame[headline_mask(frame)]
    up = np.array([headline(t).higher_is_better for t in rows["task"]], bool)
    ratio = better_ratio(up, *(rows[c].to_numpy(float) for c in ("ratio", "ratio_ci_low", "ratio_ci_high")))
    delta = (rows[c].to_numpy(float) for c in ("delta", "delta_ci_low", "delta_ci_high"))
    better, low, high = (np.where(up, d, r) for d, r in zip(delta, ratio, strict=True))
    return rows.assign(better=better, better_low=low, better_high=high, reference=np.where(up, 0.0, 1.0))


def contrasts_figure(frame, path: Path) -> Path | None:
    """None when no task's headline metric has a contrast."""
    import numpy as np

    rows = headline_contrasts(frame)
    if rows.empty:
        return None
    rows = rows.assign(
        series=[series_label(*k) for k in zip(rows["method"], rows["divisor"], rows["seed"], strict=True)]
    )
    clash = rows[rows.duplicated(["series", "pruning_pct", "task"], keep=False)]
    if not clash.empty:
        r = clash.iloc[0]
        raise UserError(
            f"the contrasts hold {r['series']} at {r['pruning_pct']:g} % on {r['task']} more than once "
            "(different limits or settings?): draw each setting from its own results dir"
        )
    labels, tasks = sorted(set(rows["series"])), sorted(set(rows["task"]))
    levels = sorted(set(rows["pruning_pct"]))
    first = rows.iloc[0]
    n = ", ".join(f"{t} {int(g['n_paired'].max())}" for t, g in rows.groupby("task"))
    footer = [BARS, f"model: {first['model']}   data source: {first['data_source']}   documents paired: {n}"]
    fig, axes = figure(
        *grid(len(tasks), 4),
        footer,
        "Selection methods against MAW at the same pruning level (paired on the same documents)",
        xlabel="GLU neurons pruned   (each panel's title names its scale; above the line = better than MAW)",
    )
    axes = hide_unused(axes, len(tasks))
    width = 0.7 / len(labels)
    for ax, task in zip(axes, tasks, strict=False):
        t = rows[rows["task"] == task]
        for i, label in enumerate(labels):
            s = t[t["series"] == label].set_index("pruning_pct").reindex(levels)
            x = np.arange(len(levels)) + (i - (len(labels) - 1) / 2) * width
            y = s["better"].to_numpy(float)
            err = [np.clip(y - s["better_low"], 0, None), np.clip(s["better_high"] - y, 0, None)]
            ax.errorbar(x, y, yerr=err, fmt="o", ms=5, capsize=3, color=f"C{(i + 1) % 10}", label=label)
            for xi, top, p in zip(x, s["better_high"].fillna(s["better"]), s["p_adjusted"], strict=True):
                if p == p and p < ALPHA:
                    ax.text(xi, top, "*", ha="center", va="bottom", fontsize=9)
        reference = t["reference"].iloc[0]
        ax.axhline(reference, color="0.3", lw=0.8)
        ax.set_xticks(np.arange(len(levels)), [f"{lv:g} %" for lv in levels])
        if reference:
            log_if_wide(ax, t["better"])
        first = t.iloc[0]
        flt = "" if first["filter"] == "none" else f" ({first['filter']})"
        scale = "MAW / method" if reference else "method - MAW"
        ax.set_title(f"{task}: {first['metric']}{flt}, {scale}", fontsize=9)
    legend(fig, axes, "against MAW")
    return save(fig, path)
