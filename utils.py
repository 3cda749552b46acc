"""Notebook facade: the functions and tables the notebooks call. No logic lives here.

Everything is implemented in the `glu_prune` package (src/glu_prune); this file only names what
the notebooks use, so that they read `utils.run_robust_evaluation(...)` as in the original study.
Names are imported on first use (PEP 562), so a notebook pays only for the libraries it needs.
"""

import importlib

EXPORTS = {
    "glu_prune.experiment": ["EXPERIMENT_CONFIG"],
    "glu_prune.models": ["ModelSpec", "load_config", "load_model"],
    "glu_prune.pruning": ["METHODS", "PruneConfig", "level_configs", "load_pruned", "prune"],
    "glu_prune.export": ["save_pruned"],
    "glu_prune.architecture": ["architecture_table", "write_tables"],
    "glu_prune.suites": ["BENCHMARKS_BASE", "BENCHMARKS_INSTRUCT", "named_tasks", "suite_tasks"],
    "glu_prune.evaluation": ["EvalSettings", "consolidate_results", "run_robust_evaluation"],
    "glu_prune.comparison": ["compare_methods"],
    "glu_prune.workloads": ["BENCHMARKS_CARBON"],
    "glu_prune.energy": ["calibrate_idle_power"],
    "glu_prune.profile_run": ["ProfileConfig", "run_carbon_profiling"],
    "glu_prune.profile_results": ["consolidate_profiles"],
    "glu_prune.analysis": ["CAPABILITY_GROUPS", "PRIMARY_METRICS", "Thresholds", "decision_matrix",
                           "group_retention", "load_results", "normalise_to_baseline", "performance_summary"],
    "glu_prune.figures": ["draw_figures", "show_figures"],
    "glu_prune.publish": ["build_model_card", "push"],
}  # fmt: skip
_WHERE = {name: module for module, names in EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"utils has no {name!r}; it offers {', '.join(__all__)}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
