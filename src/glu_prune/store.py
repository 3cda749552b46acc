"""Atomic files and identity-checked checkpoints, shared by evaluation and profiling.

A checkpoint is one JSON file per unit of work, named by a hash of its identity (every setting
that changes its result) and holding that identity in full, so a changed setting never reuses a
stale result. Writes go to a temp file, are fsynced, then renamed: a SIGKILL at any moment leaves
either the old file or the new one. A file that does not read back as a whole, valid record of the
expected shape and identity is moved to `damaged/`, reported, and its work is redone.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import socket
import tempfile
import time
import warnings
from pathlib import Path

from .errors import UserError


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
    """One JSON file per identity under `root`; records are {"identity", "status", "result"}.

    `kind` and `valid` make it a store of one kind of record (identity["kind"]): `valid(record)`
    names what is wrong with a record of that kind (None: nothing). Whatever is not a record, does
    not match its file name, or fails `valid` is set aside into `damaged/` and its work redone;
    records of other kinds sharing the folder are left alone.
    """

    def __init__(self, root: str | Path, kind: str | None = None, valid=None):
        self.root = Path(root)
        self.kind, self.valid = kind, valid
        self.damaged: list[Path] = []

    def path(self, identity: dict, label: str = "") -> Path:
        return self.root / f"{slug(label)[:80] + '-' if label else ''}{identity_key(identity)}.json"

    def check_writable(self) -> None:
        """Raise UserError unless records can be written here (checked before any work starts)."""
        check_writable(self.root, f"checkpoint folder {self.root}")

    def load(self, identity: dict, label: str = "") -> dict | None:
        """The finished record for `identity`, or None (missing, failed earlier, or damaged)."""
        path = self.path(identity, label)
        if not path.exists():
            return None
        record = self._read(path)
        if record is not None and record["identity"] != to_jsonable(identity):
            self._set_aside(path, "its identity is not the one its file name stands for")
            return None
        return record if record is not None and record["status"] == "done" else None

    def save(self, identity: dict, result, label: str = "", status: str = "done", **extra) -> Path:
        record = {"identity": identity, "status": status, "result": result, "saved_at": time.time(), **extra}
        return atomic_write_json(self.path(identity, label), record)

    def records(self) -> list[dict]:
        """Every valid record of this store's kind (of any kind without one); the rest of the
        folder's damaged files are set aside and reported."""
        out = []
        for path in sorted(self.root.glob("*.json")):
            record = self._read(path)
            if record is not None and (self.kind is None or record["identity"].get("kind") == self.kind):
                out.append(record)
        return out

    def _read(self, path: Path) -> dict | None:
        """The record in `path`, or None after setting the file aside (with the reason)."""
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # torn, not JSON, not UTF-8, a directory, unreadable
            self._set_aside(path, str(exc) or type(exc).__name__)
            return None
        problem = record_problem(record, path)
        if problem is None and self.valid is not None and record["identity"].get("kind") == self.kind:
            problem = self.valid(record)
        if problem is not None:
            self._set_aside(path, problem)
            return None
        return record

    def _set_aside(self, path: Path, problem: str) -> None:
        target = set_aside(path, "checkpoint", problem, "its work will be redone")
        if target is not None:
            self.damaged.append(target)


def set_aside(path: Path, what: str, problem: str, then: str = "") -> Path | None:
    """Move a damaged file the tool owns into `damaged/` beside it and warn, naming the file and
    its problem. -> where it went (None: a concurrent run moved it first)."""
    target = path.parent / "damaged" / f"{path.name}.{time.time_ns()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return None
    warnings.warn(
        f"damaged {what} {path.name} ({problem}); moved to {target}{', ' + then if then else ''}",
        DamagedFileWarning,
        stacklevel=3,
    )
    return target


def damaged_files(*folders: Path) -> list[str]:
    """Every file set aside under the folders' `damaged/` (for the complete JSON of a run dir)."""
    return sorted(str(p) for folder in folders for p in (Path(folder) / "damaged").glob("*"))


def record_problem(record, path: Path) -> str | None:
    """What makes `record` (read from `path`) no checkpoint record, or None."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not a checkpoint record"
    identity = record.get("identity")
    if not isinstance(identity, dict):
        return "it has no identity"
    if not path.stem.endswith(identity_key(identity)):
        return "its identity is not the one its file name stands for"
    if record.get("status") not in ("done", "failed"):
        return f"unknown status {record.get('status')!r}"
    return None


def shape_problem(obj, shape: dict, where: str = "result") -> str | None:
    """The first key of `shape` ({key: type or tuple of types}) that `obj` lacks or holds with
    another type, as a phrase; None when `obj` is a dict of that shape."""
    if not isinstance(obj, dict):
        return f"its {where} is a {type(obj).__name__}, not an object"
    for key, types in shape.items():
        value = obj.get(key, _MISSING)
        if value is _MISSING:
            return f"its {where} has no {key!r}"
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
            return f"its {where}'s {key!r} is a {type(value).__name__}"
    return None


_MISSING = object()


def _as_tuple(types) -> tuple:
    return types if isinstance(types, tuple) else (types,)


NUMBER = (int, float)


def check_writable(path: str | Path, what: str) -> None:
    """Raise UserError (starting with `what`) unless files can be created in `path` or, while it
    does not exist yet, in its nearest existing ancestor: tried, not guessed from permission bits
    (root passes those on a read-only file system, or in a folder marked immutable)."""
    parent = Path(path)
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{what}: {parent} is not a directory")
    try:
        tempfile.TemporaryFile(dir=parent).close()
    except OSError as exc:
        where = "" if parent == Path(path) else f": {parent}"
        raise UserError(f"{what}{where} is not writable ({exc.strerror})") from None


def writer_alive(host: str, pid: int, since: float) -> bool:
    """Whether the process `pid` on `host`, which wrote something at `since` (time.time()), may
    still be running. Unknowable for another host (True); a pid reused by a process started
    later, or a zombie, is no longer the writer."""
    import psutil

    if host != socket.gethostname():
        return True
    try:
        process = psutil.Process(pid)
        return process.create_time() <= since + 1 and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, ValueError):
        return False
