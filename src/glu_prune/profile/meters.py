"""Energy meters, registered by name, each reading joules around exactly the measured work.

A meter has `begin()` and `end() -> EnergyReading`. The caller brackets only the timed work
(after a device synchronisation, never around loading or warm-up).

- `nvml`: NVIDIA's cumulative board energy counter (`nvmlDeviceGetTotalEnergyConsumption`, mJ),
  read before and after the work. A hardware counter of the GPU board only (not CPU or RAM).
- `codecarbon`: `OfflineEmissionsTracker` around the work. Energy comes from the tracker's
  energy fields (`final_emissions_data.energy_consumed` and its cpu/gpu/ram parts, kWh), never from
  `stop()`, which returns emissions in kg CO2-eq; those are kept apart as `emissions_kg_co2eq`
  with the country whose grid intensity produced them. Without RAPL the CPU figure is a
  TDP-times-load estimate and RAM is a per-GB constant: such readings are labelled estimates.
- `none`: energy not measured (every figure None, never 0).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..errors import UserError
from .energy import EnergyReading

KWH_TO_J = 3.6e6
MJ_TO_J = 1e-3


# ----------------------------------------------------------------------------- NVML


class NvmlMeter:
    """GPU board energy from NVML's cumulative counter (mJ since driver load).

    `nvml` is the pynvml module (injectable for tests); `device_index` is NVML's index of the GPU
    the model runs on (see `nvml_index_for`). The window is read on the host around synchronised
    work, so it is the work plus microseconds of Python.
    """

    name = "nvml"

    def __init__(self, device_index: int = 0, nvml=None, clock: Callable[[], float] = time.perf_counter):
        if nvml is None:
            import pynvml as nvml
        self.nvml, self.clock = nvml, clock
        try:
            nvml.nvmlInit()
        except Exception as exc:  # NVMLError_LibraryNotFound etc.: no NVIDIA driver here
            raise UserError(f"energy meter nvml: NVML is not available ({exc})") from None
        self.handle = nvml.nvmlDeviceGetHandleByIndex(device_index)
        name = nvml.nvmlDeviceGetName(self.handle)
        self.device = name.decode() if isinstance(name, bytes) else name
        self.device_index = device_index
        self._start = None
        try:
            self._read_mj()
        except Exception as exc:  # NVMLError_NotSupported on GPUs without the counter (pre-Volta)
            raise UserError(
                f"energy meter nvml: {self.device} has no energy counter ({exc}); use --energy codecarbon"
            ) from None

    def _read_mj(self) -> int:
        return self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)

    def begin(self) -> None:
        self._start = (self._read_mj(), self.clock())

    def end(self) -> EnergyReading:
        if self._start is None:
            raise RuntimeError("NvmlMeter.end() without begin()")
        (e0, t0), e1, t1 = self._start, self._read_mj(), self.clock()
        self._start = None
        joules = (e1 - e0) * MJ_TO_J
        return EnergyReading(
            source="nvml",
            estimate=False,
            joules=joules,
            window_s=t1 - t0,
            components_j={"gpu": joules},
            detail={
                "device": self.device,
                "nvml_index": self.device_index,
                "scope": "GPU board only",
                "counter": "nvmlDeviceGetTotalEnergyConsumption (mJ)",
            },
        )

    def close(self) -> None:
        self.nvml.nvmlShutdown()


def nvml_index_for(cuda_index: int = 0, nvml=None, cuda=None) -> int:
    """NVML's index of torch's CUDA device `cuda_index`, matched by UUID: CUDA's numbering can
    differ from NVML's (CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER), so an index is never assumed."""
    if nvml is None:
        import pynvml as nvml
    if cuda is None:
        import torch

        cuda = torch.cuda
    uuid = getattr(cuda.get_device_properties(cuda_index), "uuid", None)
    nvml.nvmlInit()
    try:
        if uuid is not None:
            text = str(uuid)
            return nvml.nvmlDeviceGetIndex(
                nvml.nvmlDeviceGetHandleByUUID(text if text.startswith("GPU-") else f"GPU-{text}")
            )
        if nvml.nvmlDeviceGetCount() == 1 and cuda.device_count() == 1:
            return 0  # one GPU on both sides: nothing to confuse it with
        raise UserError(
            "energy meter nvml: cannot match the CUDA device to an NVML device (no UUID from torch)"
        )
    finally:
        nvml.nvmlShutdown()


# ----------------------------------------------------------------------------- codecarbon

# codecarbon's CPU modes that read a hardware energy counter; anything else is an estimate
CPU_COUNTER_MODES = {
    "intel_rapl": "rapl",
    "intel_power_gadget": "powergadget",
    "apple_powermetrics": "powermetrics",
    "windows_emi": "emi",
}


def _default_tracker(**kwargs):
    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)  # after import: importing resets it to INFO
    return OfflineEmissionsTracker(**kwargs)


