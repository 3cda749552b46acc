"""What to prune, as data: one PruneConfig per pruned model, validated before any weights load."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..errors import UserError
from .methods import METHODS
from .widths import DIVISORS, target_width


@dataclass(frozen=True)
class PruneConfig:
    """What to remove. Exactly one of pct / expansion_ratio."""

    method: str = "maw"
    pct: float | None = None
    expansion_ratio: float | None = None
    divisor: int | None = None
    seed: int = 0
    layers: tuple[int, ...] | None = None
    calibration_samples: int = 64  # data-driven methods only
    calibration_seq_len: int = 256

    def __post_init__(self):
        problems = self._problems()
        if problems:
            raise UserError("; ".join(problems))
        # one identity per experiment: 40 and 40.0 (a JSON plan, a CLI flag) prune the same neurons
        for name in ("pct", "expansion_ratio"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, float(getattr(self, name)))
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(self.layers))

    def _problems(self) -> list[str]:
        if self.method not in METHODS:
            return [f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}"]
        out = []
        if (self.pct is None) == (self.expansion_ratio is None):
            out.append("give exactly one of --pct and --expansion-ratio")
        if self.pct is not None and not (_number(self.pct) and 0 < self.pct < 100):
            out.append(f"--pct must be a number strictly between 0 and 100, got {self.pct!r}")
        if self.expansion_ratio is not None and not (
            _number(self.expansion_ratio) and self.expansion_ratio > 0
        ):
            out.append(f"--expansion-ratio must be a positive number, got {self.expansion_ratio!r}")
        if self.divisor is not None and self.divisor not in DIVISORS:
            out.append(f"--divisor must be one of {', '.join(map(str, DIVISORS))}")
        if self.layers is not None and (not self.layers or len(set(self.layers)) != len(self.layers)):
            out.append("--layers must list distinct layer indices")
        if self.data_driven:
            for flag, value in (
                ("--calibration-samples", self.calibration_samples),
                ("--calibration-seq-len", self.calibration_seq_len),
            ):
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    out.append(f"{flag} must be a positive integer, got {value!r}")
        return out

    @property
    def data_driven(self) -> bool:
        return METHODS[self.method].needs_data

    def target_width(self, config) -> tuple[float, int]:
        """(pct, kept width) for this model config, validating the request against it."""
        return target_width(config, self.pct, self.expansion_ratio, self.divisor)

    @property
    def label(self) -> str:
        """A short file-name-safe name, e.g. maw-10pct, random-40pct-s1, data-er2-d128-s0."""
        size = f"{self.pct:g}pct" if self.pct is not None else f"er{self.expansion_ratio:g}"
        return (
            f"{self.method}-{size}"
            + (f"-d{self.divisor}" if self.divisor else "")
            + (f"-s{self.seed}" if METHODS[self.method].uses_seed else "")
        )

    @classmethod
    def from_settings(cls, settings: dict) -> PruneConfig:
        """The config whose settings() these are (a checkpoint identity's "prune")."""
        return cls(**{k: v for k, v in settings.items() if k != "method_version"})

    def settings(self) -> dict:
        """The settings that change the pruned weights (part of every checkpoint identity)."""
        out = asdict(self)
        out["method_version"] = METHODS[self.method].version
        if not self.data_driven:
            out.pop("calibration_samples"), out.pop("calibration_seq_len")
        if not METHODS[self.method].uses_seed:
            out.pop("seed")  # deterministic methods: a seed changes nothing, so it is no identity
        return out


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def level_configs(levels, method: str = "maw", divisor: int | None = None, seed: int = 0, **options) -> list:
    """One PruneConfig per pruning level; level 0 is the unpruned model (None). The one place where
    levels become configs (study, comparison, profile, CLI, notebooks), so they share checkpoints.

    `options`: the other PruneConfig fields (layers, calibration_samples, calibration_seq_len)."""
    if isinstance(levels, (str, bytes)) or not all(_number(level) for level in levels):
        raise UserError(f"pruning levels must be a list of numbers, got {levels!r}")
    if not levels:
        raise UserError("give at least one pruning level")
    if len(set(levels)) != len(levels):
        raise UserError("a pruning level is listed twice")
    if any(not 0 <= level < 100 for level in levels):
        raise UserError("pruning levels must be in [0, 100)")
    PruneConfig(method, pct=50.0, divisor=divisor, seed=seed, **options)  # checked even if every level is 0
    return [
        None if level == 0 else PruneConfig(method, pct=float(level), divisor=divisor, seed=seed, **options)
        for level in levels
    ]
