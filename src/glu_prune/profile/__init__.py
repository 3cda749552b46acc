"""Profiling: workloads, clocks and memory meters, fixed-length generation, energy meters, the
scheduled and checkpointed runner, and consolidated records with ideal vs measured speed-ups."""

from .config import ORDERS, ProfileConfig
from .energy import calibrate_idle_power
from .generate import DECODES
from .meters import METERS
from .records import consolidate_profiles, record_keys
from .runner import run_carbon_profiling
from .workloads import BENCHMARKS_CARBON, MODES

__all__ = [
    "BENCHMARKS_CARBON",
    "DECODES",
    "METERS",
    "MODES",
    "ORDERS",
    "ProfileConfig",
    "calibrate_idle_power",
    "consolidate_profiles",
    "record_keys",
    "run_carbon_profiling",
]
