"""What a profiling run measures and how, validated as a whole before any model loads."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..errors import UserError
from ..prune import PruneConfig, architecture_table, level_configs
from .generate import DECODES
from .meters import METERS
from .workloads import BENCHMARKS_CARBON, MODES, check_workloads

ORDERS = ("auto", "interleaved", "shuffled")
INTERLEAVE_MEMORY_FRACTION = 0.5  # interleave when all levels take at most this share of memory


@dataclass(frozen=True)
class ProfileConfig:
    """What to measure and how. Validated as a whole before any model loads."""

    levels: tuple[float, ...] = (0.0, 40.0)
    method: str = "maw"
    divisor: int | None = None
    prune_seed: int = 0  # random method only
    workloads: tuple[str, ...] = tuple(BENCHMARKS_CARBON)
    batch_sizes: tuple[int, ...] = tuple(MODES.values())
    batches: int = 2  # batches per measurement (different prompts)
    new_tokens: int = 32  # exactly this many per row, EOS or not
    repeats: int = 3
    warmup: int = 1  # untimed runs before each measurement
    seed: int = 0  # prompt sampling and run order
    energy: str = "auto"
    idle_seconds: float = 5.0
    country: str = "USA"  # grid intensity for codecarbon's emissions (energy does not depend on it)
    order: str = "auto"
    threads: int | None = None  # torch intra-op threads on the CPU (None: torch's default)
    prompt_tokenizer: str | None = None  # shape-only models: tokenizes their prompts (None: the embedded one)
    decode: str = "dynamic"  # or "static": preallocated cache, CUDA-graph replay on a GPU (generate.py)
    # filled in: prompts drawn per workload; no identity, since a batch size's prompts are a prefix
    # of the same seeded order whatever it is (workloads.sample_prompts)
    max_prompts: int = field(default=0, compare=False)

    def __post_init__(self):
        problems = []
        try:
            level_configs(self.levels, self.method, self.divisor, self.prune_seed)
        except UserError as exc:
            problems.append(str(exc))
        try:
            check_workloads(self.workloads)
        except UserError as exc:
            problems.append(str(exc))
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            problems.append("--batch-size values must be positive")
        for name, value, low in (
            ("--batches", self.batches, 1),
            ("--new-tokens", self.new_tokens, 2),
            ("--repeats", self.repeats, 1),
            ("--warmup", self.warmup, 0),
        ):
            if not isinstance(value, int) or value < low:
                problems.append(f"{name} must be an integer >= {low}")
        if self.energy not in ("auto", *METERS):
            problems.append(f"--energy must be one of auto, {', '.join(METERS)}")
        if self.energy != "none" and not self.idle_seconds > 0:
            problems.append("--idle-seconds must be positive")
        if self.energy in ("auto", "codecarbon") and (problem := country_problem(self.country)):
            problems.append(problem)
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            problems.append("--threads must be a positive integer")
        if self.decode not in DECODES:
            problems.append(f"--decode must be one of {', '.join(DECODES)}")
        elif self.decode == "static" and self.warmup < 1:
            problems.append("--decode static needs --warmup 1 or more (the warm-up captures the CUDA graph)")
        if self.order not in ORDERS:
            problems.append(f"--order must be one of {', '.join(ORDERS)}")
        if problems:
            raise UserError("; ".join(problems))
        object.__setattr__(self, "max_prompts", max(self.batch_sizes) * self.batches)

    def prune_config(self, level: float) -> PruneConfig | None:
        return level_configs([level], self.method, self.divisor, self.prune_seed)[0]

    def series(self) -> dict:
        """The pruning settings shared by every level of this run (level 0 is measured per series)."""
        settings = self.prune_config(50.0).settings()
        settings.pop("pct")
        settings.pop("expansion_ratio")
        return settings


def country_problem(country_iso_code) -> str | None:
    """Why codecarbon cannot use `country_iso_code` (None: it can). It logs an unknown code as an
    error and carries on without a grid intensity, so the code is checked against its table first."""
    from codecarbon.input import DataSource

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    known = DataSource().get_global_energy_mix_data()
    if isinstance(country_iso_code, str) and country_iso_code in known:
        return None
    return (
        f"--country {country_iso_code!r} is not in codecarbon's table of {len(known)} countries "
        "(three-letter upper-case ISO codes such as USA, FRA, DEU)"
    )


def resolve_order(order: str, spec, model_config, levels, divisor, device: str) -> tuple[str, dict]:
    """The order mode to use, and the memory estimate that decided it."""
    import psutil
    import torch

    per_param = torch.empty(0, dtype=getattr(torch, spec.dtype)).element_size()
    table = architecture_table(spec.model, model_config, [lv for lv in levels], divisor)
    need = sum(r["total_parameters"] for r in table) * per_param
    if device.startswith("cuda"):
        capacity = torch.cuda.get_device_properties(torch.device(device)).total_memory
    else:
        capacity = psutil.virtual_memory().total
    fits = need <= INTERLEAVE_MEMORY_FRACTION * capacity
    chosen = ("interleaved" if fits else "shuffled") if order == "auto" else order
    return chosen, {"all_levels_bytes": need, "memory_capacity_bytes": capacity, "requested": order}
