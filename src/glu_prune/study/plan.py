"""Study plans: the design of a study as data (plans/<name>.json, or any JSON file of the same
shape), validated before anything runs, and turned into task specs, settings and pruning configs."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from ..errors import UserError
from ..evaluate import NAME, EvalSettings, TaskSpec
from ..models import AUTO, ModelSpec
from ..prune import METHODS, PruneConfig, level_configs
from ..tasks import check_tasks

PLANS = ("default", "quick", "full")


def load_plan(name_or_path: str) -> dict:
    """A named plan shipped with the package, or a JSON file; validated before anything runs."""
    if name_or_path in PLANS:
        text = resources.files("glu_prune.study").joinpath(f"plans/{name_or_path}.json").read_text()
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise UserError(f"--plan {name_or_path}: not one of {', '.join(PLANS)} and no such file")
        text = path.read_text()
    try:
        plan = json.loads(text)
    except ValueError as exc:
        raise UserError(f"--plan {name_or_path}: not valid JSON ({exc})") from None
    _validate(plan)
    return plan


def _validate(plan: dict) -> None:
    problems = []
    for key in ("model", "tasks", "comparison", "sweep", "profile"):
        if key not in plan:
            problems.append(f"missing {key!r}")
    if problems:
        raise UserError("study plan: " + "; ".join(problems))
    cmp, sweep = plan["comparison"], plan["sweep"]
    used = set(cmp["tasks"]) | set(sweep["tasks"]) | set(plan.get("unpruned_only", {}).get("tasks", []))
    missing = used - set(plan["tasks"])
    if missing:
        problems.append(f"tasks without a limit in 'tasks': {', '.join(sorted(missing))}")
    check_tasks(sorted(used), offline=plan.get("offline", True))
    unknown = [m for m in cmp["methods"] + cmp["data_driven"] if m not in METHODS]
    if unknown:
        problems.append(f"unknown methods {', '.join(unknown)}")
    if not set(cmp["data_driven"]) <= set(cmp["methods"]):
        problems.append("comparison.data_driven must be among comparison.methods")
    if cmp["choose_by"]["task"] not in cmp["tasks"]:
        problems.append("comparison.choose_by.task must be among comparison.tasks")
    level_configs([0, *cmp["levels"]])  # raises on bad levels
    level_configs(sweep["levels"])
    if problems:
        raise UserError("study plan: " + "; ".join(problems))


def _cfg(method, pct, seed=0) -> dict:
    return {"method": method, "pct": pct, "seed": seed}


def _task_specs(plan, names):
    return [TaskSpec(n, plan["tasks"][n]["num_fewshot"], plan["tasks"][n]["limit"]) for n in names]


def _settings(plan):
    return EvalSettings(
        offline=plan.get("offline", True),
        backend=plan.get("backend", NAME),
        batch_size=plan.get("batch_size"),  # None: the back end's default for the device (recorded)
    )


def _spec(plan) -> ModelSpec:
    """The evaluated model; dtype "auto" unless the plan names one (bfloat16 where native)."""
    return ModelSpec(plan["model"], dtype=plan.get("dtype", AUTO))


def _prune_config(plan, c):
    return None if c is None else PruneConfig(**c, **plan.get("prune_options", {}))
