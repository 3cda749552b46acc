"""lm-eval's request cache: one sqlite file per task run, whose answered requests spare a resumed
task their recomputation (lm-eval names it `<prefix>_rank<N>.db`).

A file that is not a whole sqlite database of cached answers (truncated, overwritten, an answer
that does not unpickle) would fail every rerun of its task, so it is set aside into `damaged/`
like a damaged checkpoint, reported, and the task's requests are computed again.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from ..store import set_aside

JOURNALS = ("-journal", "-wal", "-shm")  # sqlite's companions of a database file


def request_cache(out_dir: Path, label: str, task: str, request_key: str) -> Path:
    """The cache prefix lm-eval is given for one task run."""
    return Path(out_dir) / "request-cache" / f"{label}-{task}-{request_key}"


def check_request_cache(prefix: Path) -> list[Path]:
    """Set aside every damaged database of the cache `prefix`; -> where they went."""
    moved = []
    for db in sorted(prefix.parent.glob(f"{prefix.name}_rank*.db")):
        problem = database_problem(db)
        if problem is not None:
            for suffix in JOURNALS:  # a journal left by a killed writer belongs to the old file only
                companion = db.with_name(db.name + suffix)
                if companion.exists():
                    set_aside(companion, "request cache journal", problem)
            target = set_aside(db, "request cache", problem, "its requests will be computed again")
            moved += [target] if target is not None else []
    return moved


def database_problem(db: Path) -> str | None:
    """What is wrong with the request cache `db` (None: nothing), read as lm-eval reads it."""
    from sqlitedict import SqliteDict

    try:
        with closing(sqlite3.connect(db)) as connection:  # read-write: a hot journal is rolled back
            verdict = [row[0] for row in connection.execute("PRAGMA quick_check")]
        if verdict != ["ok"]:
            return f"sqlite: {' '.join(verdict)[:300]}"
        with SqliteDict(str(db), flag="r") as cache:
            if any(answer is None for answer in cache.values()):  # lm-eval asserts on them
                return "a cached answer is empty"
    except Exception as exc:  # whatever fails to read it back is damage (reported, not hidden)
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None
