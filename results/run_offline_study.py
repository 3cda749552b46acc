"""Runs the committed offline study described by results/offline_study.json, then consolidates it.

    .venv/bin/python results/run_offline_study.py [--plan FILE]   # resumable: rerun to continue

Jobs run in `lanes` worker processes (one torch thread each: two spinning OpenMP threads per
process run ~10x slower on 2 cores shared with other jobs), slowest first:
  - the unpruned model on every task;
  - the method comparison (methods x levels on the comparison tasks; MAW and the data-driven
    methods on all sweep tasks, so that the sweep reuses their checkpoints);
  - the level sweep with MAW and with the data-driven method that won the comparison (by the
    rule in the plan), on the sweep tasks.
All jobs write checkpoints into one run dir (git-ignored), so finished work is never redone;
the committed files are consolidated views of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "results" / "offline_study.json"


def task_specs(plan, names):
    from glu_prune.suites import TaskSpec

    return [TaskSpec(n, plan["tasks"][n]["num_fewshot"], plan["tasks"][n]["limit"]) for n in names]


def run_job(job: dict) -> None:
    """Worker: one run_robust_evaluation call (configs x tasks), in this process."""
    import torch

    from glu_prune.evaluation import EvalSettings, run_robust_evaluation
    from glu_prune.models import ModelSpec
    from glu_prune.pruning import PruneConfig

    plan = json.loads(Path(job["plan"]).read_text())
    torch.set_num_threads(plan["torch_threads_per_lane"])
    configs = [None if c is None else PruneConfig(**c, **plan.get("prune_options", {})) for c in job["configs"]]
    status = run_robust_evaluation(
        ModelSpec(plan["model"]), configs, task_specs(plan, job["tasks"]), ROOT / plan["run_dir"],
        EvalSettings(offline=True), progress=False,
    )  # fmt: skip
    print(f"[{job['name']}] {status.summary()}", file=sys.stderr)
    sys.exit(1 if status.failed else 0)


def run_pool(jobs: list[dict], workers: int, plan_path: Path, run_dir: Path) -> None:
    """Run jobs in `workers` processes at a time, in list order; a job waits for its `after` jobs."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    queue, running, finished, failed = list(jobs), {}, set(), []
    while queue or running:
        ready = [j for j in queue if set(j.get("after", ())) <= finished]
        while ready and len(running) < workers:
            job = ready.pop(0)
            queue.remove(job)
            if set(job.get("after", ())) & set(failed):
                failed.append(job["name"])
                continue
            if callable(job.get("prepare")):
                try:
                    job = job["prepare"](job)
                except SystemExit as exc:  # e.g. its inputs are not all done: fail this job only
                    print(f"  FAILED {job['name']}: {exc}", flush=True)
                    failed.append(job["name"])
                    continue
            log = open(logs / f"{job['name']}.log", "a")
            args = {"plan": str(plan_path), **{k: v for k, v in job.items() if k in ("name", "configs", "tasks")}}
            cmd = [sys.executable, __file__, "--job", json.dumps(args)]
            running[job["name"]] = (subprocess.Popen(cmd, env=env, stdout=log, stderr=log), time.time())
            print(f"  start {job['name']}", flush=True)
        time.sleep(2)
        for name, (proc, started) in list(running.items()):
            if proc.poll() is not None:
                del running[name]
                (finished.add if proc.returncode == 0 else failed.append)(name)
                print(f"  {'done' if proc.returncode == 0 else 'FAILED'} {name} ({time.time() - started:.0f} s)", flush=True)
        if not running and queue and not [j for j in queue if set(j.get("after", ())) <= finished | set(failed)]:
            break
    if failed or queue:
        raise SystemExit(f"failed jobs (see {logs}): {', '.join(failed + [j['name'] for j in queue])}; rerun to retry")


def cfg(method, pct, seed=0):
    return {"method": method, "pct": pct, "seed": seed}


def planned_keys(plan, pairs) -> set[str]:
    """Checkpoint keys of (config, task) pairs under today's code, data and versions: a consolidated
    view holds exactly the planned runs, never a stale checkpoint left in the run dir."""
    from glu_prune.evaluation import EvalSettings, task_identity
    from glu_prune.models import ModelSpec
    from glu_prune.pruning import PruneConfig
    from glu_prune.store import identity_key

    spec, settings = ModelSpec(plan["model"]), EvalSettings(offline=True)
    return {
        identity_key(task_identity(
            spec, PruneConfig(**c, **plan.get("prune_options", {})) if c else None, task_specs(plan, [t])[0], settings
        ))
        for c, t in pairs
    }


