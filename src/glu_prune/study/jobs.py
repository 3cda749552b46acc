"""One model's work as jobs for the worker pool (evaluation: configs x tasks; fidelity: every
pruned config against the unpruned model), and the consolidated views that hold exactly the
planned runs.

A sweep and the comparison share the configs at the comparison levels (the comparison's first
seed): the sweep job starts after the comparison's and reuses its checkpoints for the tasks both
run.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from fnmatch import fnmatchcase
from pathlib import Path

from ..errors import UserError
from ..evaluate import comparison_configs, consolidate_results, run_robust_evaluation, task_identity
from ..fidelity import consolidate_fidelity, fidelity_identity, load_text, run_fidelity
from ..prune import PruneConfig
from ..store import atomic_write_json, identity_key
from .plan import ModelPlan


def run_job(part: ModelPlan, job: dict, run_dir: Path) -> int:
    """Worker side: one run_robust_evaluation call (configs x tasks), in this process. What it did
    (done, failed, damaged checkpoints set aside) goes to jobs/<name>.json for the study to report."""
    import torch

    torch.set_num_threads(part.torch_threads_per_lane)
    configs = [None if c is None else PruneConfig(**c) for c in job["configs"]]
    if job.get("kind") == "fidelity":
        settings = part.fidelity.settings()
        status = run_fidelity(part.spec(), configs, None, fidelity_dir(run_dir), settings, progress=False)
    else:
        status = run_robust_evaluation(
            part.spec(), configs, part.task_specs(job["tasks"]), run_dir, part.settings(), progress=False
        )
    atomic_write_json(job_report(run_dir, job["name"]), {"job": job["name"], **status.to_dict()})
    print(f"[{job['name']}] {status.summary()}", file=sys.stderr)
    return 1 if status.failed else 0


def job_report(run_dir: Path, name: str) -> Path:
    return run_dir / "jobs" / f"{name}.json"


def fidelity_dir(run_dir: Path) -> Path:
    """The fidelity checkpoints of a part, beside its evaluation run dir."""
    return run_dir.parent / "fidelity"


def worker_job(job: dict) -> dict:
    """The part of a job a worker process gets, as JSON data."""
    configs = [None if c is None else asdict(c) for c in job["configs"]]
    return {"name": job["name"], "kind": job.get("kind"), "configs": configs, "tasks": list(job["tasks"])}


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


def _spot_levels(part: ModelPlan) -> list:
    return [p for p in part.spot.levels if p != 0] if part.spot else []


def _fixed_configs(part: ModelPlan) -> list[PruneConfig]:
    """Every pruned config known before the comparison picks its best data-driven method: MAW at
    every level first (the sweep's curve), then the other methods at the comparison levels."""
    cmp = part.comparison
    configs = [_swept(part, "maw", p) for p in sorted({*part.sweep.levels, *_spot_levels(part)}) if p]
    configs += comparison_configs(
        cmp.methods, cmp.levels, cmp.seeds, baseline=False, **asdict(part.prune_options)
    )
    return list({identity_key(c.settings()): c for c in configs}.values())


def evaluation_jobs(part: ModelPlan, prepare_best=None) -> list[dict]:
    """Every job of one model, in the order the pool starts them: fidelity first (one forward pass
    per configuration: the cheapest measurement that resolves methods and levels), then what every
    paired statistic needs (the unpruned model), the comparison (MAW and the data-driven methods
    first: the sweeps wait for them), the sweeps, the costly spot tasks. `prepare_best(job)` fills
    in the configs of the best data-driven method once the comparison has picked it."""
    cmp, sweep = part.comparison, part.sweep
    jobs = [_job("fidelity", _fixed_configs(part), kind="fidelity")] if part.fidelity else []
    jobs.append(_job("unpruned-sweep", [None], sorted(set(sweep.tasks) | set(cmp.tasks))))
    first = [m for m in ("maw", *cmp.data_driven) if m in cmp.methods]
    later = [m for m in cmp.methods if m not in first]
    jobs += [_job(f"compare-{m}", _method_configs(part, m), cmp.tasks) for m in first]
    waits = ["compare-maw"] if "maw" in cmp.methods else []
    levels = [p for p in sweep.levels if p]  # one job per level: two lanes share a sweep
    jobs += [_job(f"sweep-maw-{p:g}", [_swept(part, "maw", p)], sweep.tasks, after=waits) for p in levels]
    if part.spot:  # the unpruned model first, then one job per level and task: the longest jobs
        spot = part.spot.tasks
        jobs += [_job(f"unpruned-{t}", [None], [t]) for t in spot]
        jobs += [
            _job(f"spot-{t}-{p:g}", [_swept(part, "maw", p)], [t]) for p in _spot_levels(part) for t in spot
        ]
    jobs += [_job(f"compare-{m}", _method_configs(part, m), cmp.tasks) for m in later]
    after = [f"compare-{m}" for m in cmp.data_driven]
    if cmp.data_driven:
        best = {"after": after, "prepare": prepare_best}
        jobs += [_job(f"sweep-best-{p:g}", [], sweep.tasks, level=p, **best) for p in levels]
    jobs += [_job(f"unpruned-{t}", [None], [t]) for t in part.unpruned_only.tasks]
    if part.fidelity and cmp.data_driven:  # the best method's other sweep levels, once it is chosen
        jobs.append(_job("fidelity-best", [], kind="fidelity", after=after, prepare=prepare_best))
    return jobs


def select_jobs(jobs: list[dict], patterns=None) -> list[dict]:
    """The jobs whose names match one of the shell patterns, ordered by the first pattern each
    matches (then in the plan's order): a partial run, in the order its user needs the answers. A
    wait on a job left out is dropped: a sweep then scores the comparison's tasks itself, into the
    very checkpoints the comparison would have written."""
    if patterns is None:
        return jobs

    def rank(job: dict):
        return next((i for i, p in enumerate(patterns) if fnmatchcase(job["name"], p)), None)

    picked = sorted((j for j in jobs if rank(j) is not None), key=rank)
    names = {j["name"] for j in picked}
    return [{**j, "after": [a for a in j.get("after", ()) if a in names]} for j in picked]


def _job(name: str, configs: list, tasks=(), **extra) -> dict:
    return {"name": name, "configs": configs, "tasks": list(tasks), **extra}


def prepare_best(part: ModelPlan, run_dir: Path, chosen: dict, say, job: dict) -> dict:
    """A job of the best data-driven method (its sweep at the job's level, or its fidelity at the
    levels the comparison did not cover), once the comparison's data-driven runs have picked it."""
    if "method" not in chosen:
        best, means = best_data_method(part, run_dir)
        chosen.update(method=best, means=means)
        rounded = {k: round(v, 3) for k, v in means.items()}
        metric = part.comparison.choose_by.metric
        say(f"  {part.name}: best data-driven method {best} (mean {metric}: {rounded})")
    best = chosen["method"]  # the job keeps its name: the one --only and a failure report use
    if job.get("kind") == "fidelity":  # the comparison levels are in the first fidelity job
        return {**job, "configs": [_swept(part, best, p) for p in _sweep_rest(part)]}
    return {**job, "configs": [_swept(part, best, job["level"])]}


def comparison_pairs(part: ModelPlan) -> list[tuple]:
    cmp = part.comparison
    configs = comparison_configs(cmp.methods, cmp.levels, cmp.seeds, **asdict(part.prune_options))
    return [(c, t) for c in configs for t in cmp.tasks]


def sweep_pairs(part: ModelPlan, best: str | None) -> list[tuple]:
    sweep, spot = part.sweep, part.spot.tasks if part.spot else ()
    pairs = [(None, t) for t in (*sweep.tasks, *part.unpruned_only.tasks, *spot)]
    methods = ("maw", best) if best else ("maw",)
    pairs += [(_swept(part, m, p), t) for m in methods for p in sweep.levels if p != 0 for t in sweep.tasks]
    return pairs + [(_swept(part, "maw", p), t) for p in _spot_levels(part) for t in spot]


def fidelity_configs(part: ModelPlan, best: str | None) -> list[PruneConfig]:
    """Every pruned config of the plan, for the fidelity view."""
    best_configs = [_swept(part, best, p) for p in _sweep_rest(part)] if best else []
    return [*_fixed_configs(part), *best_configs]


def planned_fidelity_keys(part: ModelPlan, best: str | None) -> set[str]:
    text, settings = load_text(None), part.fidelity.settings()
    return {
        identity_key(fidelity_identity(part.spec(), c, text, settings)) for c in fidelity_configs(part, best)
    }


def consolidate_fidelity_view(part: ModelPlan, run_dir: Path, best: str | None, paths) -> tuple:
    """(table, complete, missing) of the planned fidelity runs, written to `paths` (csv, json)."""
    keys = planned_fidelity_keys(part, best)
    table, complete = consolidate_fidelity(
        fidelity_dir(run_dir), *paths, select=lambda i: identity_key(i) in keys
    )
    return table, complete, len(keys) - len(complete["runs"])


def planned_keys(part: ModelPlan, pairs) -> set[str]:
    spec, settings = part.spec(), part.settings()
    return {identity_key(task_identity(spec, c, part.task_specs([t])[0], settings)) for c, t in pairs}


def consolidate(part: ModelPlan, run_dir: Path, pairs, paths=None, settings=None):
    """(table, complete, missing): the planned runs found in run_dir; written to `paths` if given."""
    keys = planned_keys(part, pairs)
    paired = {} if paths else {"paired": None}  # read for its values only: no paired statistics
    paths = paths or (os.devnull, os.devnull)
    table, complete = consolidate_results(
        run_dir, *paths, select=lambda i: identity_key(i) in keys, settings=settings, **paired
    )
    return table, complete, len(keys) - len(complete["runs"])


def best_data_method(part: ModelPlan, run_dir: Path) -> tuple[str, dict]:
    """The data-driven method with the best mean of the plan's metric over the comparison levels."""
    cmp = part.comparison
    rule = cmp.choose_by
    pairs = [(c, rule.task) for m in cmp.data_driven for c in _method_configs(part, m)]
    table, _, _ = consolidate(part, run_dir, pairs)
    t = table[(table.subtask == rule.task) & (table.metric == rule.metric) & (table["filter"] == rule.filter)]
    if t.empty:
        raise UserError(f"no {rule.task} {rule.metric} results for the data-driven methods yet")
    return pick_best(t, rule.lower_is_better)


def pick_best(rows, lower_is_better: bool) -> tuple[str, dict]:
    """(best method, its and the others' means) over the (level, seed) configurations that every
    method of `rows` has: a method measured so far only at its easier levels cannot win on them."""
    wide = rows.pivot_table(index=["pruning_pct", "seed"], columns="method", values="value")
    common = wide.dropna()
    if common.empty:
        raise UserError(
            f"the data-driven methods {', '.join(wide.columns)} share no measured level and seed yet"
        )
    means = common.mean().to_dict()
    pick = min if lower_is_better else max
    return pick(means, key=means.get), means
