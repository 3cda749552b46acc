"""Atomic files and identity-checked checkpoints, shared by evaluation and profiling.

A checkpoint is one JSON file per unit of work, named by a hash of its identity (every setting
that changes its result) and holding that identity in full, so a changed setting never reuses a
stale result. Writes go to a temp file, are fsynced, then renamed: a SIGKILL at any moment leaves
either the old file or the new one. A file that cannot be read is moved to `damaged/`, reported,
and its work is redone.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import time
import warnings
from pathlib import Path


def as_if_created(path: str | Path) -> None:
    """Give a mkstemp/mkdtemp result (0600/0700) the permissions a plain open()/mkdir() would have."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~mask)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Temp file in the same dir, fsync, rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        as_if_created(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj):
    """Plain JSON types; numpy scalars become floats, non-finite floats become strings."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)  # "inf"/"nan": JSON has no literal for them
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def atomic_write_json(path: str | Path, obj) -> Path:
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def identity_key(identity: dict) -> str:
    canonical = json.dumps(to_jsonable(identity), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def slug(text) -> str:
    """A file-name-safe form of a label or model name (a local path: its last component)."""
    text = str(text)
    if text.startswith(("/", ".", "~")):
        text = text.rstrip("/").split("/")[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


class DamagedFileWarning(UserWarning):
    """A file the tool owns could not be read: it was set aside and its work is redone."""


class CheckpointStore:
    """One JSON file per identity under `root`; records are {"identity", "status", "result"}."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.damaged: list[Path] = []

    def path(self, identity: dict, label: str = "") -> Path:
        return self.root / f"{slug(label)[:80] + '-' if label else ''}{identity_key(identity)}.json"

    def load(self, identity: dict, label: str = "") -> dict | None:
        """The finished record for `identity`, or None (missing, failed earlier, or damaged)."""
        path = self.path(identity, label)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict) or record.get("identity") != to_jsonable(identity):
                raise ValueError("identity does not match its file name")
        except (ValueError, UnicodeDecodeError) as exc:
            self.set_aside(path, exc)
            return None
        return record if record.get("status") == "done" else None

    def save(self, identity: dict, result, label: str = "", status: str = "done", **extra) -> Path:
        record = {"identity": identity, "status": status, "result": result, "saved_at": time.time(), **extra}
        return atomic_write_json(self.path(identity, label), record)

    def records(self) -> list[dict]:
        """Every readable record under root (damaged files are set aside and reported)."""
        out = []
        for path in sorted(self.root.glob("*.json")):
            try:
                out.append(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, UnicodeDecodeError) as exc:
                self.set_aside(path, exc)
        return out

    def set_aside(self, path: Path, exc: Exception | str) -> None:
        """Move a file that cannot be used to damaged/ and report it (its work will be redone)."""
        target = self.root / "damaged" / f"{path.name}.{int(time.time())}"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        self.damaged.append(target)
        warnings.warn(
            f"damaged checkpoint {path.name} ({exc}); moved to {target}, its work will be redone",
            DamagedFileWarning,
            stacklevel=3,
        )
