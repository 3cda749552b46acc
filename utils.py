"""Notebook facade: the names the notebooks (and the original study's users) call. No logic lives here.

Everything is implemented in the `glu_prune` package (src/glu_prune); this file only names it, so
that notebooks read `utils.run_robust_evaluation(...)` as in the original study. Names are imported
on first use (PEP 562), so a notebook pays only for the libraries it needs.
"""

import importlib

EXPORTS = {
    "glu_prune.study": ["EXPERIMENT_CONFIG"],
    "glu_prune.models": ["ModelSpec"],
    "glu_prune.prune": ["level_configs", "write_tables"],
    "glu_prune.evaluate": [
        "BENCHMARKS_BASE",
        "BENCHMARKS_INSTRUCT",
        "EvalSettings",
        "compare_methods",
        "comparison_configs",
        "consolidate_results",
        "instruction_kinds",
        "named_tasks",
        "run_robust_evaluation",
        "suite_tasks",
    ],
    "glu_prune.fidelity": ["FidelitySettings", "consolidate_fidelity", "run_fidelity"],
    "glu_prune.profile": [
        "BENCHMARKS_CARBON",
        "ProfileConfig",
        "consolidate_profiles",
        "run_carbon_profiling",
    ],
    "glu_prune.report": [
        "Thresholds",
        "compare_models",
        "decision_matrix",
        "draw_figures",
        "group_retention",
        "load_results",
        "normalise_to_baseline",
        "performance_summary",
        "show_figures",
    ],
}
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
