"""A whole study from one plan: architecture -> per model: method comparison, capability sweep,
fidelity, profile -> the models side by side at equal expansion ratios -> figures.

The plan is typed data (plan.py). Each part (one model) works in its own folder of the run dir;
every part writes its results into the same results dir (file names carry the model), and the
figures are drawn once, at the end, from everything there. Evaluation work is split into jobs run
by `lanes` worker processes with one torch thread each. Every job writes checkpoints, so rerunning
the same command continues where a stopped run left off. The profile runs after the evaluation
lanes are done, alone, so they do not disturb its timings. Consolidated files hold exactly the
planned runs, never a stale checkpoint left in the run dir.
"""

from __future__ import annotations

import os
import time
from fnmatch import fnmatchcase
from functools import partial
from pathlib import Path

from ..errors import UserError
from ..evaluate import write_across_models
from ..evaluate.across_models import FILES
from ..profile import consolidate_profiles, record_keys, run_carbon_profiling
from ..prune import write_tables
from ..report import draw_figures
from ..report.metrics import CHANCE
from ..store import atomic_write_json
from .console import Console
from .jobs import (
    best_data_method,
    comparison_pairs,
    consolidate,
    consolidate_fidelity_view,
    evaluation_jobs,
    fidelity_dir,
    prepare_best,
    select_jobs,
    sweep_pairs,
)
from .plan import ModelPlan, StudyPlan, load_plan
from .pool import run_pool
from .restore import restore_part


def run_study(
    plan: StudyPlan | str,
    out: str | Path,
    results: str | Path | None = None,
    lanes: int | None = None,
    profile: bool = True,
    log=print,
    progress: bool = True,
    work: bool = True,
    only: list[str] | None = None,
    restore_from: str | Path | None = None,
) -> dict:
    """Run every phase of every part of the plan; return a status dict (also written to
    <out>/status.json). Results go to `results` (default: out). work=False runs nothing: it
    consolidates what the run dir holds so far and draws the figures (a running study's peek).
    `only` (shell patterns of job names, "profile" among them) runs those jobs alone, in the
    patterns' order; the results files still hold every planned run the run dir has. `restore_from`
    (a results dir) first writes the runs consolidated there back into the run dir (restore.py)."""
    plan = load_plan(plan) if isinstance(plan, str) else plan
    if lanes is not None and lanes < 1:
        raise UserError(f"lanes must be at least 1, got {lanes}")
    if only is not None:
        _check_patterns(plan, only)
        profile = profile and any(fnmatchcase("profile", p) for p in only)
    out = Path(out).resolve()
    results = Path(results).resolve() if results else out
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "plan.json", plan.to_dict())
    start, load = time.time(), [os.getloadavg()[0]]
    status: dict = {"plan": plan.source, "out": str(out), "results": str(results), "parts": {}}
    profile = profile and work
    total = sum(
        len(select_jobs(evaluation_jobs(p), only)) + (len(p.profile.divisors) if profile else 0)
        for p in plan.parts
    )
    total = total if work else 0
    console = Console(total, log, progress and work)  # --report-only: messages, no bar
    try:
        console.say("[1/5] architecture tables (config only)")
        _architecture(plan, results)
        for part in plan.parts:
            if restore_from is not None:
                _restore(part, Path(restore_from), out / part.name, console)
            part_run = _PartRun(part, plan.source, out / part.name, results, lanes or part.lanes, console)
            status["parts"][part.name] = part_run.run(profile, work, only)
        status["models_compared"] = _across_models(plan, results, console)
        with console.reporting_damage("figures"):
            report = draw_figures(results, results / "figures")
    finally:
        console.close()
    load.append(os.getloadavg()[0])
    status.update(
        figures={"written": [p.name for p in report.written], "not_drawn": report.notes},
        damaged=console.damaged,
        minutes=(time.time() - start) / 60,
        load1_start_end=load,
        complete=all(p["complete"] for p in status["parts"].values()),
    )
    atomic_write_json(out / "status.json", status)
    return status


def _across_models(plan: StudyPlan, results: Path, console: Console) -> dict | None:
    """The parts' pruned runs at the expansion ratios and percentages two models share
    (evaluate/across_models.py)."""
    several = len({p.name for p in plan.parts}) > 1
    console.say(f"[5/5] {'models at equal expansion ratios and percentages, ' if several else ''}figures")
    views = [v for p in plan.parts for v in (p.sweep_view, p.comparison_view)]
    completes = [results / f"{v}_complete.json" for v in views if (results / f"{v}_complete.json").is_file()]
    if not several or not completes:
        return None
    with console.reporting_damage("models at equal levels"):
        table, complete = write_across_models(completes, results, chance=CHANCE)
        console.say(f"  {FILES[0]}: {len(table)} rows, {len(complete['left_out'])} left out")
    return {"rows": len(table), "left_out": len(complete["left_out"])}


def _check_patterns(plan: StudyPlan, patterns: list[str]) -> None:
    """Every pattern names at least one job of the plan: a typo is an error, not an empty run."""
    names = list(dict.fromkeys(j["name"] for p in plan.parts for j in evaluation_jobs(p))) + ["profile"]
    for pattern in patterns:
        if not any(fnmatchcase(n, pattern) for n in names):
            raise UserError(f"--only {pattern!r} matches no job of this plan; its jobs: {', '.join(names)}")


def _restore(part: ModelPlan, results: Path, work: Path, console: Console) -> None:
    found = restore_part(part, results, work)
    console.say(
        f"  {part.name}: {found['restored']} checkpoints restored from {results}, "
        f"{found['present']} already in the run dir"
        + (f", {len(found['skipped'])} not restored:" if found["skipped"] else "")
    )
    for why in found["skipped"]:
        console.say(f"    {why}")


