"""A plan's problems beyond its types: across its fields (every task used has a size, data-driven
methods are among the compared ones, ...), against the registries of tasks and methods, and
against the models it names (each exists here, config and weights found, nothing loaded; each is
studied once; every planned level leaves a valid width, from its config alone)."""

from __future__ import annotations

from ..errors import UserError
from ..models import ModelSpec, canonical_name, load_config, weights_source
from ..prune import DIVISORS, METHODS, check_prunable
from ..tasks import check_tasks
from .problems import found


def model_problems(plan) -> list[str]:
    """Problems of every part's model, each naming its field; [] when all can run."""
    out, seen = [], {}
    for i, part in enumerate(plan.parts):
        where = f"parts[{i}]." if len(plan.parts) > 1 else ""
        problems = found(f"{where}model", lambda part=part: _available(part.model))
        if problems:
            out += problems
            continue
        name = canonical_name(part.model)
        if name in seen:
            out.append(f"{where}model: {name} is already studied by parts[{seen[name]}] (one part per model)")
        elif part.name in seen:  # two local dirs of the same name: their results files would collide
            other = seen[part.name]
            out.append(
                f"{where}model: its results would be filed as {part.name}, like those of parts[{other}]"
            )
        seen[name] = seen[part.name] = i
        out += [f"{where}{p}" for p in _width_problems(part)]
    return out


def _available(model: str) -> None:
    load_config(model)
    weights_source(ModelSpec(model))  # a model that needs an unreachable hub fails here, in seconds


def _width_problems(part) -> list[str]:
    """Each planned config removes at least one neuron and suits the model (layers, calibration)."""
    config = load_config(part.model)
    cmp = part.comparison
    planned = [("comparison.levels", m, lv) for m in cmp.methods for lv in cmp.levels]
    planned += [("sweep.levels", m, lv) for m in ("maw", *cmp.data_driven) for lv in part.sweep.levels if lv]
    planned += [("spot.levels", "maw", lv) for lv in (part.spot.levels if part.spot else ()) if lv]
    out = []
    for where, method, level in planned:
        try:
            check_prunable(config, part.config(method, level))
        except UserError as exc:
            out.append(f"{where}: {method} at {level:g} %: {exc}")
    for cfg in part.profile.configs():
        for level in (lv for lv in cfg.levels if lv):
            try:
                cfg.prune_config(level).target_width(config)
            except UserError as exc:
                out.append(f"profile.levels: {level:g} % with divisor {cfg.divisor}: {exc}")
    return list(dict.fromkeys(out))


def part_problems(part) -> list[str]:
    """What depends on several fields or on the registries of tasks and methods."""
    cmp, out = part.comparison, []
    out += found("tasks", lambda: check_tasks(list(part.tasks), part.offline))
    for where, names in (
        ("comparison.tasks", cmp.tasks),
        ("sweep.tasks", part.sweep.tasks),
        ("unpruned_only.tasks", part.unpruned_only.tasks),
        ("spot.tasks", part.spot.tasks if part.spot else ()),
    ):
        out += [
            f"{where}: {t!r} has no entry (few-shot, limit) in tasks" for t in names if t not in part.tasks
        ]
        out += _twice(where, names)
    for where, values in (
        ("comparison.methods", cmp.methods),
        ("comparison.levels", cmp.levels),
        ("comparison.seeds", cmp.seeds),
        ("sweep.levels", part.sweep.levels),
        ("profile.levels", part.profile.levels),
        ("architecture.levels", part.architecture.levels),
        ("spot.levels", part.spot.levels if part.spot else ()),
    ):
        out += _twice(where, values)
    out += [
        f"comparison.methods: unknown method {m!r} ({', '.join(METHODS)})"
        for m in cmp.methods
        if m not in METHODS
    ]
    out += [
        f"comparison.data_driven: {m!r} is not among comparison.methods"
        for m in cmp.data_driven
        if m not in cmp.methods
    ]
    out += [
        f"comparison.data_driven: {m!r} is not a data-driven method"
        for m in cmp.data_driven
        if m in METHODS and not METHODS[m].needs_data
    ]
    out += [
        f"comparison.levels: {lv} is not above 0 (the unpruned model is always included)"
        for lv in cmp.levels
        if lv == 0
    ]
    if cmp.choose_by.task not in cmp.tasks:
        out.append(f"comparison.choose_by.task: {cmp.choose_by.task!r} is not among comparison.tasks")
    out += [
        f"architecture.divisors: {d} is not one of {', '.join(map(str, DIVISORS))}"
        for d in part.architecture.divisors
        if d not in DIVISORS
    ]
    out += found("prune_options", lambda: part.config("data", 50))
    out += found("profile", part.profile.configs)
    return out


def _twice(where: str, values) -> list[str]:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    return [f"{where}: {v!r} is listed twice" for v in dict.fromkeys(seen)]
