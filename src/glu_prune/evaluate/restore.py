"""Restoring: consolidated results written back as the checkpoints they were read from, so work
continues on a machine that has the results (a clone, a fresh Colab runtime) but not the run dir.

A complete JSON holds every run's full checkpoint result, identity included, and its folder holds
each evaluation's per-document file, so each run becomes again the same record under the same file
name, its per-document file checked against the sha256 the record names. Nothing in the run dir is
overwritten, a restored checkpoint is reused only where today's code computes the same identity,
like any other, and each run keeps its own provenance (the hardware it was measured on included).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..store import atomic_write_bytes, atomic_write_json, record_problem
from .documents import SUFFIX, documents_problem
from .records import checkpoint_problem


def tally() -> dict:
    """What a restore did: runs written, runs the run dir already had, runs skipped and why."""
    return {"restored": 0, "present": 0, "skipped": []}


def restore_evaluations(complete: Path, checkpoints: Path, out: dict, seen: set | None = None) -> dict:
    """Write the evaluation runs of the complete JSON `complete` into the checkpoint folder
    `checkpoints`, counting into `out` (tally()); runs whose checkpoint is in `seen` are passed
    over (and the others added), so that views sharing runs count each once."""
    return restore_runs(*read_complete(complete, out), complete, checkpoints, out, seen)


def restore_runs(runs: list, files: dict, complete: Path, checkpoints: Path, out: dict, seen=None) -> dict:
    """restore_evaluations of runs already read (read_complete) from `complete`."""
    seen = set() if seen is None else seen
    for run in (r for r in runs if r.get("checkpoint") not in seen):
        seen.add(run.get("checkpoint"))
        info = run.get("documents") or {}
        source = complete.parent / files.get(run.get("checkpoint"), "?")
        problem = documents_problem(source, info) if info else "it names no per-document file"
        if problem:
            out["skipped"].append(f"{complete.name}: {run.get('checkpoint')}: {problem}")
            continue
        path = checkpoints / (Path(info["file"]).name.removesuffix(SUFFIX) + ".json")
        restore_checkpoint(run, path, checkpoint_problem, complete, out, source)
    return out


def read_complete(complete: Path, out: dict) -> tuple[list[dict], dict]:
    """(runs, {checkpoint: per-document file relative to the JSON's folder}) of a complete JSON;
    none, and the reason in out["skipped"], where it cannot be read."""
    if not complete.is_file():
        return [], {}
    try:
        data = json.loads(complete.read_text(encoding="utf-8"))
        return data["runs"], (data.get("documents") or {}).get("files", {})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        out["skipped"].append(f"{complete.name}: not a complete JSON ({exc})")
        return [], {}


def restore_checkpoint(
    run: dict, path: Path, problem_of, complete: Path, out: dict, documents: Path | None = None
):
    """Write `run` back as the checkpoint at `path` (its per-document file first), unless one is
    there; `problem_of(record)` is the checkpoint kind's own check."""
    if path.exists():
        out["present"] += 1
        return
    record = {"identity": run.get("identity"), "status": "done", "result": run, "saved_at": time.time()}
    problem = record_problem(record, path) or problem_of(record)
    if problem:
        out["skipped"].append(f"{complete.name}: {run.get('checkpoint')}: {problem}")
        return
    if documents is not None:
        atomic_write_bytes(path.with_name(path.stem + SUFFIX), documents.read_bytes())
    atomic_write_json(path, {**record, "restored_from": str(complete)})
    out["restored"] += 1
