"""Writing a pruned model as a directory that plain `transformers` reloads."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import UserError
from ..store import as_if_created, to_jsonable


def save_pruned(model, tokenizer, record: dict, out: str | Path) -> Path:
    """safetensors + config + tokenizer + pruning.json, written to a temp dir then renamed.

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
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        (tmp / "pruning.json").write_text(json.dumps(to_jsonable(record), indent=2) + "\n")
        as_if_created(tmp)
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
