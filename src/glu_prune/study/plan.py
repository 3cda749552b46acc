"""Study plans: the design of a study as typed data (plans/<name>.json, or any JSON file of the same
shape), parsed and validated completely before any work or any write.

A plan is one model's study, or `{"about": ..., "parts": [one model's study, ...]}`: the parts run in
order, each into its own folder of the run dir, and write their results into one results dir.
Types, ranges and unknown keys are checked by pydantic (strict: "2" is not a number); what depends
on several fields, or on the registries of tasks, methods and models, by checks.py. Each problem is
reported in one line that names its field, e.g. `sweep.levels: expected a list of numbers`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from ..errors import UserError
from ..evaluate import EvalSettings, TaskSpec
from ..fidelity import FidelitySettings
from ..models import ModelSpec, canonical_name
from ..profile import ProfileConfig
from ..prune import DEFAULT_LEVELS, PruneConfig, level_configs
from ..store import slug
from .checks import model_problems, part_problems
from .problems import format_errors

PLANS = ("default", "quick", "full")
STRICT = ConfigDict(extra="forbid", strict=True)


def _list_of(what: str):
    """A JSON list, as a tuple; anything else is refused with what the list should hold."""

    def check(value):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected a list of {what}")
        return tuple(value)

    return BeforeValidator(check)


Positive = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
Level = Annotated[int | float, Field(ge=0, lt=100)]  # an int stays an int (tables print 40, not 40.0)
Levels = Annotated[tuple[Level, ...], _list_of("numbers"), Field(min_length=1)]
Names = Annotated[tuple[str, ...], _list_of("names")]
Integers = Annotated[tuple[Count, ...], _list_of("integers")]


@dataclass(frozen=True, config=STRICT)
class TaskSize:
    """Few-shot count and documents of one task (limit null: the whole split)."""

    num_fewshot: Count
    limit: Positive | None


@dataclass(frozen=True, config=STRICT)
class ChooseBy:
    """How the best data-driven method is picked: mean of one metric over the comparison levels."""

    task: str
    metric: str
    filter: str = "none"
    lower_is_better: bool = True


@dataclass(frozen=True, config=STRICT)
class Comparison:
    """Selection methods side by side at equal levels (above 0; the unpruned model is always in)."""

    methods: Annotated[Names, Field(min_length=1)]
    levels: Levels
    tasks: Annotated[Names, Field(min_length=1)]
    choose_by: ChooseBy
    seeds: Annotated[Integers, Field(min_length=1)] = (0,)
    data_driven: Names = ()


@dataclass(frozen=True, config=STRICT)
class Sweep:
    """MAW and the best data-driven method over the pruning levels, on these tasks."""

    levels: Levels
    tasks: Annotated[Names, Field(min_length=1)]


@dataclass(frozen=True, config=STRICT)
class Spot:
    """Costly tasks (5-shot MMLU, generation) at a few sweep levels, MAW only (and why)."""

    levels: Levels
    tasks: Annotated[Names, Field(min_length=1)]
    why: str = ""


@dataclass(frozen=True, config=STRICT)
class FidelityPlan:
    """KL and top-1 agreement of every planned pruned configuration against the unpruned model, on
    the Wikipedia paragraphs (the first `max_windows` windows of `window` tokens)."""

    window: Annotated[int, Field(ge=2)] = 512
    max_windows: Positive | None = 100

    def settings(self) -> FidelitySettings:
        return FidelitySettings(window=self.window, max_windows=self.max_windows)


@dataclass(frozen=True, config=STRICT)
class UnprunedOnly:
    """Tasks measured on the unpruned model only (and why)."""

    tasks: Names = ()
    why: str = ""


@dataclass(frozen=True, config=STRICT)
class Architecture:
    """Expansion-ratio tables (config only): these levels, unrounded and rounded to each divisor."""

    levels: Levels = DEFAULT_LEVELS
    divisors: Integers = ()


@dataclass(frozen=True, config=STRICT)
class PruneOptions:
    """Calibration of the data-driven methods (ignored by the others)."""

    calibration_samples: Positive = 64
    calibration_seq_len: Positive = 256


@dataclass(frozen=True, config=STRICT)
class ProfilePlan:
    """ProfileConfig's settings, once per divisor (null: unrounded); unset fields keep its defaults."""

    levels: Levels
    divisors: Annotated[tuple[Positive | None, ...], _list_of("divisors or null")] = (None,)
    method: str | None = None
    prune_seed: Count | None = None
    workloads: Names | None = None
    batch_sizes: Annotated[tuple[Positive, ...], _list_of("integers")] | None = None
    batches: Positive | None = None
    new_tokens: Annotated[int, Field(ge=2)] | None = None
    repeats: Positive | None = None
    warmup: Count | None = None
    seed: Count | None = None
    energy: str | None = None
    idle_seconds: Annotated[float, Field(gt=0)] | None = None
    country: str | None = None
    order: str | None = None
    threads: Positive | None = None

    def configs(self) -> list[ProfileConfig]:
        given = {k: v for k, v in asdict(self).items() if v is not None and k != "divisors"}
        return [ProfileConfig(**given, divisor=d) for d in self.divisors]


