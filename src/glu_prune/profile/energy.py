"""Energy readings and their accounting: joules of exactly the timed work, raw and net of idle.

A meter (meters.py) reads an `EnergyReading` around the work. Idle power is calibrated with the
same meter over an idle window (`calibrate_idle_power`) close to the run, and `account()`
subtracts it over the work's own duration: raw and net joules are both kept, and divided by the
tokens of that same work, so numerator and denominator always cover the same thing. Emissions
(kg CO2-eq, codecarbon only) are kept apart and never used as an energy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from ..errors import UserError


@dataclass
class EnergyReading:
    """Joules over one meter window; `window_s` is the window the meter itself saw."""

    source: str  # nvml | codecarbon-rapl | codecarbon-estimate | ...
    estimate: bool  # True where no hardware counter measured (part of) the figure
    joules: float | None  # None: not measured (NoMeter)
    window_s: float
    components_j: dict = field(default_factory=dict)  # e.g. {"cpu": .., "ram": .., "gpu": ..}
    detail: dict = field(default_factory=dict)  # meter-specific facts (device, modes, country, ...)
    emissions_kg_co2eq: float | None = None  # codecarbon only; NEVER an energy

    @property
    def watts(self) -> float | None:
        if self.joules is None:
            return None
        return self.joules / self.window_s if self.window_s > 0 else float("nan")


@dataclass
class IdlePower:
    """Mean power of the idle machine as the meter sees it, measured at `at` (time.time())."""

    watts: float
    seconds: float
    source: str
    estimate: bool
    at: float


# ----------------------------------------------------------------------------- idle and accounting


def calibrate_idle_power(
    meter, seconds: float = 5.0, sleep: Callable[[float], None] = time.sleep
) -> IdlePower:
    """Mean power over `seconds` of doing nothing, read by `meter` (call it right before the work,
    so the idle figure has the machine's current temperature and background load)."""
    if seconds <= 0:
        raise UserError("idle calibration needs a positive number of seconds")
    meter.begin()
    sleep(seconds)
    reading = meter.end()
    return IdlePower(
        watts=reading.watts,
        seconds=reading.window_s,
        source=reading.source,
        estimate=reading.estimate,
        at=time.time(),
    )


def account(
    reading: EnergyReading,
    work_s: float,
    tokens: int,
    idle: IdlePower | None,
    scale_to_work: bool,
    computed_tokens: int | None = None,
) -> dict:
    """Raw and idle-subtracted joules of exactly the timed work, per real token (`tokens`: what a
    user gets) and per computed token (`computed_tokens`: all the work did, the same at every
    pruning level, so the figure to compare levels by).

    `scale_to_work` rescales a meter window that is longer than the work (codecarbon's own
    bookkeeping) to the work's duration; NVML's window is the work itself and is not rescaled.
    A reading from `NoMeter` gives None everywhere (not measured is not zero).
    """
    if reading.source == "none":
        return {
            "energy_source": "none",
            "energy_estimate": None,
            "energy_raw_j": None,
            "energy_j": None,
            "energy_raw_j_per_token": None,
            "energy_j_per_token": None,
            "energy_raw_j_per_computed_token": None,
            "energy_j_per_computed_token": None,
        }
    raw = (
        reading.joules * (work_s / reading.window_s)
        if scale_to_work and reading.window_s > 0
        else reading.joules
    )
    idle_j = idle.watts * work_s if idle is not None else None
    net = raw - idle_j if idle_j is not None else None
    out = {
        "energy_source": reading.source,
        "energy_estimate": reading.estimate,
        "energy_raw_j": raw,
        "energy_idle_j": idle_j,
        "energy_j": net,  # net of idle: the energy the work itself added
        "energy_raw_j_per_token": raw / tokens if tokens else None,
        "energy_j_per_token": net / tokens if tokens and net is not None else None,
        "energy_raw_j_per_computed_token": raw / computed_tokens if computed_tokens else None,
        "energy_j_per_computed_token": net / computed_tokens if computed_tokens and net is not None else None,
        "energy_window_s": reading.window_s,
        "energy_work_s": work_s,
        "energy_scaled_to_work": bool(scale_to_work),
        "energy_components_j": {
            k: v * (raw / reading.joules if reading.joules else 1.0) for k, v in reading.components_j.items()
        },
        "energy_detail": reading.detail,
        "idle_power_w": idle.watts if idle is not None else None,
        "idle_seconds": idle.seconds if idle is not None else None,
        "idle_measured_s_before": time.time() - idle.at if idle is not None else None,
    }
    if reading.emissions_kg_co2eq is not None:
        factor = work_s / reading.window_s if scale_to_work and reading.window_s > 0 else 1.0
        out["emissions_kg_co2eq"] = reading.emissions_kg_co2eq * factor
        out["emissions_country"] = reading.detail.get("country_iso_code")
    return out


def reading_dict(reading: EnergyReading) -> dict:
    return asdict(reading)
