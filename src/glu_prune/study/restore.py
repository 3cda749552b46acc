"""A part's run dir rebuilt from its consolidated results, so a study continues on a machine that has
the results (a clone, a fresh Colab runtime) but not the run dir they were consolidated from.

A complete JSON holds every run's full checkpoint result, identity included, and the results folder
holds each evaluation's per-document file, so each run becomes again the checkpoint it was read
from: the same record under the same file name, its per-document file checked against the sha256
the record names. Nothing in the run dir is overwritten, and a restored checkpoint is reused only
where today's code computes the same identity, like any other.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..errors import UserError
from ..evaluate.documents import SUFFIX, documents_problem
from ..evaluate.records import checkpoint_problem as evaluation_problem
from ..fidelity.records import checkpoint_problem as fidelity_problem
from ..fidelity.runner import checkpoint_label
from ..prune import PruneConfig
from ..store import CheckpointStore, atomic_write_bytes, atomic_write_json, record_problem
from .plan import ModelPlan


def restore_part(part: ModelPlan, results: Path, work: Path) -> dict:
    """Restore `part`'s evaluation and fidelity checkpoints from the complete JSONs in `results`
    into its folder `work` of the run dir. -> {"restored", "present", "skipped": [why, ...]}, each
    run counted once (the sweep and the comparison share some)."""
    out, seen = {"restored": 0, "present": 0, "skipped": []}, set()
    for view in dict.fromkeys((part.sweep_view, part.comparison_view)):
        complete = results / f"{view}_complete.json"
        runs, files = _read(complete, out)
        for run in (r for r in runs if r.get("checkpoint") not in seen):
            seen.add(run.get("checkpoint"))
            info = run.get("documents") or {}
            source = results / files.get(run.get("checkpoint"), "?")
            problem = documents_problem(source, info) if info else "it names no per-document file"
            if problem:
                out["skipped"].append(f"{complete.name}: {run.get('checkpoint')}: {problem}")
                continue
            name = Path(info["file"]).name.removesuffix(SUFFIX) + ".json"
            path = work / "evaluation" / "checkpoints" / name
            _restore(run, path, evaluation_problem, complete, out, source)
    complete = results / f"{part.name}_fidelity_complete.json"
    for run in _read(complete, out)[0]:
        try:
            label = checkpoint_label(PruneConfig.from_settings(run["identity"]["prune"]))
        except (KeyError, TypeError, AttributeError, UserError) as exc:
            out["skipped"].append(f"{complete.name}: {run.get('checkpoint')}: no pruning settings ({exc})")
            continue
        path = CheckpointStore(work / "fidelity" / "checkpoints").path(run["identity"], label)
        _restore(run, path, fidelity_problem, complete, out)
    return out


def _read(complete: Path, out: dict) -> tuple[list[dict], dict]:
    """(runs, {checkpoint: per-document file relative to the results folder}) of a complete JSON;
    none where there is no such file."""
    if not complete.is_file():
        return [], {}
    try:
        data = json.loads(complete.read_text(encoding="utf-8"))
        return data["runs"], (data.get("documents") or {}).get("files", {})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        out["skipped"].append(f"{complete.name}: not a complete JSON ({exc})")
        return [], {}


def _restore(run: dict, path: Path, problem_of, complete: Path, out: dict, documents: Path | None = None):
    """Write `run` back as the checkpoint at `path` (its per-document file first), unless one is there."""
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
