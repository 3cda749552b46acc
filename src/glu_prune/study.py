"""A whole study from one plan: architecture -> method comparison -> capability sweep -> profile -> figures.

The plan is data (studies/<name>.json, or any JSON file of the same shape). Evaluation work is
split into jobs run by `lanes` worker processes with one torch thread each: on a small CPU
machine two single-thread processes get more done than one process with two threads. Every job
writes checkpoints, so rerunning the same command continues where a stopped run left off. The
profile runs after the evaluation lanes are done, alone, so they do not disturb its timings.
Consolidated files hold exactly the planned runs, never a stale checkpoint left in the run dir.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

from .errors import UserError

PLANS = ("default", "quick", "full")


# ----------------------------------------------------------------------------- the plan


def load_plan(name_or_path: str) -> dict:
    """A named plan shipped with the package, or a JSON file; validated before anything runs."""
    if name_or_path in PLANS:
        text = resources.files("glu_prune").joinpath(f"studies/{name_or_path}.json").read_text()
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise UserError(f"--plan {name_or_path}: not one of {', '.join(PLANS)} and no such file")
        text = path.read_text()
    try:
        plan = json.loads(text)
    except ValueError as exc:
        raise UserError(f"--plan {name_or_path}: not valid JSON ({exc})") from None
    _validate(plan)
    return plan


def _validate(plan: dict) -> None:
    from .pruning import METHODS, level_configs
    from .tasks import check_tasks

    problems = []
    for key in ("model", "tasks", "comparison", "sweep", "profile"):
        if key not in plan:
            problems.append(f"missing {key!r}")
    if problems:
        raise UserError("study plan: " + "; ".join(problems))
    cmp, sweep = plan["comparison"], plan["sweep"]
    used = set(cmp["tasks"]) | set(sweep["tasks"]) | set(plan.get("unpruned_only", {}).get("tasks", []))
    missing = used - set(plan["tasks"])
    if missing:
        problems.append(f"tasks without a limit in 'tasks': {', '.join(sorted(missing))}")
    check_tasks(sorted(used), offline=plan.get("offline", True))
    unknown = [m for m in cmp["methods"] + cmp["data_driven"] if m not in METHODS]
    if unknown:
        problems.append(f"unknown methods {', '.join(unknown)}")
    if not set(cmp["data_driven"]) <= set(cmp["methods"]):
        problems.append("comparison.data_driven must be among comparison.methods")
    if cmp["choose_by"]["task"] not in cmp["tasks"]:
        problems.append("comparison.choose_by.task must be among comparison.tasks")
    level_configs([0, *cmp["levels"]])  # raises on bad levels
    level_configs(sweep["levels"])
    if problems:
        raise UserError("study plan: " + "; ".join(problems))


def _cfg(method, pct, seed=0) -> dict:
    return {"method": method, "pct": pct, "seed": seed}


def _task_specs(plan, names):
    from .suites import TaskSpec

    return [TaskSpec(n, plan["tasks"][n]["num_fewshot"], plan["tasks"][n]["limit"]) for n in names]


def _settings(plan):
    from .evaluation import EvalSettings

    return EvalSettings(offline=plan.get("offline", True), batch_size=plan.get("batch_size", 1))


def _prune_config(plan, c):
    from .pruning import PruneConfig

    return None if c is None else PruneConfig(**c, **plan.get("prune_options", {}))


# ----------------------------------------------------------------------------- evaluation jobs


def run_job(plan: dict, job: dict, run_dir: Path) -> int:
    """Worker side: one run_robust_evaluation call (configs x tasks), in this process."""
    import torch

    from .evaluation import run_robust_evaluation
    from .models import ModelSpec

    torch.set_num_threads(plan.get("torch_threads_per_lane", 1))
    status = run_robust_evaluation(
        ModelSpec(plan["model"]), [_prune_config(plan, c) for c in job["configs"]],
        _task_specs(plan, job["tasks"]), run_dir, _settings(plan), progress=False,
    )  # fmt: skip
    print(f"[{job['name']}] {status.summary()}", file=sys.stderr)
    return 1 if status.failed else 0


def _evaluation_jobs(plan: dict, pick_best) -> list[dict]:
    cmp, sweep = plan["comparison"], plan["sweep"]
    static = [m for m in cmp["methods"] if m not in cmp["data_driven"]]
    rest = [p for p in sweep["levels"] if p != 0 and p not in cmp["levels"]]

    # MAW and the data-driven methods run the sweep tasks at the comparison levels too, so the
    # sweep reuses those checkpoints instead of pruning (and calibrating) again
    def comparison_job(m):
        swept = m == "maw" or m in cmp["data_driven"]
        tasks = [*sweep["tasks"], *(t for t in cmp["tasks"] if t not in sweep["tasks"])] if swept else cmp["tasks"]
        return {"name": f"compare-{m}", "configs": [_cfg(m, p, s) for p in cmp["levels"] for s in cmp["seeds"]],
                "tasks": tasks}  # fmt: skip

    return [comparison_job(m) for m in cmp["data_driven"]] + [
        *[{"name": f"unpruned-{t}", "configs": [None], "tasks": [t]} for t in plan.get("unpruned_only", {}).get("tasks", [])],
        {"name": "unpruned-sweep", "configs": [None], "tasks": sorted(set(sweep["tasks"]) | set(cmp["tasks"]))},
        *[comparison_job(m) for m in static],
        {"name": "sweep-maw", "configs": [_cfg("maw", p) for p in rest], "tasks": sweep["tasks"]},
        {"name": "sweep-best", "after": [f"compare-{m}" for m in cmp["data_driven"]], "prepare": pick_best,
         "configs": [], "tasks": sweep["tasks"]},
    ]  # fmt: skip


def run_pool(jobs: list[dict], lanes: int, plan_path: Path, run_dir: Path, log=print) -> list[str]:
    """Run jobs in `lanes` processes at a time, in list order; a job waits for its `after` jobs.
    Returns the names of the jobs that failed or could not start (their work is retried next run)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    queue, running, finished, failed = list(jobs), {}, set(), []
    while queue or running:
        ready = [j for j in queue if set(j.get("after", ())) <= finished | set(failed)]
        while ready and len(running) < lanes:
            job = ready.pop(0)
            queue.remove(job)
            if set(job.get("after", ())) & set(failed):
                failed.append(job["name"])
                continue
            if callable(job.get("prepare")):
                try:
                    job = job["prepare"](job)
                except UserError as exc:
                    log(f"  FAILED {job['name']}: {exc}")
                    failed.append(job["name"])
                    continue
            if not job["configs"]:
                finished.add(job["name"])
                continue
            spec = {k: job[k] for k in ("name", "configs", "tasks")}
            cmd = [sys.executable, "-m", "glu_prune.study", "--plan", str(plan_path), "--run-dir", str(run_dir),
                   "--job", json.dumps(spec)]  # fmt: skip
            with open(logs / f"{job['name']}.log", "a") as out:
                running[job["name"]] = (subprocess.Popen(cmd, env=env, stdout=out, stderr=out), time.time())
            log(f"  start {job['name']}")
        time.sleep(1)
        for name, (proc, started) in list(running.items()):
            if proc.poll() is not None:
                del running[name]
                (finished.add if proc.returncode == 0 else failed.append)(name)
                log(f"  {'done' if proc.returncode == 0 else 'FAILED'} {name} ({time.time() - started:.0f} s)")
    return failed