class CodecarbonMeter:
    """One `OfflineEmissionsTracker` per window: started right before the work, stopped right after.

    The tracker's window also holds its own start/stop bookkeeping (milliseconds; recorded as
    `window_s`), so `account()` scales its energy to the timed work by work_s / window_s, i.e.
    the window's mean power times the work's duration.

    `measure_power_secs` is longer than any window on purpose: power is then sampled at start and
    stop only (the process CPU load at stop is the mean over the window), and no scheduler thread
    wakes up inside the timed work. With codecarbon 3.3.2's 1-s scheduler, short windows were
    double-counted here (a 1-s idle window gave 20 J from its 10-W RAM model; 3 s gave 40 J).
    """

    name = "codecarbon"

    def __init__(
        self,
        country_iso_code: str = "USA",
        tracking_mode: str = "process",
        measure_power_secs: float = 3600.0,
        tracker_factory: Callable = _default_tracker,
    ):
        if tracking_mode not in ("process", "machine"):
            raise UserError(f"codecarbon tracking mode must be process or machine, not {tracking_mode!r}")
        self.country, self.tracking_mode = country_iso_code, tracking_mode
        self.measure_power_secs, self.factory = measure_power_secs, tracker_factory
        self._tracker = None

    def begin(self) -> None:
        self._tracker = self.factory(
            country_iso_code=self.country,
            tracking_mode=self.tracking_mode,
            measure_power_secs=self.measure_power_secs,
            output_methods=[],
            log_level="error",
            allow_multiple_runs=True,  # else codecarbon takes a lock file and replaces our Ctrl-C handler
        )
        self._tracker.start()

    def end(self) -> EnergyReading:
        tracker, self._tracker = self._tracker, None
        if tracker is None:
            raise RuntimeError("CodecarbonMeter.end() without begin()")
        emissions_kg = tracker.stop()  # kg CO2-eq: kept as emissions, never as energy
        data = getattr(tracker, "final_emissions_data", None)
        if emissions_kg is None or data is None or data.energy_consumed is None:
            # codecarbon swallows its own exceptions (@suppress) and returns None
            raise RuntimeError(
                "codecarbon returned no data for this window (see its log); no energy recorded"
            )
        modes = self.hardware_modes(tracker)
        cpu_mode = modes.get("cpu")
        counter = CPU_COUNTER_MODES.get(cpu_mode)
        source = f"codecarbon-{counter}" if counter else "codecarbon-estimate"
        # RAM is always a constant-per-GB model in codecarbon; the GPU part reads NVML
        estimate = counter is None or data.ram_energy > 0
        return EnergyReading(
            source=source,
            estimate=estimate,
            joules=data.energy_consumed * KWH_TO_J,
            window_s=float(data.duration),
            components_j={k: getattr(data, f"{k}_energy") * KWH_TO_J for k in ("cpu", "gpu", "ram")},
            detail={
                "hardware_modes": modes,
                "tracking_mode": self.tracking_mode,
                "cpu_model": data.cpu_model,
                "codecarbon_version": data.codecarbon_version,
                "cpu_power_w": data.cpu_power,
                "ram_power_w": data.ram_power,
                "country_iso_code": data.country_iso_code,
                "country_name": data.country_name,
            },
            emissions_kg_co2eq=float(emissions_kg),
        )

    @staticmethod
    def hardware_modes(tracker) -> dict:
        """{"cpu": "intel_rapl" | "cpu_load" | "constant" | ..., "ram": ..., "gpu": ...} as tracked."""
        modes = {}
        for hw in getattr(tracker, "_hardware", []):  # codecarbon exposes no public accessor
            kind = type(hw).__name__.lower()
            modes[kind] = getattr(hw, "_mode", None) or ("nvml" if kind == "gpu" else "estimate")
        return modes

    def close(self) -> None:
        """Stop a tracker an interrupt left running (its scheduler thread), discarding its reading."""
        tracker, self._tracker = self._tracker, None
        if tracker is not None:
            tracker.stop()


class NoMeter:
    """Energy not measured (asked for with --energy none): every figure is None, never 0."""

    name = "none"

    def begin(self) -> None:
        self._t0 = time.perf_counter()

    def end(self) -> EnergyReading:
        return EnergyReading(
            source="none", estimate=False, joules=None, window_s=time.perf_counter() - self._t0
        )

    def close(self) -> None:
        pass


def _nvml_for(device: str, country_iso_code: str) -> NvmlMeter:
    if not device.startswith("cuda"):
        raise UserError("energy meter nvml needs the model on a CUDA device")
    return NvmlMeter(nvml_index_for(int(device.partition(":")[2] or 0)))


# name -> factory(device, country_iso_code)
METERS: dict[str, Callable[[str, str], object]] = {
    "nvml": _nvml_for,
    "codecarbon": lambda device, country_iso_code: CodecarbonMeter(country_iso_code),
    "none": lambda device, country_iso_code: NoMeter(),
}


def make_meter(name: str, device: str = "cpu", country_iso_code: str = "USA"):
    """The meter called `name`; "auto" is NVML on a CUDA device and codecarbon elsewhere."""
    if name == "auto":
        name = "nvml" if device.startswith("cuda") else "codecarbon"
    if name not in METERS:
        raise UserError(f"unknown energy meter {name!r}; choose one of auto, {', '.join(METERS)}")
    return METERS[name](device, country_iso_code)
