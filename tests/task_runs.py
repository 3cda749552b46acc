"""Consolidated task runs built by hand, for the tables derived from per-document values: a run
record as the runner stores it, and a complete JSON with its `X_documents/` beside it."""

from __future__ import annotations

import json
from pathlib import Path

from glu_prune.evaluate.documents import write_documents


def task_run(folder: Path, name: str, task: str, rows: list[dict], prune, metrics: list[dict]) -> dict:
    """The record of one task run of model "m" (unpruned, or MAW at `prune` %), its per-document
    `rows` written to `folder`/<name>.jsonl.gz."""
    folder.mkdir(exist_ok=True)
    info = write_documents(folder / f"{name}.jsonl.gz", rows, {task: {}})
    pct = 0.0 if prune is None else float(prune)
    return {
        "checkpoint": name,
        "task": task,
        "model": "m",
        "data_source": "offline",
        "identity": {"task": task, "prune": None if prune is None else {"pct": prune}},
        "pruning": {
            "method": "none" if prune is None else "maw",
            "pruning_pct": pct,
            "effective_pruning_pct": pct,
            "intermediate_size": 100,
            "expansion_ratio": 2.0,
            "parameters_after": 1000,
        },
        "metrics": metrics,
        "documents": info,
    }


def complete_json(tmp_path: Path, runs: list[dict]) -> Path:
    """X_complete.json over `runs`, whose per-document files are in tmp_path/X_documents."""
    path = tmp_path / "X_complete.json"
    files = {r["checkpoint"]: f"X_documents/{r['checkpoint']}.jsonl.gz" for r in runs}
    path.write_text(json.dumps({"documents": {"folder": "X_documents", "files": files}, "runs": runs}))
    return path
