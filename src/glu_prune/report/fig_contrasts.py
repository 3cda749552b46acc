"""Each selection method against MAW at the same level, on the same documents: the paired ratio to
MAW (> 1 = better than MAW) with its 95 % interval, starred where the difference is
significant. The question "is MAW the best rule?" is answered by these intervals, not by two
intervals against the unpruned model side by side."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .intervals import ALPHA
from .metrics import headline
from .plotting import figure, grid, hide_unused, legend, log_if_wide, metric_title, save, series_label

BARS = (
    "points: method / MAW at the same level on the same documents (perplexities inverted: MAW / method), "
    "so > 1 = better than MAW; error bars: 95 % paired bootstrap interval; *: Benjamini-Hochberg "
    f"adjusted p < {ALPHA:g} over the model's contrasts (exact McNemar for 0/1 scores, paired "
    "permutation test otherwise)"
)


def headline_contrasts(frame):
    """The rows of each task's headline metric, with `better`, `better_low`, `better_high`: the
    ratio to MAW and its interval turned so that > 1 is better (the metric's direction from
    PRIMARY_METRICS)."""
    import numpy as np

    heads = [headline(t) for t in frame["task"]]
    keep = np.array(
        [
            m is not None and (r.metric, r.filter) == (m.name, m.filter)
            for m, r in zip(heads, frame.itertuples(), strict=True)
        ],
        bool,
    )
    rows = frame[keep]
    up = np.array([m.higher_is_better for m, k in zip(heads, keep, strict=True) if k], bool)
    r, lo, hi = (rows[c].to_numpy(float) for c in ("ratio", "ratio_ci_low", "ratio_ci_high"))
    with np.errstate(divide="ignore", invalid="ignore"):
        better = {"better": np.where(up, r, 1 / r), "better_low": np.where(up, lo, 1 / hi)}
        return rows.assign(**better, better_high=np.where(up, hi, 1 / lo))


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
        xlabel="GLU neurons pruned",
        ylabel="method / MAW  (> 1 = better than MAW)",
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
        ax.axhline(1.0, color="0.3", lw=0.8)
        ax.set_xticks(np.arange(len(levels)), [f"{lv:g} %" for lv in levels])
        log_if_wide(ax, t["better"])
        ax.set_title(metric_title(t.iloc[0]).replace("inverted", "MAW / method"), fontsize=9)
    legend(fig, axes, "against MAW")
    return save(fig, path)
