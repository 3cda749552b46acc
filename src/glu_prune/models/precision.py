"""Which dtype a model runs in when none is asked for ("auto"): bfloat16 where the hardware
computes it natively, float32 elsewhere, with the reason recorded.

On a CPU without native bfloat16 (no AVX512-BF16, no AMX) torch emulates it: on the AVX2-only
AMD EPYC VM this project was built on, the embedded model's forward pass ran 8x slower in
bfloat16 than in float32 (one thread, batch 8 x 128 tokens).
"""

from __future__ import annotations


def cpu_bfloat16() -> str | None:
    """The CPU feature that gives native bfloat16 matrix products (AMX or AVX512-BF16), if any."""
    import torch

    checks = (("AMX", "_is_amx_tile_supported"), ("AVX512-BF16", "_is_avx512_bf16_supported"))
    for name, probe in checks:
        supported = getattr(torch.cpu, probe, None)  # torch's own CPU feature probes (cpuinfo)
        if supported is not None and supported():
            return name
    return None


def auto_dtype(device: str) -> tuple[str, str]:
    """(dtype, why) on `device` ("auto": CUDA where available, as loading resolves it)."""
    import torch

    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        if torch.cuda.is_bf16_supported():
            return "bfloat16", f"auto: {torch.cuda.get_device_name()} computes bfloat16 natively"
        return "float32", f"auto: {torch.cuda.get_device_name()} has no native bfloat16"
    feature = cpu_bfloat16()
    if feature:
        return "bfloat16", f"auto: the CPU has native bfloat16 ({feature})"
    return "float32", "auto: the CPU has no native bfloat16 (no AVX512-BF16, no AMX): emulated, it is slow"