def _architecture(plan: StudyPlan, results: Path) -> None:
    """One table of every part's model, at the union of the parts' levels and divisors."""
    levels = sorted({lv for p in plan.parts for lv in p.architecture.levels})
    divisors = sorted({d for p in plan.parts for d in p.architecture.divisors})
    models = list(dict.fromkeys(p.model for p in plan.parts))
    write_tables(models, levels, [None, *divisors], results / "model_architectures")


class _PartRun:
    """One model's phases 2-4, in its own folder of the run dir."""

    def __init__(self, part: ModelPlan, source: str, work: Path, results: Path, lanes: int, console: Console):
        self.part, self.source, self.work, self.results = part, source, work, results
        self.lanes, self.console = lanes, console
        self.run_dir = work / "evaluation"
        self.chosen: dict = {}

    def run(self, profile: bool, work: bool = True, only: list[str] | None = None) -> dict:
        part, say = self.part, self.console.say
        plan_path = atomic_write_json(self.work / "plan.json", part.to_dict())
        failed = []
        if work:
            say(
                f"[2/5] {part.name}: method comparison, capability sweep and fidelity ({self.lanes} worker "
                f"process{'es' if self.lanes != 1 else ''}; logs in {self.run_dir}/logs)"
            )
            jobs = evaluation_jobs(part, partial(prepare_best, part, self.run_dir, self.chosen, say))
            jobs = select_jobs(jobs, only)
            failed = run_pool(jobs, self.lanes, plan_path, self.run_dir, self.console)
        else:
            say(f"[2/5] {part.name}: nothing run (--report-only)")
        status: dict = {"evaluation": {"failed_jobs": failed}}
        say(f"[3/5] {part.name}: consolidating the capability results")
        with self.console.reporting_damage(f"{part.name} consolidation"):
            status["consolidation"] = self._consolidate(status["evaluation"])
        if profile:
            say(f"[4/5] {part.name}: performance and energy profile (alone, after the evaluation)")
            with self.console.reporting_damage(f"{part.name} profile"):
                status["profile"] = self._profile()
        else:
            say(f"[4/5] {part.name}: profile skipped (--no-profile)")
        status["complete"] = (
            not failed
            and all(v["missing"] == 0 for v in status["consolidation"].values())
            and (not profile or status["profile"]["incomplete"] == 0)
        )
        return status

    def _consolidate(self, evaluation: dict) -> dict:
        part = self.part
        if not self.chosen and part.comparison.data_driven:
            try:
                self.chosen["method"], self.chosen["means"] = best_data_method(part, self.run_dir)
            except UserError as exc:
                evaluation["error"] = str(exc)
        settings = {
            "plan": part.to_dict(),
            "study": self.source,
            "chosen_data_method": self.chosen.get("method"),
            "choice_means": self.chosen.get("means"),
        }
        views = {
            part.sweep_view: sweep_pairs(part, self.chosen.get("method")),
            part.comparison_view: comparison_pairs(part),
        }
        out = {}
        for view, pairs in views.items():
            if not (self.run_dir / "checkpoints").is_dir():  # --report-only before any evaluation
                self.console.say(f"  {view}: no evaluations yet")
                out[view] = {"runs": 0, "missing": len(pairs)}
                continue
            paths = (self.results / f"{view}_results.csv", self.results / f"{view}_complete.json")
            table, complete, missing = consolidate(part, self.run_dir, pairs, paths, settings)
            out[view] = {"runs": len(complete["runs"]), "missing": missing}
            self.console.say(
                f"  {paths[0].name}: {len(complete['runs'])} task runs, {len(table)} rows"
                + (f", {missing} planned runs MISSING" if missing else "")
            )
        if part.fidelity:
            out[f"{part.name}_fidelity"] = self._consolidate_fidelity()
        return out

    def _consolidate_fidelity(self) -> dict:
        paths = [self.results / f"{self.part.name}_fidelity_{k}.json" for k in ("results", "complete")]
        paths[0] = paths[0].with_suffix(".csv")
        if not (fidelity_dir(self.run_dir) / "checkpoints").is_dir():
            self.console.say("  fidelity: no measurements yet")
            return {"runs": 0, "missing": 1}
        table, complete, missing = consolidate_fidelity_view(
            self.part, self.run_dir, self.chosen.get("method"), paths
        )
        self.console.say(
            f"  {paths[0].name}: {len(complete['runs'])} configurations, {len(table)} rows"
            + (f", {missing} planned configurations MISSING" if missing else "")
        )
        return {"runs": len(complete["runs"]), "missing": missing}

    def _profile(self) -> dict:
        records, spec, out = [], self.part.spec(), self.work / "profile"
        for config in self.part.profile.configs():
            mine = run_carbon_profiling(spec, config, out, progress=False)
            incomplete = sum(r["status"] != "complete" for r in mine)
            name = f"{self.part.name} profile (divisor {config.divisor})"
            self.console.finished(
                name, not incomplete, f"{incomplete} records incomplete (a rerun retries them)"
            )
            records += mine
        consolidate_profiles(out, self.results, select=record_keys(records))  # exactly the planned ones
        incomplete = sum(r["status"] != "complete" for r in records)
        self.console.say(
            f"  {len(records)} profile records" + (f", {incomplete} INCOMPLETE" if incomplete else "")
        )
        return {"records": len(records), "incomplete": incomplete}
