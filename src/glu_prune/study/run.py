"""A whole study from one plan: architecture -> method comparison -> capability sweep -> profile -> figures.

The plan is data (studies/<name>.json, or any JSON file of the same shape). Evaluation work is
split into jobs run by `lanes` worker processes with one torch thread each: on a small CPU
machine two single-thread processes get more done than one process with two threads. Every job
writes checkpoints, so rerunning the same command continues where a stopped run left off. The
profile runs after the evaluation lanes are done, alone, so they do not disturb its timings.
Consolidated files hold exactly the planned runs, never a stale checkpoint left in the run dir.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import UserError
from ..models import ModelSpec, canonical_name
from ..profile import ProfileConfig, consolidate_profiles, record_keys, run_carbon_profiling
from ..prune import DEFAULT_LEVELS, write_tables
from ..report import draw_figures
from ..store import atomic_write_json
from .jobs import _comparison_pairs, _consolidate, _evaluation_jobs, _sweep_pairs, best_data_method
from .plan import _cfg, load_plan
from .pool import run_pool


def run_study(
    plan_name: str,
    out: str | Path,
    results: str | Path | None = None,
    lanes: int | None = None,
    profile: bool = True,
    log=print,
) -> dict:
    """Run every phase of the plan; return a status dict. Results go to `results` (default: out)."""
    plan = load_plan(plan_name)
    out = Path(out).resolve()
    results = Path(results).resolve() if results else out
    run_dir = out / "evaluation"
    plan_path = out / "plan.json"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(plan_path, plan)
    lanes = lanes or plan.get("lanes", 1)
    name = canonical_name(plan["model"])
    start, load = time.time(), [os.getloadavg()[0]]
    status: dict = {"plan": plan_name, "out": str(out), "results": str(results), "phases": {}}

    log("[1/5] architecture tables (config only)")
    arch = plan.get("architecture", {})
    write_tables(
        [plan["model"]],
        arch.get("levels", DEFAULT_LEVELS),
        [None, *arch.get("divisors", [])],
        results / "model_architectures",
    )

    log(f"[2/5] method comparison and capability sweep ({lanes} worker processes; logs in {run_dir}/logs)")
    chosen = {}

    def pick_best(job):
        best, means = best_data_method(plan, run_dir)
        chosen.update(method=best, means=means)
        log(
            f"  best data-driven method: {best} (mean {plan['comparison']['choose_by']['metric']}: "
            f"{ {k: round(v, 3) for k, v in means.items()} })"
        )
        rest = [p for p in plan["sweep"]["levels"] if p != 0 and p not in plan["comparison"]["levels"]]
        return {**job, "name": f"sweep-{best}", "configs": [_cfg(best, p) for p in rest]}

    failed = run_pool(_evaluation_jobs(plan, pick_best), lanes, plan_path, run_dir, log)
    status["phases"]["evaluation"] = {"failed_jobs": failed}

    log("[3/5] consolidating the capability results")
    if not chosen:
        try:
            chosen["method"], chosen["means"] = best_data_method(plan, run_dir)
        except UserError as exc:
            status["phases"]["evaluation"]["error"] = str(exc)
    settings = {"plan": plan, "chosen_data_method": chosen.get("method"), "choice_means": chosen.get("means")}
    views = {
        f"{name}_offline" if plan.get("offline", True) else name: _sweep_pairs(plan, chosen.get("method")),
        "method_comparison": _comparison_pairs(plan),
    }
    for view, pairs in views.items():
        paths = (results / f"{view}_results.csv", results / f"{view}_complete.json")
        table, complete, missing = _consolidate(plan, run_dir, pairs, paths, settings)
        status["phases"].setdefault("consolidation", {})[view] = {
            "runs": len(complete["runs"]),
            "missing": missing,
        }
        log(
            f"  {paths[0].name}: {len(complete['runs'])} task runs, {len(table)} rows"
            + (f", {missing} planned runs MISSING" if missing else "")
        )

    if profile:
        log("[4/5] performance and energy profile (alone, after the evaluation)")
        status["phases"]["profile"] = _profile(plan, out / "profile", results, log)
    else:
        log("[4/5] profile skipped (--no-profile)")

    log("[5/5] figures")
    report = draw_figures(results, results / "figures")
    status["phases"]["figures"] = {"written": [p.name for p in report.written], "not_drawn": report.notes}
    load.append(os.getloadavg()[0])
    status["minutes"] = (time.time() - start) / 60
    status["load1_start_end"] = load
    status["complete"] = (
        not failed
        and all(v["missing"] == 0 for v in status["phases"]["consolidation"].values())
        and (not profile or status["phases"]["profile"]["incomplete"] == 0)
    )
    return status


def _profile(plan: dict, out: Path, results: Path, log) -> dict:
    p = plan["profile"]
    records = []
    for divisor in p.get("divisors", [None]):
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in p.items() if k != "divisors"}
        config = ProfileConfig(**{**options, "levels": tuple(p["levels"]), "divisor": divisor})
        records += run_carbon_profiling(ModelSpec(plan["model"]), config, out, progress=True)
    consolidate_profiles(out, results, select=record_keys(records))  # exactly the planned measurements
    incomplete = sum(r["status"] != "complete" for r in records)
    log(f"  {len(records)} profile records" + (f", {incomplete} INCOMPLETE" if incomplete else ""))
    return {"records": len(records), "incomplete": incomplete}
