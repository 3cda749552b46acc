"""The study's figures, drawn from the tidy result files (never from numbers typed in here).

1. capability against expansion ratio, normalised to the unpruned model, with paired intervals;
2. the fragile / robust / other grouping (the original study's hypothesis, tested);
3. the selection-method comparison (methods side by side at equal levels), and each method against
   MAW on the same documents;
4. fidelity to the unpruned model (KL, top-1 agreement) against expansion ratio;
5. IFEval by kind of instruction (what a pruned model still "follows", and why), and the two-choice
   tasks' balanced accuracy and answer shares (skill or answer bias);
6. several models side by side against the expansion ratio (when the results hold two or more), and
   at an expansion ratio two models share, the difference of the shares they keep, paired;
7. the performance trade-off: TTFT, TPOT, throughput and J/token against expansion ratio,
   measured next to ideal, the energy source named.

Every figure carries its model, data source, limits (n per task), few-shot counts and hardware.
What cannot be drawn from the given results is reported with the reason, never faked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..evaluate.across_models import MATCHED_ON
from ..store import atomic_write_json, slug
from .analysis import normalise_to_baseline
from .fig_answer_bias import answer_bias_figure
from .fig_capability import capability_figure
from .fig_contrasts import contrasts_figure
from .fig_fidelity import fidelity_figure
from .fig_groups import groups_figure
from .fig_ifeval_kinds import ifeval_kinds_figure
from .fig_methods import methods_figure
from .fig_models import models_figure
from .fig_models_compared import models_compared_figure
from .fig_performance import performance_figure
from .plotting import series_label
from .results import ResultSet, join_key, key_cell, load_results


@dataclass
class FigureReport:
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be drawn, and why

    def add(self, drawn: Path | None, why: str) -> None:
        """A figure drawer's answer: the figure, or None and the reason written here."""
        if drawn is None:
            self.notes.append(why)
        else:
            self.written.append(drawn)


def draw_figures(results, out_dir=None) -> FigureReport:
    """Draw every figure the results allow into out_dir (default: <results>/figures).

    `results` is a directory (searched for tidy CSVs) or a ResultSet from load_results.
    Raises UserError when no result table is found at all.
    """
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd
    import seaborn as sns

    rs = results if isinstance(results, ResultSet) else load_results(results)
    if isinstance(results, ResultSet) and out_dir is None:
        raise UserError("give out_dir when passing a ResultSet")
    out = Path(out_dir) if out_dir is not None else Path(results) / "figures"
    fidelity = rs.fidelity if rs.fidelity is not None else pd.DataFrame()
    kinds = rs.ifeval_kinds if rs.ifeval_kinds is not None else pd.DataFrame()
    contrasts = rs.contrasts if rs.contrasts is not None else pd.DataFrame()
    bias = rs.answer_bias if rs.answer_bias is not None else pd.DataFrame()
    compared = rs.models_compared if rs.models_compared is not None else pd.DataFrame()
    if all(t.empty for t in (rs.evaluation, rs.profiles, fidelity, kinds, contrasts, bias, compared)):
        raise UserError(f"no evaluation, fidelity or profile results (tidy CSVs) found in {results}")
    report = FigureReport()
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.85):
        if rs.evaluation.empty:
            report.notes.append(
                "capability, group and method figures: no evaluation results (results.csv) found"
            )
        else:
            _capability_figures(rs.evaluation, out, report)
        if fidelity.empty:
            report.notes.append("fidelity figure: no fidelity results (fidelity_results.csv) found")
        else:
            _fidelity_figures(fidelity, out, report)
        _per_model(contrasts, contrasts_figure, "method_contrasts", out, report)
        _per_model(kinds, ifeval_kinds_figure, "ifeval_kinds", out, report)
        _per_model(bias, answer_bias_figure, "answer_bias", out, report)
        _models_figures(rs.evaluation, fidelity, out, report)
        _models_compared_figures(compared, out, report)
        if rs.profiles.empty:
            report.notes.append("performance figure: no profile results (*_profile_results.csv) found")
        else:
            _performance_figures(rs.profiles, out, report)
    if report.written:
        manifest = {
            "figures": [p.name for p in report.written],
            "not_drawn": report.notes,
            "inputs": rs.sources,
        }
        atomic_write_json(out / "figures.json", manifest)
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


