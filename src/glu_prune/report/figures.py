"""The study's figures, drawn from the tidy result files (never from numbers typed in here).

1. capability against expansion ratio, normalised to the unpruned model, with error bars;
2. the fragile / robust / other grouping (the original study's hypothesis, tested);
3. the selection-method comparison (methods side by side at equal levels);
4. the performance trade-off: TTFT, TPOT, throughput and J/token against expansion ratio,
   measured next to ideal, the energy source named.

Every figure carries its model, data source, limits (n per task), few-shot counts and hardware.
What cannot be drawn from the given results is reported with the reason, never faked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..store import atomic_write_json, slug
from .analysis import group_retention, normalise_to_baseline
from .metrics import CAPABILITY_GROUPS_NOTE, CHANCE, GROUP_ORDER, NO_STDERR
from .plotting import (
    XLABEL,
    eval_context,
    figure,
    grid,
    hide_unused,
    legend,
    log_if_wide,
    metric_title,
    save,
    series,
    series_label,
    uniq,
)
from .results import ResultSet, join_key, key_cell, load_results

ERRORBARS = (
    "error bars: ±1 standard error (lm-eval's stderr, or a bootstrap over documents where it has none; "
    "propagated to the ratio by the delta method)"
)


@dataclass
class FigureReport:
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be drawn, and why


def _capability_figure(frame, path: Path, left_out=()):
    pruned = frame[frame["method"] != "none"]
    metrics = pruned[["task", "metric", "filter"]].drop_duplicates().sort_values(["task", "metric", "filter"])
    unknown = sorted(
        {f"{r.task} {r.metric}" for r in pruned.itertuples() if r.normalised_stderr != r.normalised_stderr}
    )
    notes = [
        ERRORBARS
        + "; perplexities inverted (unpruned / pruned) so that > 1 is better; grey band: the unpruned "
        "model's own ±1 s.e.; dotted: random guessing"
    ]
    if unknown:
        notes.append(f"{NO_STDERR}: {', '.join(unknown)} (drawn without error bars)")
    fig, axes = figure(
        *grid(len(metrics), 4),
        notes + eval_context(frame) + list(left_out),
        "Capability retained against GLU expansion ratio, normalised to the unpruned model",
        xlabel=XLABEL,
        ylabel="score / unpruned score  (> 1 = better)",
    )
    axes = hide_unused(axes, len(metrics))
    colors: dict = {}
    for ax, (_, m) in zip(axes, metrics.iterrows(), strict=False):
        rows = frame[
            (frame["task"] == m["task"]) & (frame["metric"] == m["metric"]) & (frame["filter"] == m["filter"])
        ]
        first = rows.iloc[0]
        base = rows[(rows["method"] == "none") & (rows["pruning_pct"] == 0)]
        if not base.empty:
            b = base.iloc[0]
            rel = b["baseline_stderr"] / b["baseline_value"] if b["baseline_value"] else math.nan
            if rel == rel:
                ax.axhspan(1 - rel, 1 + rel, color="0.88", zorder=0, label="unpruned ±1 s.e.")
            if m["task"] in CHANCE and first["higher_is_better"] and b["baseline_value"]:
                ax.axhline(
                    CHANCE[m["task"]] / b["baseline_value"],
                    ls=":",
                    color="0.4",
                    lw=1,
                    label="random guessing",
                )
        ax.axhline(1.0, color="0.3", lw=0.8)
        for label, s in series(rows):
            color = colors.setdefault(label, f"C{len(colors) % 10}")
            ax.errorbar(
                s["expansion_ratio"],
                s["normalised"],
                yerr=s["normalised_stderr"],
                marker="o",
                ms=3.5,
                lw=1.2,
                capsize=2,
                color=color,
                label=label,
            )
        ax.set_title(metric_title(first), fontsize=9)
        ax.invert_xaxis()
        log_if_wide(ax, rows["normalised"])
    legend(fig, axes, "selection method")
    return save(fig, path)


def _groups_figure(frame, path: Path, left_out=()):
    heads = frame[frame["headline"]]
    retention = group_retention(heads)
    fig, axes = figure(
        1,
        3,
        [
            CAPABILITY_GROUPS_NOTE,
            ERRORBARS + "; group s.e. from its tasks' s.e. (unknown when a task has none)",
            *eval_context(frame),
            *left_out,
        ],
        "Capability groups: bold = group mean of the headline metrics (±1 s.e.), thin = its tasks",
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
            ax.text(
                0.5,
                0.5,
                f"no '{group}' task\nin these results",
                transform=ax.transAxes,
                ha="center",
                va="center",
            )
        for label, s in series(gr):
            color = colors.setdefault(label, f"C{len(colors) % 10}")
            for _, t in s.groupby("task"):  # each task of the group, thin
                ax.plot(t["expansion_ratio"], t["normalised"], color=color, lw=0.7, alpha=0.35)
        rg = retention[retention["group"] == group] if not retention.empty else retention
        for (method, divisor, seed), s in (
            rg.groupby(["method", "divisor", "seed"], dropna=False) if not rg.empty else []
        ):
            label = series_label(method, divisor, seed)
            s = s.sort_values("expansion_ratio", ascending=False)
            xs, ys = [base_x, *s["expansion_ratio"]], [1.0, *s["retention"]]
            ax.errorbar(
                xs,
                ys,
                yerr=[0.0, *s["retention_stderr"]],
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


def _methods_figure(frame, path: Path, left_out=()):
    import numpy as np

    pruned = frame[(frame["method"] != "none") & frame["headline"]]
    counts = pruned.groupby("pruning_pct")["method"].nunique()
    levels = sorted(counts[counts >= 2].index)
    if not levels:
        return None
    pruned = pruned[pruned["pruning_pct"].isin(levels)]
    pruned = pruned.assign(
        series=[
            series_label(m, d, s)
            for m, d, s in zip(pruned["method"], pruned["divisor"], pruned["seed"], strict=False)
        ]
    )
    clash = pruned[pruned.duplicated(["series", "pruning_pct", "task", "metric", "filter"], keep=False)]
    if not clash.empty:
        r = clash.iloc[0]
        raise UserError(
            f"the results hold {r['series']} at {r['pruning_pct']:g} % on {r['task']} more than once "
            "(different limits or settings?): draw each setting from its own results dir"
        )
    labels = sorted(set(pruned["series"]))
    tasks = sorted(set(pruned["task"]))
    fig, axes = figure(
        *grid(len(tasks), 4),
        [ERRORBARS, *eval_context(frame), *left_out],
        "Neuron-selection methods at equal pruning levels, normalised to the unpruned model",
        xlabel="GLU neurons pruned",
        ylabel="score / unpruned score  (> 1 = better)",
    )
    axes = hide_unused(axes, len(tasks))
    width = 0.8 / len(labels)
    for ax, task in zip(axes, tasks, strict=False):
        t = pruned[pruned["task"] == task]
        for i, label in enumerate(labels):
            s = t[t["series"] == label].set_index("pruning_pct").reindex(levels)
            x = np.arange(len(levels)) + (i - (len(labels) - 1) / 2) * width
            ax.bar(
                x,
                s["normalised"],
                width,
                yerr=s["normalised_stderr"],
                capsize=2,
                color=f"C{i % 10}",
                label=label,
            )
        ax.axhline(1.0, color="0.3", lw=0.8)
        ax.set_xticks(np.arange(len(levels)), [f"{lv:g} %" for lv in levels])
        ax.set_title(metric_title(t.iloc[0]), fontsize=9)
    legend(fig, axes, "selection method")
    return save(fig, path)


# ----------------------------------------------------------------------------- performance

# column, label, ideal scaling ("div": base / ideal, "mul": base * ideal), ideal column. Throughput
# and energy per token count computed tokens (batch x new_tokens, EOS or not): the same work at every
# level, so how often a pruned model emits EOS does not move the curve (real-token figures: CSV).
PERF_PANELS = (
    ("ttft_ms", "time to first token (ms)", "div", "ideal_speedup_prefill_flops"),
    ("tpot_ms", "time per output token (ms)", "div", "ideal_speedup"),
    ("fixed_length_tokens_per_s", "computed tokens / s (fixed length)", "mul", "ideal_speedup"),
    ("energy_j_per_computed_token", "net energy per computed token (J)", "div", "ideal_speedup"),
)


def _performance_figure(frame, path: Path):
    batches = sorted(frame["batch_size"].unique())
    workloads = sorted(frame["workload"].unique())
    first = frame.iloc[0]
    weights = "random weights (shapes only)" if str(first.get("random_weights")) == "True" else "real weights"
    load = frame["loadavg_1m_max"].max() if "loadavg_1m_max" in frame else math.nan
    footer = [
        "measured (solid): median over repeats, error bars min-max; ideal (dashed): the unpruned value "
        "scaled by the "
        "ratio of parameter bytes a decode step reads (TPOT, throughput, energy) or the prefill-FLOP ratio "
        "(TTFT); throughput and "
        "energy per "
        "token count every computed token (batch x new tokens, also after EOS): the same work at every level",
        f"model: {first['model']} ({weights}, {first.get('dtype')})   data source: prompts from the "
        "packaged benchmark "
        f"data (offline), workloads {', '.join(workloads)}   new tokens per row: "
        f"{', '.join(uniq(frame['new_tokens']))}"
        f"   repeats: {', '.join(uniq(frame.get('repeats', [])))}",
        f"hardware: {'; '.join(uniq(frame.get('hardware', ['unknown'])))}   divisor: "
        f"{', '.join(uniq(frame.get('divisor', []))) or 'none'}   highest 1-min load average during the "
        f"runs: {load:.2f}",
    ]
    if "status" in frame:
        bad = frame[frame["status"].astype(str) != "complete"]
        if not bad.empty:
            footer.append(
                f"INCOMPLETE: {len(bad)} of {len(frame)} points have fewer repeats than planned or failed "
                f"measurements ({'; '.join(sorted(set(bad['status'].astype(str))))})"
            )
    fig, axes = figure(
        len(batches),
        4,
        footer,
        f"Inference trade-off against GLU expansion ratio: {first['model']}",
        panel=(3.2, 2.5),
        xlabel=XLABEL,
    )
    for r, batch in enumerate(batches):
        fb = frame[frame["batch_size"] == batch]
        for c, (col, label, how, ideal_col) in enumerate(PERF_PANELS):
            ax = axes[r][c]
            title = f"{label}, batch {batch}"
            if col == "energy_j_per_computed_token":
                est = (
                    fb["energy_estimate"].fillna(False).astype(bool).any()
                    if "energy_estimate" in fb
                    else False
                )
                source = ", ".join(uniq(fb.get("energy_source", []))) or "none"
                title += f"\nsource: {source}{' (ESTIMATE)' if est else ''}"
            ax.set_title(title, fontsize=9)
            if col not in fb or fb[col].isna().all():
                ax.text(
                    0.5, 0.5, f"no {col} in these results", transform=ax.transAxes, ha="center", va="center"
                )
                continue
            for i, w in enumerate(workloads):
                s = fb[fb["workload"] == w].sort_values("expansion_ratio", ascending=False)
                lo, hi = s.get(f"{col}_min"), s.get(f"{col}_max")
                yerr = (
                    None
                    if lo is None or hi is None
                    else [(s[col] - lo).clip(lower=0), (hi - s[col]).clip(lower=0)]
                )
                ax.errorbar(
                    s["expansion_ratio"],
                    s[col],
                    yerr=yerr,
                    marker="o",
                    ms=3.5,
                    capsize=2,
                    color=f"C{i}",
                    label=f"{w}: measured",
                )
                base = s[s["pruning_pct"] == 0]
                ideal = (
                    s[ideal_col] if ideal_col in s and s[ideal_col].notna().any() else s.get("ideal_speedup")
                )
                if not base.empty and ideal is not None:
                    b = base[col].iloc[0]
                    ax.plot(
                        s["expansion_ratio"],
                        b / ideal if how == "div" else b * ideal,
                        ls="--",
                        lw=1,
                        color=f"C{i}",
                        label=f"{w}: ideal",
                    )
            ax.invert_xaxis()
    legend(fig, axes, "workload")
    return save(fig, path)


# ----------------------------------------------------------------------------- driver


def draw_figures(results, out_dir=None) -> FigureReport:
    """Draw every figure the results allow into out_dir (default: <results>/figures).

    `results` is a directory (searched for tidy CSVs) or a ResultSet from load_results.
    Raises UserError when no result table is found at all.
    """
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    rs = results if isinstance(results, ResultSet) else load_results(results)
    if isinstance(results, ResultSet) and out_dir is None:
        raise UserError("give out_dir when passing a ResultSet")
    out = Path(out_dir) if out_dir is not None else Path(results) / "figures"
    if rs.evaluation.empty and rs.profiles.empty:
        raise UserError(f"no evaluation or profile results (tidy CSVs) found in {results}")
    report = FigureReport()
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.85):
        if rs.evaluation.empty:
            report.notes.append(
                "capability, group and method figures: no evaluation results (results.csv) found"
            )
        else:
            _capability_figures(rs.evaluation, out, report)
        if rs.profiles.empty:
            report.notes.append("performance figure: no profile results (*_profile_results.csv) found")
        else:
            _performance_figures(rs.profiles, out, report)
    if report.written:
        atomic_write_json(
            out / "figures.json",
            {
                "figures": [p.name for p in report.written],
                "not_drawn": report.notes,
                "inputs": rs.sources,
            },
        )
    return report


SWEEP_LEVELS = 3  # a series with at least this many pruned levels is a sweep


def _sweeps(frame):
    """(rows to draw against expansion ratio, labels left out). When some series are sweeps (many
    levels), series with only a few levels (a method comparison's) are left to the methods figure."""
    pruned = frame[frame["method"] != "none"]
    keys = ["method", "divisor", "seed"]
    levels = pruned.groupby(keys, dropna=False)["pruning_pct"].nunique()
    if levels.max() < SWEEP_LEVELS:
        return frame, []
    short = [k for k, n in levels.items() if n < SWEEP_LEVELS]
    short_keys = {"\x1f".join(map(key_cell, k)) for k in short}
    drop = pruned.index[join_key(pruned, keys).isin(short_keys)]
    return frame.drop(index=drop), [series_label(*k) for k in short]


def _capability_figures(evaluation, out: Path, report: FigureReport) -> None:
    norm = normalise_to_baseline(evaluation)
    for col in ("divisor", "seed", "expansion_ratio"):
        if col not in norm:
            norm[col] = math.nan
    for (model, source), frame in norm.groupby(["model", "data_source"]):
        name = f"{slug(model)}_{source}"
        if not ((frame["method"] == "none") & (frame["pruning_pct"] == 0)).any():
            report.notes.append(
                f"{model} ({source}): no unpruned baseline, so nothing can be normalised "
                "(evaluate level 0 with the same settings)"
            )
            continue
        if not (frame["method"] != "none").any():
            report.notes.append(
                f"{model} ({source}): only the unpruned model was evaluated; nothing to compare"
            )
            continue
        missing = frame[frame["normalised"].isna() & (frame["method"] != "none")]
        left_out = [
            f"not drawn: {task} {metric}{'' if flt == 'none' else ' ' + flt} ({shots}-shot): {note}"
            for (task, metric, flt, shots, note), _ in missing.groupby(
                ["task", "metric", "filter", "num_fewshot", "note"]
            )
        ]
        report.notes += [f"{model} ({source}) {line[len('not drawn: ') :]}" for line in left_out]
        frame = frame[frame["normalised"].notna()]
        if not (frame["method"] != "none").any():
            report.notes.append(
                f"{model} ({source}): no pruned result has an unpruned result with the same settings"
            )
            continue
        sweeps, short = _sweeps(frame)
        shown = left_out + (
            [
                f"not drawn here: {', '.join(short)} (fewer levels than the sweeps; see the method "
                "comparison figure)"
            ]
            if short
            else []
        )
        report.written.append(_capability_figure(sweeps, out / f"capability_vs_expansion_{name}.png", shown))
        report.written.append(_groups_figure(sweeps, out / f"capability_groups_{name}.png", shown))
        drawn = _methods_figure(frame, out / f"method_comparison_{name}.png", left_out)
        if drawn is None:
            report.notes.append(
                f"{model} ({source}) method comparison: at no pruning level were two or more "
                "selection methods evaluated"
            )
        else:
            report.written.append(drawn)


def _performance_figures(profiles, out: Path, report: FigureReport) -> None:
    p = profiles.copy()
    for col in ("random_weights", "dtype", "hardware", "prune_method", "divisor", "new_tokens"):
        if col not in p:
            p[col] = None
    keys = ["model", "random_weights", "dtype", "hardware", "prune_method", "divisor", "new_tokens"]
    lengths = p["new_tokens"].nunique(dropna=False) > 1  # then the file name tells them apart
    for key, frame in p.groupby(keys, dropna=False):
        ctx = dict(zip(keys, key, strict=False))
        if not (frame["pruning_pct"] == 0).any():
            report.notes.append(
                f"performance {ctx['model']} ({ctx['hardware']}): no unpruned (level 0) measurement "
                "in this series; ideal curves need it"
            )
        div = ctx["divisor"]
        name = "_".join(
            filter(
                None,
                [
                    slug(ctx["model"]),
                    "random-weights" if str(ctx["random_weights"]) == "True" else None,
                    str(ctx["dtype"]),
                    slug(ctx["hardware"])[:40],
                    str(ctx["prune_method"]),
                    f"d{int(div)}" if div == div and div else None,
                    f"n{key_cell(ctx['new_tokens'])}" if lengths else None,
                ],
            )
        )
        report.written.append(_performance_figure(frame, out / f"performance_{name}.png"))


def show_figures(paths) -> None:
    """Display PNG files inline in a notebook (figures live on disk; notebooks only show them)."""
    from IPython.display import Image, display

    for path in paths:
        display(Image(filename=str(path)))
