"""Writing a pruned model as a directory that plain `transformers` reloads.

The model is written into a hidden partial directory beside the target, then renamed: a run
killed while writing never leaves a half model under the target's name. A partial directory
left by a killed run (its name says which process wrote it) is removed by the next save into
the same parent directory, so no hidden copy of a model's size stays behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import warnings
from pathlib import Path

from ..errors import UserError
from ..store import as_if_created, slug, to_jsonable, writer_alive

PARTIAL = ".glu-prune-partial"
# .<out name>.glu-prune-partial.<host>.<pid>.<random>
PARTIAL_NAME = re.compile(rf"^\..*{re.escape(PARTIAL)}\.(?P<host>[^.]*)\.(?P<pid>\d+)\.[^.]+$")


def save_pruned(model, tokenizer, record: dict, out: str | Path) -> Path:
    """safetensors + config + tokenizer + pruning.json, written to a partial dir then renamed.

    Raises UserError (before writing anything) when the layers have different widths: a
    transformers config has one `intermediate_size`, so such a model would not reload.
    """
    out = Path(out)
    if not record.get("uniform_width", True):
        raise UserError(
            "the pruned layers have different widths "
            f"({sorted(set(record.get('layer_intermediate_sizes', [])))}); a transformers config holds one "
            "intermediate_size, so this model cannot be saved for plain reloading (prune all layers)"
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not an empty directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_partials(out.parent)
    prefix = f".{out.name}{PARTIAL}.{_host_tag()}.{os.getpid()}."
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=out.parent))
    try:
        model.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        (tmp / "pruning.json").write_text(json.dumps(to_jsonable(record), indent=2) + "\n")
        for path in [*tmp.rglob("*"), tmp]:  # safetensors writes 0600, mkdtemp makes 0700
            as_if_created(path)
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def remove_abandoned_partials(parent: Path) -> list[Path]:
    """Remove the partial dirs in `parent` whose writing process is gone; -> the removed ones."""
    removed = []
    for path in Path(parent).iterdir():
        match = PARTIAL_NAME.match(path.name)
        if not match or not path.is_dir() or match["host"] != _host_tag():
            continue  # not ours, or written on another machine (whose processes we cannot see)
        if not writer_alive(socket.gethostname(), int(match["pid"]), path.stat().st_mtime):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
            warnings.warn(f"removed {path}, the partial output of a prune that was killed", stacklevel=2)
    return removed


def _host_tag() -> str:
    return slug(socket.gethostname()).replace(".", "_")