# ----------------------------------------------------------------------------- consolidation


def _planned_keys(plan, pairs) -> set[str]:
    from .evaluation import task_identity
    from .models import ModelSpec
    from .store import identity_key

    spec, settings = ModelSpec(plan["model"]), _settings(plan)
    return {identity_key(task_identity(spec, _prune_config(plan, c), _task_specs(plan, [t])[0], settings))
            for c, t in pairs}  # fmt: skip


def _comparison_pairs(plan):
    cmp = plan["comparison"]
    return [(None, t) for t in cmp["tasks"]] + [
        (_cfg(m, p, s), t) for m in cmp["methods"] for p in cmp["levels"] for s in cmp["seeds"] for t in cmp["tasks"]
    ]


def _sweep_pairs(plan, best):
    sweep = plan["sweep"]
    return [(None, t) for t in sweep["tasks"] + plan.get("unpruned_only", {}).get("tasks", [])] + [
        (_cfg(m, p), t) for m in ("maw", best) if m for p in sweep["levels"] if p != 0 for t in sweep["tasks"]
    ]


def _consolidate(plan, run_dir: Path, pairs, paths=None, settings=None):
    """(table, complete, missing): the planned runs found in run_dir; written to `paths` if given."""
    from .evaluation import consolidate_results
    from .store import identity_key

    keys = _planned_keys(plan, pairs)
    paths = paths or (os.devnull, os.devnull)
    table, complete = consolidate_results(run_dir, *paths, select=lambda i: identity_key(i) in keys,
                                          settings=settings)  # fmt: skip
    return table, complete, len(keys) - len(complete["runs"])


