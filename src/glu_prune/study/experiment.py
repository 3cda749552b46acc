"""The study's design as data, under the name the original study's users know: EXPERIMENT_CONFIG.

The original study pruned Llama-3.2 1B and 3B (base and instruct) in Colab: bfloat16 on a GPU, hub
benchmark data. This project runs the same design offline on the embedded model through the study
plans (plans/*.json). EXPERIMENT_CONFIG holds both: the methods, levels and comparison come from
the plans (the committed study, `full`; the default study for the offline comparison), the
original models, suites and sizes are the original study's, and the offline notebook sizes are
chosen so each notebook runs in minutes on a CPU (notebooks/README.md has their measured times).
The notebooks read their defaults from it.
"""

from __future__ import annotations

from ..evaluate import SUITES
from .plan import PLANS, StudyPlan, shipped_plan

# the original study: each Llama-3.2 model's suite; its instruct models were pruned at fewer levels
ORIGINAL_MODELS = {
    "llama-3.2-1b": "base",
    "llama-3.2-1b-instruct": "instruct",
    "llama-3.2-3b": "base",
    "llama-3.2-3b-instruct": "instruct",
}
INSTRUCT_LEVELS = (0, 10, 40, 60)
COLAB = {  # the original study's environment: hub data, a GPU, bfloat16, whole splits
    "dtype": "bfloat16",
    "offline": False,
    "limit": None,
    "batch_size": "auto",
    "comparison_model": "llama-3.2-1b",
    "comparison_tasks": ("wikitext", "lambada_openai", "mmlu", "gsm8k"),
    "profile": {"batch_sizes": (1, 8), "new_tokens": 128, "repeats": 5},
}
NOTEBOOK_SIZES = {  # offline notebooks on the embedded model: minutes on 2 CPU cores
    "levels": (0, 40),
    "limit": 10,
    "batch_size": 8,
    "comparison_limit": 20,
    "profile": {"batch_sizes": (1, 8), "new_tokens": 16, "repeats": 2},
}


def _union(values) -> tuple:
    return tuple(dict.fromkeys(values))


def _summary(plan: StudyPlan) -> dict:
    """What a plan studies: its models, levels, methods and task sizes (per part)."""
    return {
        "about": plan.about,
        "parts": [
            {
                "model": p.model,
                "sweep_levels": p.sweep.levels,
                "comparison_methods": p.comparison.methods,
                "comparison_levels": p.comparison.levels,
                "tasks": {t: {"num_fewshot": s.num_fewshot, "limit": s.limit} for t, s in p.tasks.items()},
                "profile_levels": p.profile.levels,
            }
            for p in plan.parts
        ],
    }


def experiment_config(plans: dict[str, StudyPlan]) -> dict:
    """The design from the shipped plans (see the module's docstring)."""
    committed, default = plans["full"].parts, plans["default"].parts[0]
    levels = tuple(sorted(_union(lv for p in committed for lv in p.sweep.levels)))
    return {
        "method": "maw",  # the original study's selection method, swept by every plan
        "methods": _union(m for p in committed for m in p.comparison.methods),
        "levels": levels,
        "comparison_levels": tuple(sorted(_union(lv for p in committed for lv in p.comparison.levels))),
        "divisor": 128,  # the GPU-friendly rounding the committed study profiles
        "suites": {name: tuple(t.name for t in suite) for name, suite in SUITES.items()},
        "models": {
            name: {"suite": suite, "levels": levels if suite == "base" else INSTRUCT_LEVELS}
            for name, suite in ORIGINAL_MODELS.items()
        },
        "colab": COLAB,
        "offline": {
            "model": default.model,
            "dtype": "float32",
            "offline": True,
            "comparison_tasks": default.comparison.tasks,
            **NOTEBOOK_SIZES,
        },
        "studies": {name: _summary(plan) for name, plan in plans.items()},
    }


EXPERIMENT_CONFIG = experiment_config({name: shipped_plan(name) for name in PLANS})
