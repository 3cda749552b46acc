"""Pruning: widths, selection methods, calibration and re-fit, in-place slicing with its record,
export to a plain transformers directory, and architecture tables from configs alone."""

from .architecture import DEFAULT_LEVELS, architecture_table, write_tables
from .calibration import CalibrationStats, calibration_batches
from .config import PruneConfig, level_configs
from .core import check_prunable, prune
from .export import save_pruned
from .load import load_pruned
from .methods import METHODS, Method
from .record import METRIC_COLUMNS, TABLE_COLUMNS, PruningRecord, table_columns
from .widths import DIVISORS, kept_width, pct_for_expansion_ratio

__all__ = [
    "DEFAULT_LEVELS",
    "DIVISORS",
    "METHODS",
    "CalibrationStats",
    "Method",
    "PruneConfig",
    "PruningRecord",
    "METRIC_COLUMNS",
    "TABLE_COLUMNS",
    "architecture_table",
    "calibration_batches",
    "check_prunable",
    "kept_width",
    "level_configs",
    "load_pruned",
    "pct_for_expansion_ratio",
    "prune",
    "save_pruned",
    "table_columns",
    "write_tables",
]