def comparison_pairs(plan):
    cmp = plan["comparison"]
    return [(None, t) for t in cmp["tasks"]] + [
        (cfg(m, p, s), t) for m in cmp["methods"] for p in cmp["levels"] for s in cmp["seeds"] for t in cmp["tasks"]
    ]


def sweep_pairs(plan, best):
    sweep = plan["sweep"]
    return [(None, t) for t in sweep["tasks"] + plan["unpruned_only"]["tasks"]] + [
        (cfg(m, p), t) for m in ("maw", best) for p in sweep["levels"] if p != 0 for t in sweep["tasks"]
    ]


def consolidate(plan, pairs, name=None, settings=None):
    from glu_prune.evaluation import consolidate_results
    from glu_prune.store import identity_key

    keys = planned_keys(plan, pairs)
    out = ROOT / plan.get("output_dir", "results")
    paths = (out / f"{name}_results.csv", out / f"{name}_complete.json") if name else (os.devnull, os.devnull)
    table, complete = consolidate_results(
        ROOT / plan["run_dir"], *paths, select=lambda i: identity_key(i) in keys, settings=settings
    )
    if len(complete["runs"]) != len(keys):
        raise SystemExit(f"{name or 'comparison'}: {len(complete['runs'])} of {len(keys)} planned runs are done")
    return table, complete


def best_data_method(plan) -> tuple[str, dict]:
    """The data-driven method with the lowest mean of the plan's metric over the comparison levels."""
    cmp = plan["comparison"]
    rule = cmp["choose_by"]
    table, _ = consolidate(plan, [(cfg(m, p, s), rule["task"]) for m in cmp["data_driven"]
                                  for p in cmp["levels"] for s in cmp["seeds"]])  # fmt: skip
    t = table[(table.subtask == rule["task"]) & (table.metric == rule["metric"]) & (table["filter"] == rule["filter"])]
    means = t.groupby("method")["value"].mean().to_dict()
    return min(means, key=means.get), means


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--job":
        return run_job(json.loads(sys.argv[2]))
    plan_path = Path(sys.argv[2]).resolve() if len(sys.argv) == 3 and sys.argv[1] == "--plan" else PLAN
    plan = json.loads(plan_path.read_text())
    cmp, sweep = plan["comparison"], plan["sweep"]
    start = time.time()
    load = [os.getloadavg()[0]]

    static = [m for m in cmp["methods"] if m not in cmp["data_driven"]]
    levels = [p for p in sweep["levels"] if p != 0]
    rest = [p for p in levels if p not in cmp["levels"]]
    def pick_best(job):
        best, means = best_data_method(plan)
        print(f"  best data-driven method: {best} (mean {cmp['choose_by']['metric']}: {means})", flush=True)
        return {**job, "name": f"sweep-{best}", "configs": [cfg(best, p) for p in rest]}

    # MAW and the data-driven methods run the sweep tasks at the comparison levels too, so the
    # sweep reuses those checkpoints instead of pruning (and calibrating) again
    def comparison_job(m):
        tasks = sweep["tasks"] if m == "maw" or m in cmp["data_driven"] else cmp["tasks"]
        return {"name": f"compare-{m}", "configs": [cfg(m, p, s) for p in cmp["levels"] for s in cmp["seeds"]],
                "tasks": tasks}  # fmt: skip

    jobs = [comparison_job(m) for m in cmp["data_driven"]] + [
        *[{"name": f"unpruned-{t}", "configs": [None], "tasks": [t]} for t in plan["unpruned_only"]["tasks"]],
        {"name": "unpruned-sweep", "configs": [None], "tasks": sweep["tasks"]},
        *[comparison_job(m) for m in static],
        {"name": "sweep-maw", "configs": [cfg("maw", p) for p in rest], "tasks": sweep["tasks"]},
        {"name": "sweep-best", "after": [f"compare-{m}" for m in cmp["data_driven"]], "prepare": pick_best,
         "configs": [], "tasks": sweep["tasks"]},
    ]  # fmt: skip
    run_pool(jobs, plan["lanes"], plan_path, ROOT / plan["run_dir"])
    best, means = best_data_method(plan)
    load.append(os.getloadavg()[0])
    minutes = (time.time() - start) / 60

    settings = {"plan": plan, "chosen_data_method": best, "choice_means": means,
                "wall_minutes_this_invocation": minutes, "load1_start_end": load}  # fmt: skip
    for name, pairs in (("smollm2-135m-instruct_offline", sweep_pairs(plan, best)),
                        ("method_comparison", comparison_pairs(plan))):  # fmt: skip
        table, complete = consolidate(plan, pairs, name, settings)
        print(f"{name}: {len(complete['runs'])} task runs, {len(table)} rows")
    print(f"study done in {minutes:.1f} min (load1 {load[0]:.1f} -> {load[1]:.1f})")


if __name__ == "__main__":
    main()
