"""dtype "auto": bfloat16 where the device computes it natively, float32 elsewhere, with the reason
kept on the ModelSpec for the record (and the resolved dtype, never "auto", in identities)."""

from __future__ import annotations

import pytest

from glu_prune.errors import UserError
from glu_prune.models import ModelSpec, precision


def test_auto_follows_the_cpu(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bfloat16", lambda: None)
    spec = ModelSpec(dtype="auto", device="cpu")
    assert spec.dtype == "float32" and "no native bfloat16" in spec.dtype_reason
    assert spec == ModelSpec(dtype="float32", device="cpu")  # the reason is not part of equality
    monkeypatch.setattr(precision, "cpu_bfloat16", lambda: "AVX512-BF16")
    spec = ModelSpec(dtype="auto", device="cpu")
    assert spec.dtype == "bfloat16" and spec.dtype_reason == "auto: the CPU has native bfloat16 (AVX512-BF16)"


def test_asked_for_dtypes_stay_and_say_so():
    assert ModelSpec(dtype="bfloat16").dtype_reason == "asked for"
    with pytest.raises(UserError, match="unknown dtype 'int8'"):
        ModelSpec(dtype="int8")


def test_this_cpu_is_read_from_torchs_own_probes():
    import torch

    native = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    assert (precision.cpu_bfloat16() is not None) == native
