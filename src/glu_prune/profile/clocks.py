"""Clocks and peak-memory meters for one device: monotonic host time on a CPU, CUDA events on a GPU.

They take the `torch.cuda` module as a parameter so the GPU paths are tested with fakes on
machines without one.
"""

from __future__ import annotations

import re
import time
from itertools import pairwise

import torch


class CpuClock:
    """Monotonic host clock. CPU kernels return when done, so a mark after a call is its end."""

    source = "time.perf_counter_ns (CPU: synchronous kernels)"

    def sync(self) -> None:
        pass

    def mark(self) -> int:
        return time.perf_counter_ns()

    def intervals_ms(self, marks: list) -> list[float]:
        return [(b - a) / 1e6 for a, b in pairwise(marks)]


class CudaClock:
    """CUDA events recorded on the current stream; read after a device synchronisation."""

    source = "torch.cuda.Event (enable_timing) after synchronize"

    def __init__(self, device, cuda=None):
        self.device, self.cuda = device, cuda if cuda is not None else torch.cuda

    def sync(self) -> None:
        self.cuda.synchronize(self.device)

    def mark(self):
        event = self.cuda.Event(enable_timing=True)
        event.record()
        return event

    def intervals_ms(self, marks: list) -> list[float]:
        self.sync()  # elapsed_time needs both events to have completed
        return [a.elapsed_time(b) for a, b in pairwise(marks)]


def clock_for(device: torch.device):
    return CudaClock(device) if device.type == "cuda" else CpuClock()


CLEAR_REFS = "/proc/self/clear_refs"


def _status_kb(field_name: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{field_name}:\s+(\d+) kB", f.read(), re.M).group(1))


class CpuPeakMemory:
    """Process peak RSS (VmHWM), reset per measurement by writing 5 to /proc/self/clear_refs.

    Process-wide: it includes every model held in memory, so the working memory of one
    measurement is peak minus the RSS at reset. The allocator may reuse pages already resident,
    so that difference is a lower bound.
    """

    source = "process peak RSS (VmHWM), reset via /proc/self/clear_refs"

    def __init__(self):
        try:
            self._clear()
            self.available = True
        except OSError as exc:
            self.available = False
            self.source = f"unavailable ({CLEAR_REFS}: {exc.strerror})"

    @staticmethod
    def _clear() -> None:
        with open(CLEAR_REFS, "w") as f:
            f.write("5")  # 5 = reset the peak RSS to the current RSS (Linux >= 4.0)

    def reset(self) -> int | None:
        if not self.available:
            return None
        self._clear()
        return _status_kb("VmRSS") * 1024

    def peak(self) -> int | None:
        return _status_kb("VmHWM") * 1024 if self.available else None


class CudaPeakMemory:
    """torch's allocator peak on the model's device, reset per measurement."""

    source = "torch.cuda.max_memory_allocated, reset via reset_peak_memory_stats"
    available = True

    def __init__(self, device, cuda=None):
        self.device, self.cuda = device, cuda if cuda is not None else torch.cuda

    def reset(self) -> int:
        self.cuda.reset_peak_memory_stats(self.device)
        return self.cuda.memory_allocated(self.device)

    def peak(self) -> int:
        return self.cuda.max_memory_allocated(self.device)


def memory_for(device: torch.device):
    return CudaPeakMemory(device) if device.type == "cuda" else CpuPeakMemory()
