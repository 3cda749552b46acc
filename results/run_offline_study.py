"""Runs the committed offline study described by results/offline_study.json, then consolidates it.

    .venv/bin/python results/run_offline_study.py            # resumable: rerun to continue

Three phases, each split over `lanes` worker processes (one torch thread each; two spinning
OpenMP threads per process are ~10x slower on 2 cores shared with other jobs):
  1. the unpruned model on every task;
  2. the method comparison (methods x levels on the comparison tasks);
  3. the level sweep with MAW and with the data-driven method that won phase 2 (by the rule in
     the plan), on the sweep tasks.
All phases write checkpoints into one run dir (git-ignored), so finished work is never redone;
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
OUT = ROOT / "results"


def task_specs(plan, names):
    from glu_prune.suites import TaskSpec

    return [TaskSpec(n, plan["tasks"][n]["num_fewshot"], plan["tasks"][n]["limit"]) for n in names]


def run_job(job: dict) -> None:
    """Worker: one run_robust_evaluation call (configs x tasks), in this process."""
    import torch

    from glu_prune.evaluation import EvalSettings, run_robust_evaluation
    from glu_prune.models import ModelSpec
    from glu_prune.pruning import PruneConfig

    plan = json.loads(PLAN.read_text())
    torch.set_num_threads(plan["torch_threads_per_lane"])
    configs = [None if c is None else PruneConfig(**c) for c in job["configs"]]
    status = run_robust_evaluation(
        ModelSpec(plan["model"]), configs, task_specs(plan, job["tasks"]), ROOT / plan["run_dir"],
        EvalSettings(offline=True), progress=False,
    )  # fmt: skip
    print(f"[{job['name']}] {status.summary()}", file=sys.stderr)
    sys.exit(1 if status.failed else 0)


def run_lanes(lanes: list[list[dict]]) -> None:
    """Each lane runs its jobs one after another; lanes run side by side."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    logs = ROOT / json.loads(PLAN.read_text())["run_dir"] / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pending = [list(lane) for lane in lanes if lane]
    running: dict[int, tuple[subprocess.Popen, dict, float]] = {}
    failed = []
    while pending or running:
        for i, lane in enumerate(pending):
            if i not in running and lane:
                job = lane.pop(0)
                log = open(logs / f"{job['name']}.log", "a")
                cmd = [sys.executable, __file__, "--job", json.dumps(job)]
                running[i] = (subprocess.Popen(cmd, env=env, stdout=log, stderr=log), job, time.time())
                print(f"  start {job['name']}", flush=True)
        time.sleep(2)
        for i, (proc, job, started) in list(running.items()):
            if proc.poll() is not None:
                del running[i]
                print(f"  {'done' if proc.returncode == 0 else 'FAILED'} {job['name']} ({time.time() - started:.0f} s)")
                if proc.returncode:
                    failed.append(job["name"])
        if not running and all(not lane for lane in pending):
            break
    if failed:
        raise SystemExit(f"failed jobs (see {logs}): {', '.join(failed)}; rerun to retry them")


def cfg(method, pct, seed=0):
    return {"method": method, "pct": pct, "seed": seed}


def best_data_method(plan) -> tuple[str, dict]:
    """The data-driven method with the lowest mean of the plan's metric over the comparison levels."""
    from glu_prune.evaluation import consolidate_results

    rule = plan["comparison"]["choose_by"]
    table, _ = consolidate_results(ROOT / plan["run_dir"], os.devnull, os.devnull)
    t = table[(table.task == rule["task"]) & (table.subtask == rule["task"]) & (table.metric == rule["metric"])]
    t = t[t.method.isin(plan["comparison"]["data_driven"]) & t.pruning_pct.isin(plan["comparison"]["levels"])]
    means = t.groupby("method")["value"].mean().to_dict()
    if set(means) != set(plan["comparison"]["data_driven"]):
        raise SystemExit(f"comparison incomplete for the data-driven methods: {means}")
    return min(means, key=means.get), means


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--job":
        return run_job(json.loads(sys.argv[2]))
    from glu_prune.evaluation import consolidate_results

    plan = json.loads(PLAN.read_text())
    cmp, sweep = plan["comparison"], plan["sweep"]
    start = time.time()
    load = [os.getloadavg()[0]]

    print("phase 1: the unpruned model")
    run_lanes([
        [{"name": "unpruned-sweep", "configs": [None], "tasks": sweep["tasks"]},
         {"name": "unpruned-mmlu", "configs": [None], "tasks": ["mmlu"]}],
        [{"name": "unpruned-generation", "configs": [None], "tasks": ["gsm8k", "ifeval"]}],
    ])  # fmt: skip
    print("phase 2: method comparison")
    static = [m for m in cmp["methods"] if m not in cmp["data_driven"]]
    run_lanes([
        [{"name": f"compare-{m}", "configs": [cfg(m, p, s) for p in cmp["levels"] for s in cmp["seeds"]],
          "tasks": cmp["tasks"]} for m in static],
        [{"name": f"compare-{m}", "configs": [cfg(m, p, s) for p in cmp["levels"] for s in cmp["seeds"]],
          "tasks": cmp["tasks"]} for m in cmp["data_driven"]],
    ])  # fmt: skip
    best, means = best_data_method(plan)
    print(f"phase 3: level sweep with maw and {best} (mean {cmp['choose_by']['metric']}: {means})")
    levels = [p for p in sweep["levels"] if p != 0]
    run_lanes([
        [{"name": "sweep-maw", "configs": [cfg("maw", p) for p in levels], "tasks": sweep["tasks"]}],
        [{"name": f"sweep-{best}", "configs": [cfg(best, p) for p in levels], "tasks": sweep["tasks"]}],
    ])  # fmt: skip
    load.append(os.getloadavg()[0])
    minutes = (time.time() - start) / 60

    settings = {"plan": plan, "chosen_data_method": best, "choice_means": means,
                "wall_minutes_this_invocation": minutes, "load1_start_end": load}  # fmt: skip
    run_dir = ROOT / plan["run_dir"]

    def in_sweep(i):
        p = i["prune"]
        ok_cfg = p is None or (p["method"] in ("maw", best) and p["pct"] in sweep["levels"])
        return ok_cfg and (i["task"] in sweep["tasks"] or (p is None and i["task"] in plan["unpruned_only"]["tasks"]))

    def in_comparison(i):
        p = i["prune"]
        ok_cfg = p is None or (p["method"] in cmp["methods"] and p["pct"] in cmp["levels"])
        return ok_cfg and i["task"] in cmp["tasks"]

    for name, select in (("smollm2-135m-instruct_offline", in_sweep), ("method_comparison", in_comparison)):
        table, complete = consolidate_results(
            run_dir, OUT / f"{name}_results.csv", OUT / f"{name}_complete.json", select=select, settings=settings
        )
        print(f"{name}: {len(complete['runs'])} task runs, {len(table)} rows, {len(complete['failed'])} failed")
    print(f"study done in {minutes:.1f} min (load1 {load[0]:.1f} -> {load[1]:.1f})")


if __name__ == "__main__":
    main()
