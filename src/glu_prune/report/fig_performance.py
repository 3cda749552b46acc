"""The performance trade-off: TTFT, TPOT, throughput and J/token against the expansion ratio,
measured next to ideal, the energy source named."""

from __future__ import annotations

import math
from pathlib import Path

from .plotting import XLABEL, figure, legend, save, uniq

# column, label, ideal scaling ("div": base / ideal, "mul": base * ideal), ideal column. Throughput
# and energy per token count computed tokens (batch x new_tokens, EOS or not): the same work at every
# level, so how often a pruned model emits EOS does not move the curve (real-token figures: CSV).
PERF_PANELS = (
    ("ttft_ms", "time to first token (ms)", "div", "ideal_speedup_prefill_flops"),
    ("tpot_ms", "time per output token (ms)", "div", "ideal_speedup"),
    ("fixed_length_tokens_per_s", "computed tokens / s (fixed length)", "mul", "ideal_speedup"),
    ("energy_j_per_computed_token", "net energy per computed token (J)", "div", "ideal_speedup"),
)


def _footer(frame) -> list[str]:
    workloads = sorted(frame["workload"].unique())
    first = frame.iloc[0]
    weights = "random weights (shapes only)" if str(first.get("random_weights")) == "True" else "real weights"
    load = frame["loadavg_1m_max"].max() if "loadavg_1m_max" in frame else math.nan
    footer = [
        "measured (solid): median over repeats, error bars min-max; ideal (dashed): the unpruned value "
        "scaled by the ratio of parameter bytes a decode step reads (TPOT, throughput, energy) or the "
        "prefill-FLOP ratio (TTFT); "
        "throughput and energy per token count every computed token (batch x new tokens, also after EOS): "
        "the same work at every level",
        f"model: {first['model']} ({weights}, {first.get('dtype')})   data source: prompts from the "
        f"packaged benchmark data (offline), workloads {', '.join(workloads)}   new tokens per row: "
        f"{', '.join(uniq(frame['new_tokens']))}   repeats: {', '.join(uniq(frame.get('repeats', [])))}",
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
    return footer


def _title(fb, col: str, label: str, batch) -> str:
    title = f"{label}, batch {batch}"
    if col == "energy_j_per_computed_token":
        est = fb["energy_estimate"].fillna(False).astype(bool).any() if "energy_estimate" in fb else False
        source = ", ".join(uniq(fb.get("energy_source", []))) or "none"
        title += f"\nsource: {source}{' (ESTIMATE)' if est else ''}"
    return title


def _panel(ax, fb, workloads, col, how, ideal_col) -> None:
    for i, w in enumerate(workloads):
        s = fb[fb["workload"] == w].sort_values("expansion_ratio", ascending=False)
        lo, hi = s.get(f"{col}_min"), s.get(f"{col}_max")
        yerr = (
            None if lo is None or hi is None else [(s[col] - lo).clip(lower=0), (hi - s[col]).clip(lower=0)]
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
        ideal = s[ideal_col] if ideal_col in s and s[ideal_col].notna().any() else s.get("ideal_speedup")
        if not base.empty and ideal is not None:
            b = base[col].iloc[0]
            scaled = b / ideal if how == "div" else b * ideal
            ax.plot(s["expansion_ratio"], scaled, ls="--", lw=1, color=f"C{i}", label=f"{w}: ideal")
    ax.invert_xaxis()


def performance_figure(frame, path: Path) -> Path:
    batches = sorted(frame["batch_size"].unique())
    workloads = sorted(frame["workload"].unique())
    fig, axes = figure(
        len(batches),
        4,
        _footer(frame),
        f"Inference trade-off against GLU expansion ratio: {frame.iloc[0]['model']}",
        panel=(3.2, 2.5),
        xlabel=XLABEL,
    )
    for r, batch in enumerate(batches):
        fb = frame[frame["batch_size"] == batch]
        for c, (col, label, how, ideal_col) in enumerate(PERF_PANELS):
            ax = axes[r][c]
            ax.set_title(_title(fb, col, label, batch), fontsize=9)
            if col not in fb or fb[col].isna().all():
                ax.text(
                    0.5, 0.5, f"no {col} in these results", transform=ax.transAxes, ha="center", va="center"
                )
                continue
            _panel(ax, fb, workloads, col, how, ideal_col)
    legend(fig, axes, "workload")
    return save(fig, path)
