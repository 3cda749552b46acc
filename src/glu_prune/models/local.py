"""A local model directory, read file by file before any weights load.

The JSON files transformers reads as objects must parse as objects; any other JSON file must at
least not be cut short (a 33 MB tokenizer.json takes a second to parse, and its loader parses it
anyway, before the weights). config.json must not ask for code that is not trusted, the weights
must be there and whole, and a `pruning.json` must be the record `glu-prune prune` writes, for the
width in config.json. The directory is the user's: a damaged file is reported as one line naming
it and the problem (UserError), never a traceback.
"""

from __future__ import annotations

import functools
import json
import zipfile
from pathlib import Path

from ..errors import UserError
from ..store import NUMBER, shape_problem

# files transformers (or this project) reads as JSON objects; any other *.json must end whole
OBJECTS = (
    "config.json",
    "generation_config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "pruning.json",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # each alone, or sharded under "<name>.index.json"
# what `glu-prune prune` writes into pruning.json and the results read back from it
PRUNING_JSON = {
    "model": str,
    "method": str,
    "pruning_pct": NUMBER,
    "effective_pruning_pct": NUMBER,
    "intermediate_size": int,
    "expansion_ratio": NUMBER,
    "parameters_after": int,
}


def read_json(path: Path, must_be_object: bool = True):
    """The JSON in `path`, or a UserError naming the file and the problem."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # not JSON, not UTF-8, truncated, unreadable
        raise UserError(f"{path} is not valid JSON ({exc})") from None
    if must_be_object and not isinstance(value, dict):
        raise UserError(f"{path} holds a JSON {type(value).__name__}, not an object")
    return value


def check_json_end(path: Path) -> None:
    """A JSON file cut short (a truncated copy, a full disk) is a UserError naming it; reads its end only."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 64))
            tail = f.read().rstrip()
    except OSError as exc:
        raise UserError(f"{path} is not readable ({exc.strerror})") from None
    if not tail.endswith((b"}", b"]")):
        raise UserError(f"{path} is not valid JSON (it ends before its last bracket: cut short)")


def check_model_dir(path: Path, trust_remote_code: bool = False) -> dict:
    """Check every JSON file of the directory; -> config.json as a dict."""
    return dict(_checked(Path(path).resolve(), trust_remote_code, _signature(Path(path))))


@functools.lru_cache(maxsize=16)
def _checked(path: Path, trust_remote_code: bool, _signature: tuple) -> tuple:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    for file in sorted(path.glob("*.json")):
        if file.name in OBJECTS:
            read_json(file)
        else:
            check_json_end(file)
    config = read_json(path / "config.json")
    custom = "AutoConfig" in (config.get("auto_map") or {}) and config.get("model_type") not in CONFIG_MAPPING
    if custom and not trust_remote_code:
        raise UserError(
            f"{path / 'config.json'} needs the model's own code (auto_map), which runs only with "
            "--trust-remote-code (pass it if you trust that code)"
        )
    return tuple(config.items())


def _signature(path: Path) -> tuple:
    """Names, sizes and modification times of the JSON files: a changed file is checked again."""
    return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(path.glob("*.json")))


def check_weights(path: Path) -> None:
    """The weights are there and whole: safetensors headers cover their files, .bin files are
    complete zip archives, every shard an index names exists. Reads headers only."""
    for name in WEIGHTS:
        index = path / f"{name}.index.json"
        if index.is_file():
            shards = sorted(set(read_json(index).get("weight_map", {}).values()))
            if not shards:
                raise UserError(f"{index} names no weight files")
            for shard in shards:
                _check_file(path / shard)
            return
        if (path / name).is_file():
            _check_file(path / name)
            return
    raise UserError(
        f"{path} holds no weights (model.safetensors or pytorch_model.bin, or a sharded index); "
        "--random-weights builds a shape-only model from its config"
    )


def _check_file(file: Path) -> None:
    from safetensors import SafetensorError, safe_open

    if not file.is_file():
        raise UserError(f"{file} is missing (named by the weights index)")
    if file.suffix == ".safetensors":
        try:
            with safe_open(file, "pt"):
                pass
        except (SafetensorError, OSError) as exc:
            raise UserError(f"{file} is not a whole safetensors file ({exc})") from None
    elif not zipfile.is_zipfile(file):
        raise UserError(f"{file} is not a whole PyTorch checkpoint (a truncated or foreign file)")


def read_pruning_json(path: Path) -> dict:
    """The pruning.json of a model dir, checked against its shape and against config.json's width."""
    saved = path / "pruning.json"
    record = read_json(saved)
    problem = shape_problem(record, PRUNING_JSON, "record")
    if problem is not None:
        raise UserError(f"{saved} is not a pruning record of glu-prune prune ({problem})")
    config = read_json(path / "config.json")
    width = config.get("intermediate_size", (config.get("text_config") or {}).get("intermediate_size"))
    if record["intermediate_size"] != width:
        raise UserError(
            f"{saved} describes a GLU width of {record['intermediate_size']}, but config.json has {width}"
        )
    return record
