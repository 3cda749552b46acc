"""The study's evaluation work as jobs (configs x tasks) for the worker pool, and the consolidated
views that hold exactly the planned runs.

MAW and the data-driven methods run the sweep tasks at the comparison levels too, so the sweep
reuses those checkpoints instead of pruning (and calibrating) again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import UserError
from ..evaluate import consolidate_results, run_robust_evaluation, task_identity
from ..store import identity_key
from .plan import _cfg, _prune_config, _settings, _spec, _task_specs


def run_job(plan: dict, job: dict, run_dir: Path) -> int:
    """Worker side: one run_robust_evaluation call (configs x tasks), in this process."""
    import torch

    torch.set_num_threads(plan.get("torch_threads_per_lane", 1))
    status = run_robust_evaluation(
        _spec(plan),
        [_prune_config(plan, c) for c in job["configs"]],
        _task_specs(plan, job["tasks"]),
        run_dir,
        _settings(plan),
        progress=False,
    )
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
        tasks = (
            [*sweep["tasks"], *(t for t in cmp["tasks"] if t not in sweep["tasks"])]
            if swept
            else cmp["tasks"]
        )
        return {
            "name": f"compare-{m}",
            "configs": [_cfg(m, p, s) for p in cmp["levels"] for s in cmp["seeds"]],
            "tasks": tasks,
        }

    return [comparison_job(m) for m in cmp["data_driven"]] + [
        *[
            {"name": f"unpruned-{t}", "configs": [None], "tasks": [t]}
            for t in plan.get("unpruned_only", {}).get("tasks", [])
        ],
        {
            "name": "unpruned-sweep",
            "configs": [None],
            "tasks": sorted(set(sweep["tasks"]) | set(cmp["tasks"])),
        },
        *[comparison_job(m) for m in static],
        {"name": "sweep-maw", "configs": [_cfg("maw", p) for p in rest], "tasks": sweep["tasks"]},
        {
            "name": "sweep-best",
            "after": [f"compare-{m}" for m in cmp["data_driven"]],
            "prepare": pick_best,
            "configs": [],
            "tasks": sweep["tasks"],
        },
    ]


def _planned_keys(plan, pairs) -> set[str]:
    spec, settings = _spec(plan), _settings(plan)
    return {
        identity_key(task_identity(spec, _prune_config(plan, c), _task_specs(plan, [t])[0], settings))
        for c, t in pairs
    }


def _comparison_pairs(plan):
    cmp = plan["comparison"]
    return [(None, t) for t in cmp["tasks"]] + [
        (_cfg(m, p, s), t)
        for m in cmp["methods"]
        for p in cmp["levels"]
        for s in cmp["seeds"]
        for t in cmp["tasks"]
    ]


def _sweep_pairs(plan, best):
    sweep = plan["sweep"]
    return [(None, t) for t in sweep["tasks"] + plan.get("unpruned_only", {}).get("tasks", [])] + [
        (_cfg(m, p), t) for m in ("maw", best) if m for p in sweep["levels"] if p != 0 for t in sweep["tasks"]
    ]


def _consolidate(plan, run_dir: Path, pairs, paths=None, settings=None):
    """(table, complete, missing): the planned runs found in run_dir; written to `paths` if given."""
    keys = _planned_keys(plan, pairs)
    paths = paths or (os.devnull, os.devnull)
    table, complete = consolidate_results(
        run_dir, *paths, select=lambda i: identity_key(i) in keys, settings=settings
    )
    return table, complete, len(keys) - len(complete["runs"])


def best_data_method(plan, run_dir: Path) -> tuple[str, dict]:
    """The data-driven method with the best mean of the plan's metric over the comparison levels."""
    cmp = plan["comparison"]
    rule = cmp["choose_by"]
    table, _, _ = _consolidate(
        plan,
        run_dir,
        [
            (_cfg(m, p, s), rule["task"])
            for m in cmp["data_driven"]
            for p in cmp["levels"]
            for s in cmp["seeds"]
        ],
    )
    t = table[
        (table.subtask == rule["task"])
        & (table.metric == rule["metric"])
        & (table["filter"] == rule["filter"])
    ]
    means = t.groupby("method")["value"].mean().to_dict()
    if not means:
        raise UserError(f"no {rule['task']} {rule['metric']} results for the data-driven methods yet")
    pick = min if rule.get("lower_is_better", True) else max
    return pick(means, key=means.get), means
