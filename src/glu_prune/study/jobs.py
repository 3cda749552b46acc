"""One model's evaluation work as jobs (configs x tasks) for the worker pool, and the consolidated
views that hold exactly the planned runs.

MAW and the data-driven methods run the sweep tasks at the comparison levels too, so the sweep
reuses those checkpoints instead of pruning (and calibrating) again.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path

from ..errors import UserError
from ..evaluate import comparison_configs, consolidate_results, run_robust_evaluation, task_identity
from ..prune import PruneConfig
from ..store import atomic_write_json, identity_key
from .plan import ModelPlan


def run_job(part: ModelPlan, job: dict, run_dir: Path) -> int:
    """Worker side: one run_robust_evaluation call (configs x tasks), in this process. What it did
    (done, failed, damaged checkpoints set aside) goes to jobs/<name>.json for the study to report."""
    import torch

    torch.set_num_threads(part.torch_threads_per_lane)
    configs = [None if c is None else PruneConfig(**c) for c in job["configs"]]
    status = run_robust_evaluation(
        part.spec(), configs, part.task_specs(job["tasks"]), run_dir, part.settings(), progress=False
    )
    atomic_write_json(job_report(run_dir, job["name"]), {"job": job["name"], **status.to_dict()})
    print(f"[{job['name']}] {status.summary()}", file=sys.stderr)
    return 1 if status.failed else 0


def job_report(run_dir: Path, name: str) -> Path:
    return run_dir / "jobs" / f"{name}.json"


def worker_job(job: dict) -> dict:
    """The part of a job a worker process gets, as JSON data."""
    configs = [None if c is None else asdict(c) for c in job["configs"]]
    return {"name": job["name"], "configs": configs, "tasks": list(job["tasks"])}


def _method_configs(part: ModelPlan, method: str) -> list[PruneConfig]:
    """One config per comparison level (x seed where the method uses one)."""
    cmp = part.comparison
    options = asdict(part.prune_options)
    return comparison_configs([method], cmp.levels, cmp.seeds, baseline=False, **options)


def _swept(part: ModelPlan, method: str, level) -> PruneConfig | None:
    """A sweep config: the comparison's first seed, so the sweep reuses the comparison's runs."""
    return part.config(method, level, part.comparison.seeds[0])


def _sweep_rest(part: ModelPlan) -> list:
    """Sweep levels that the comparison does not already cover."""
    return [p for p in part.sweep.levels if p != 0 and p not in part.comparison.levels]


def evaluation_jobs(part: ModelPlan, prepare_best=None) -> list[dict]:
    """Every evaluation job of one model, in the order the pool starts them. `prepare_best(job)`
    fills in the sweep of the best data-driven method once the comparison has picked it."""
    cmp, sweep = part.comparison, part.sweep

    def comparison_job(m):
        swept = m == "maw" or m in cmp.data_driven
        tasks = [*sweep.tasks, *(t for t in cmp.tasks if t not in sweep.tasks)] if swept else cmp.tasks
        return {"name": f"compare-{m}", "configs": _method_configs(part, m), "tasks": list(tasks)}

    static = [m for m in cmp.methods if m not in cmp.data_driven]
    rest = _sweep_rest(part)
    jobs = [comparison_job(m) for m in cmp.data_driven]
    jobs += [{"name": f"unpruned-{t}", "configs": [None], "tasks": [t]} for t in part.unpruned_only.tasks]
    jobs.append(
        {"name": "unpruned-sweep", "configs": [None], "tasks": sorted(set(sweep.tasks) | set(cmp.tasks))}
    )
    jobs += [comparison_job(m) for m in static]
    jobs.append(
        {"name": "sweep-maw", "configs": [_swept(part, "maw", p) for p in rest], "tasks": sweep.tasks}
    )
    if cmp.data_driven:
        jobs.append(
            {
                "name": "sweep-best",
                "after": [f"compare-{m}" for m in cmp.data_driven],
                "prepare": prepare_best,
                "configs": [],
                "tasks": sweep.tasks,
            }
        )
    return jobs


def prepare_best(part: ModelPlan, run_dir: Path, chosen: dict, say, job: dict) -> dict:
    """The sweep-best job, once the comparison's data-driven runs are done: its method is the best."""
    best, means = best_data_method(part, run_dir)
    chosen.update(method=best, means=means)
    rounded = {k: round(v, 3) for k, v in means.items()}
    say(f"  {part.name}: best data-driven method {best} (mean {part.comparison.choose_by.metric}: {rounded})")
    return {**job, "name": f"sweep-{best}", "configs": [_swept(part, best, p) for p in _sweep_rest(part)]}


def comparison_pairs(part: ModelPlan) -> list[tuple]:
    cmp = part.comparison
    configs = comparison_configs(cmp.methods, cmp.levels, cmp.seeds, **asdict(part.prune_options))
    return [(c, t) for c in configs for t in cmp.tasks]


def sweep_pairs(part: ModelPlan, best: str | None) -> list[tuple]:
    sweep = part.sweep
    pairs = [(None, t) for t in (*sweep.tasks, *part.unpruned_only.tasks)]
    methods = ("maw", best) if best else ("maw",)
    return pairs + [
        (_swept(part, m, p), t) for m in methods for p in sweep.levels if p != 0 for t in sweep.tasks
    ]


def planned_keys(part: ModelPlan, pairs) -> set[str]:
    spec, settings = part.spec(), part.settings()
    return {identity_key(task_identity(spec, c, part.task_specs([t])[0], settings)) for c, t in pairs}


def consolidate(part: ModelPlan, run_dir: Path, pairs, paths=None, settings=None):
    """(table, complete, missing): the planned runs found in run_dir; written to `paths` if given."""
    keys = planned_keys(part, pairs)
    paths = paths or (os.devnull, os.devnull)
    table, complete = consolidate_results(
        run_dir, *paths, select=lambda i: identity_key(i) in keys, settings=settings
    )
    return table, complete, len(keys) - len(complete["runs"])


def best_data_method(part: ModelPlan, run_dir: Path) -> tuple[str, dict]:
    """The data-driven method with the best mean of the plan's metric over the comparison levels."""
    cmp = part.comparison
    rule = cmp.choose_by
    pairs = [(c, rule.task) for m in cmp.data_driven for c in _method_configs(part, m)]
    table, _, _ = consolidate(part, run_dir, pairs)
    t = table[(table.subtask == rule.task) & (table.metric == rule.metric) & (table["filter"] == rule.filter)]
    means = t.groupby("method")["value"].mean().to_dict()
    if not means:
        raise UserError(f"no {rule.task} {rule.metric} results for the data-driven methods yet")
    pick = min if rule.lower_is_better else max
    return pick(means, key=means.get), means
