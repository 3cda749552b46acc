"""Neuron-selection methods compared at equal pruning levels (notebook 00's experiment).

Every (method, level) is one pruning config evaluated by `run_robust_evaluation` into the same
checkpoints an `evaluate` run would write, so the comparison and a level sweep share their work.
Seeds matter only for methods that use one (random selection, calibration sampling of the
data-driven methods): those run once per seed; deterministic methods run once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import UserError
from ..models import ModelSpec
from ..prune import METHODS, PruneConfig, level_configs
from .records import tidy_rows
from .runner import run_robust_evaluation
from .settings import DEFAULT_SETTINGS, EvalSettings, EvalStatus
from .suites import TaskSpec


def comparison_configs(
    methods: Sequence[str],
    levels: Sequence[float],
    seeds: Sequence[int] = (0,),
    divisor: int | None = None,
    baseline: bool = True,
    **prune_options,
) -> list[PruneConfig | None]:
    """One config per method x level (x seed where the method uses one), the unpruned model first."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise UserError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    if not methods or not levels or not seeds:
        raise UserError("give at least one method, one level and one seed")
    if len(set(methods)) != len(methods) or len(set(levels)) != len(levels) or len(set(seeds)) != len(seeds):
        raise UserError("a method, level or seed is listed twice")
    if any(level == 0 for level in levels):
        raise UserError("levels are pruning percentages above 0 (the unpruned model is included by itself)")
    configs: list[PruneConfig | None] = [None] if baseline else []
    for method in methods:
        runs = [
            level_configs(levels, method, divisor, seed, **prune_options)
            for seed in (seeds if METHODS[method].uses_seed else seeds[:1])
        ]
        configs += [by_seed[i] for i in range(len(levels)) for by_seed in runs]
    return configs


def compare_methods(
    spec: ModelSpec,
    methods: Sequence[str],
    levels: Sequence[float],
    tasks: Sequence[TaskSpec],
    out_dir: str | Path,
    settings: EvalSettings = DEFAULT_SETTINGS,
    seeds: Sequence[int] = (0,),
    divisor: int | None = None,
    progress: bool = True,
    **prune_options,
):
    """Evaluate methods x levels (plus the unpruned model) on `tasks`. -> (EvalStatus, long table).

    The table has one row per method x level x seed x task x metric (the task's own metrics,
    not its subtasks'), with value and stderr: pivot it to read methods side by side.
    """
    configs = comparison_configs(methods, levels, seeds, divisor, **prune_options)
    status = run_robust_evaluation(spec, configs, tasks, out_dir, settings, progress)
    return status, comparison_table(status)


def comparison_table(status: EvalStatus):
    import pandas as pd

    rows = [r for rec in status.records for r in tidy_rows(rec) if r["subtask"] == r["task"]]
    cols = [
        "method",
        "pruning_pct",
        "seed",
        "task",
        "metric",
        "filter",
        "value",
        "stderr",
        "higher_is_better",
        "n_samples",
    ]
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=cols)
    return table[cols].sort_values(
        ["task", "metric", "filter", "pruning_pct", "method", "seed"], kind="stable"
    )