def best_data_method(plan, run_dir: Path) -> tuple[str, dict]:
    """The data-driven method with the best mean of the plan's metric over the comparison levels."""
    cmp = plan["comparison"]
    rule = cmp["choose_by"]
    table, _, _ = _consolidate(plan, run_dir, [(_cfg(m, p, s), rule["task"]) for m in cmp["data_driven"]
                                               for p in cmp["levels"] for s in cmp["seeds"]])  # fmt: skip
    t = table[(table.subtask == rule["task"]) & (table.metric == rule["metric"]) & (table["filter"] == rule["filter"])]
    means = t.groupby("method")["value"].mean().to_dict()
    if not means:
        raise UserError(f"no {rule['task']} {rule['metric']} results for the data-driven methods yet")
    pick = min if rule.get("lower_is_better", True) else max
    return pick(means, key=means.get), means


# ----------------------------------------------------------------------------- the study


def run_study(plan_name: str, out: str | Path, results: str | Path | None = None, lanes: int | None = None,
              profile: bool = True, log=print) -> dict:  # fmt: skip
    """Run every phase of the plan; return a status dict. Results go to `results` (default: out)."""
    from .architecture import DEFAULT_LEVELS, write_tables
    from .figures import draw_figures
    from .models import canonical_name
    from .store import atomic_write_json

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
    write_tables([plan["model"]], arch.get("levels", DEFAULT_LEVELS),
                 [None, *arch.get("divisors", [])], results / "model_architectures")  # fmt: skip

    log(f"[2/5] method comparison and capability sweep ({lanes} worker processes; logs in {run_dir}/logs)")
    chosen = {}

    def pick_best(job):
        best, means = best_data_method(plan, run_dir)
        chosen.update(method=best, means=means)
        log(f"  best data-driven method: {best} (mean {plan['comparison']['choose_by']['metric']}: "
            f"{ {k: round(v, 3) for k, v in means.items()} })")  # fmt: skip
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
    views = {f"{name}_offline" if plan.get("offline", True) else name: _sweep_pairs(plan, chosen.get("method")),
             "method_comparison": _comparison_pairs(plan)}  # fmt: skip
    for view, pairs in views.items():
        paths = (results / f"{view}_results.csv", results / f"{view}_complete.json")
        table, complete, missing = _consolidate(plan, run_dir, pairs, paths, settings)
        status["phases"].setdefault("consolidation", {})[view] = {"runs": len(complete["runs"]), "missing": missing}
        log(f"  {paths[0].name}: {len(complete['runs'])} task runs, {len(table)} rows"
            + (f", {missing} planned runs MISSING" if missing else ""))

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
    status["complete"] = not failed and all(v["missing"] == 0 for v in status["phases"]["consolidation"].values()) and (
        not profile or status["phases"]["profile"]["incomplete"] == 0
    )  # fmt: skip
    return status


def _profile(plan: dict, out: Path, results: Path, log) -> dict:
    from .models import ModelSpec
    from .profile_results import consolidate_profiles, record_keys
    from .profile_run import ProfileConfig, run_carbon_profiling

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


def main(argv=None) -> int:
    """Worker entry: python -m glu_prune.study --plan FILE --run-dir DIR --job JSON"""
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--plan", required=True)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--job", required=True)
    args = ap.parse_args(argv)
    return run_job(load_plan(args.plan), json.loads(args.job), Path(args.run_dir))


if __name__ == "__main__":
    sys.exit(main())