@dataclass(frozen=True, config=STRICT)
class ModelPlan:
    """One model's study: method comparison, capability sweep, profile, with their sizes."""

    model: str
    tasks: dict[str, TaskSize]
    comparison: Comparison
    sweep: Sweep
    profile: ProfilePlan
    about: str = ""
    offline: bool = True
    lanes: Positive = 1  # evaluation worker processes
    torch_threads_per_lane: Positive = 1
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # auto: bfloat16 where native
    backend: Literal["glu-prune", "hf"] = "glu-prune"  # lm-eval back end of the evaluations
    batch_size: Positive | Literal["auto"] | None = None  # None: the back end's device default
    prune_options: PruneOptions = field(default_factory=PruneOptions)
    architecture: Architecture = field(default_factory=Architecture)
    unpruned_only: UnprunedOnly = field(default_factory=UnprunedOnly)
    spot: Spot | None = None
    fidelity: FidelityPlan | None = None

    @property
    def name(self) -> str:
        """The model's name in file names (results, figures) and the part's folder of the run dir."""
        return slug(canonical_name(self.model))

    @property
    def sweep_view(self) -> str:
        return f"{self.name}_offline" if self.offline else self.name

    @property
    def comparison_view(self) -> str:
        return f"{self.name}_method_comparison"

    def spec(self) -> ModelSpec:
        """The model as evaluated and profiled (dtype auto: bfloat16 where the device computes it
        natively, else float32; the spec keeps the reason for the records)."""
        return ModelSpec(self.model, dtype=self.dtype)

    def settings(self) -> EvalSettings:
        return EvalSettings(offline=self.offline, backend=self.backend, batch_size=self.batch_size)

    def task_specs(self, names) -> list[TaskSpec]:
        return [TaskSpec(n, self.tasks[n].num_fewshot, self.tasks[n].limit) for n in names]

    def config(self, method: str, level: float, seed: int = 0) -> PruneConfig | None:
        """The pruning config of one method at one level (None: level 0, the unpruned model)."""
        options = asdict(self.prune_options)
        return level_configs([level], method, seed=seed, **options)[0]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StudyPlan:
    """The parts of a study (one per model), run in order; `source` is the plan's name or file."""

    parts: tuple[ModelPlan, ...]
    about: str = ""
    source: str = ""

    def to_dict(self) -> dict:
        return {"about": self.about, "parts": [p.to_dict() for p in self.parts]}


@dataclass(frozen=True, config=STRICT)
class _Parts:
    parts: Annotated[tuple[ModelPlan, ...], _list_of("single-model plans"), Field(min_length=1)]
    about: str = ""


def load_plan(name_or_path: str) -> StudyPlan:
    """A named plan shipped with the package, or a JSON file: parsed, then checked against the
    registries and the models' configs (no weights load). Raises UserError naming each bad field."""
    plan = parse_plan(_read(name_or_path), name_or_path)
    _raise(model_problems(plan))
    return plan


def shipped_plan(name: str) -> StudyPlan:
    """A plan shipped with the package, parsed (its models are not looked up)."""
    return parse_plan(_read(name), name)


def _read(name_or_path: str):
    if name_or_path in PLANS:
        text = resources.files("glu_prune.study").joinpath(f"plans/{name_or_path}.json").read_text()
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise UserError(f"--plan {name_or_path}: not one of {', '.join(PLANS)} and no such file")
        text = path.read_text()
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UserError(f"--plan {name_or_path}: not valid JSON ({exc})") from None


def parse_plan(data, source: str = "") -> StudyPlan:
    """A StudyPlan from JSON data (either shape); types, ranges, keys, tasks and methods checked."""
    if not isinstance(data, dict):
        raise UserError(f"study plan: expected a JSON object, got {type(data).__name__}")
    multi = "parts" in data
    try:
        if multi:
            top = TypeAdapter(_Parts).validate_json(json.dumps(data))
            parts, about = top.parts, top.about
        else:
            parts = (TypeAdapter(ModelPlan).validate_json(json.dumps(data)),)
            about = parts[0].about
    except ValidationError as exc:
        raise UserError("study plan: " + "; ".join(format_errors(exc.errors()))) from None
    problems = []
    for i, part in enumerate(parts):
        problems += [f"{f'parts[{i}].' if multi else ''}{p}" for p in part_problems(part)]
    _raise(problems)
    return StudyPlan(parts=tuple(parts), about=about, source=source)


def _raise(problems: list[str]) -> None:
    if problems:
        raise UserError("study plan: " + "; ".join(problems))
