"""Evaluation: suites as data, checkpointed lm-eval runs with their per-document values, tidy
records, paired statistics against the unpruned model (IFEval also by kind of instruction), answer
bias on two-choice tasks, consolidation, the selection-method comparison, and two models at the same
expansion ratio or percentage."""

from .across_models import across_models_table, write_across_models
from .answer_bias import answer_bias
from .backend import BACKENDS, NAME, STOCK, backend_class, run_info
from .comparison import compare_methods, comparison_configs, comparison_table
from .consolidate import consolidate_results
from .identity import config_label, task_identity
from .ifeval_kinds import instruction_kinds
from .paired import DEFAULT_PAIRED, PairedSettings, adjust_p_values, paired_statistics
from .pairing import PAIRED_COLUMNS, paired_columns
from .records import CSV_COLUMNS, tidy_rows
from .requests import task_requests
from .runner import run_robust_evaluation, split_tasks, validate
from .settings import EvalSettings, EvalStatus
from .suites import BENCHMARKS_BASE, BENCHMARKS_INSTRUCT, SUITES, TaskSpec, named_tasks, suite_tasks

__all__ = [
    "across_models_table",
    "answer_bias",
    "BACKENDS",
    "BENCHMARKS_BASE",
    "BENCHMARKS_INSTRUCT",
    "CSV_COLUMNS",
    "DEFAULT_PAIRED",
    "PAIRED_COLUMNS",
    "SUITES",
    "EvalSettings",
    "NAME",
    "STOCK",
    "EvalStatus",
    "PairedSettings",
    "TaskSpec",
    "adjust_p_values",
    "compare_methods",
    "comparison_configs",
    "comparison_table",
    "backend_class",
    "config_label",
    "consolidate_results",
    "instruction_kinds",
    "named_tasks",
    "paired_columns",
    "paired_statistics",
    "run_info",
    "run_robust_evaluation",
    "split_tasks",
    "suite_tasks",
    "task_identity",
    "task_requests",
    "tidy_rows",
    "validate",
    "write_across_models",
]