def _normalised(evaluation):
    norm = normalise_to_baseline(evaluation)
    for col in ("divisor", "seed", "expansion_ratio"):
        if col not in norm:
            norm[col] = math.nan
    return norm


def _drawable(frame, model, source, report: FigureReport):
    """(rows with a baseline to normalise to, footer lines of what is left out) or None with a note."""
    if not ((frame["method"] == "none") & (frame["pruning_pct"] == 0)).any():
        report.notes.append(
            f"{model} ({source}): no unpruned baseline, so nothing can be normalised "
            "(evaluate level 0 with the same settings)"
        )
        return None
    if not (frame["method"] != "none").any():
        report.notes.append(f"{model} ({source}): only the unpruned model was evaluated; nothing to compare")
        return None
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
        return None
    return frame, left_out


def _capability_figures(evaluation, out: Path, report: FigureReport) -> None:
    for (model, source), frame in _normalised(evaluation).groupby(["model", "data_source"]):
        name = f"{slug(model)}_{source}"
        drawable = _drawable(frame, model, source, report)
        if drawable is None:
            continue
        frame, left_out = drawable
        sweeps, short = _sweeps(frame)
        shown = left_out + [
            f"not drawn here: {label} (fewer levels than the sweeps; see the method comparison figure)"
            for label in ([", ".join(short)] if short else [])
        ]
        report.written.append(capability_figure(sweeps, out / f"capability_vs_expansion_{name}.png", shown))
        report.written.append(groups_figure(sweeps, out / f"capability_groups_{name}.png", shown))
        report.add(
            methods_figure(frame, out / f"method_comparison_{name}.png", left_out),
            f"{model} ({source}) method comparison: at no pruning level were two or more "
            "selection methods evaluated",
        )


def _per_model(table, draw, prefix: str, out: Path, report: FigureReport) -> None:
    """One figure per model and data source of a derived table (contrasts, IFEval kinds, answer bias)."""
    for (model, source), frame in table.groupby(["model", "data_source"]) if not table.empty else []:
        report.add(
            draw(frame, out / f"{prefix}_{slug(model)}_{source}.png"),
            f"{prefix} {model} ({source}): no row of a task's headline metric",
        )


def _fidelity_figures(fidelity, out: Path, report: FigureReport) -> None:
    keys = ["model", "text", "window", "dtype"]
    several = {k: fidelity[k].nunique() > 1 for k in ("window", "dtype")}
    for key, frame in fidelity.groupby(keys):
        ctx = dict(zip(keys, key, strict=True))
        parts = [slug(ctx["model"]), slug(ctx["text"])]
        if several["window"]:
            parts.append(f"w{ctx['window']}")
        if several["dtype"]:
            parts.append(str(ctx["dtype"]))
        report.written.append(fidelity_figure(frame, out / f"fidelity_vs_expansion_{'_'.join(parts)}.png"))


def _models_figures(evaluation, fidelity, out: Path, report: FigureReport) -> None:
    import pandas as pd

    models = set(evaluation["model"]) if not evaluation.empty else set()
    models |= set(fidelity["model"]) if not fidelity.empty else set()
    if len(models) < 2:
        report.notes.append("models side by side: these results hold one model")
        return
    norm = _normalised(evaluation) if not evaluation.empty else pd.DataFrame()
    sources = sorted(set(norm["data_source"])) if not norm.empty else ["offline"]
    for source in sources:
        part = norm[norm["data_source"] == source] if not norm.empty else norm
        report.add(
            models_figure(part, fidelity, out / f"models_vs_expansion_{source}.png"),
            f"models side by side ({source}): no metric was measured on two or more models",
        )


def _models_compared_figures(table, out: Path, report: FigureReport) -> None:
    for source, frame in table.groupby("data_source") if not table.empty else []:
        for matched_on, word in MATCHED_ON.items():
            name = {"percentage": "pct"}.get(word, word)
            report.add(
                models_compared_figure(frame, matched_on, out / f"models_equal_{name}_{source}.png"),
                f"models at equal {word}s ({source}): no task's headline metric compared",
            )


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
        report.written.append(performance_figure(frame, out / f"performance_{name}.png"))


def show_figures(paths) -> None:
    """Display PNG files inline in a notebook (figures live on disk; notebooks only show them)."""
    from IPython.display import Image, display

    for path in paths:
        display(Image(filename=str(path)))
