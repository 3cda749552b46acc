"""Consolidation: the checkpoints of one or more run dirs as a tidy CSV and a complete JSON.

A run dir that outlived a code change holds the same experiment under two identities; only the
newest belongs in a table (the others are listed as superseded, never mixed in).
"""

from __future__ import annotations

import datetime
import warnings
from pathlib import Path

from ..errors import UserError
from ..provenance import provenance
from ..store import CheckpointStore, atomic_write_json, atomic_write_text, damaged_files, identity_key
from .records import CSV_COLUMNS, KIND, checkpoint_problem, tidy_rows


def consolidate_results(run_dirs, csv_path=None, json_path=None, select=None, settings: dict | None = None):
    """Merge the checkpoints of one or more run dirs into a tidy CSV and a complete JSON.

    `select(identity) -> bool` keeps a subset (e.g. one experiment of a shared run dir); `settings`
    (e.g. the commands and limits of a study) is stored in the JSON as given.
    Defaults: <first dir>/results.csv and <first dir>/complete.json. -> (DataFrame, dict).
    """
    import pandas as pd

    dirs = [Path(run_dirs)] if isinstance(run_dirs, (str, Path)) else [Path(d) for d in run_dirs]
    runs, failed, damaged = [], [], []
    for d in dirs:
        if not (d / "checkpoints").is_dir():
            raise UserError(f"{d} holds no evaluation checkpoints (no {d / 'checkpoints'})")
        store = CheckpointStore(d / "checkpoints", KIND, checkpoint_problem)
        for rec in store.records():
            if select is not None and not select(rec["identity"]):
                continue
            if rec.get("status") == "done":
                runs.append(rec["result"])
            else:
                failed.append({"identity": rec["identity"], "error": rec.get("error")})
        damaged += damaged_files(d / "checkpoints", d / "request-cache")  # set aside, now or earlier
    runs, superseded = _latest_per_experiment(runs)
    if superseded:
        warnings.warn(
            f"{len(superseded)} checkpoints of earlier code versions were superseded by newer runs of "
            "the same experiment and left out (listed under 'superseded' in the JSON)",
            stacklevel=2,
        )
    rows = [row for r in runs for row in tidy_rows(r)]
    table = pd.DataFrame(rows, columns=list(CSV_COLUMNS))
    table = table.sort_values(
        ["model", "method", "pruning_pct", "task", "subtask", "metric", "filter"], kind="stable"
    )
    complete = {
        "consolidated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "run_dirs": [str(d.resolve()) for d in dirs],
        "provenance": provenance(),
        "settings": settings,
        "csv_columns": list(CSV_COLUMNS),
        "runs": runs,
        "failed": failed,
        "damaged": damaged,
        "superseded": superseded,
    }
    csv_path = Path(csv_path) if csv_path else dirs[0] / "results.csv"
    json_path = Path(json_path) if json_path else dirs[0] / "complete.json"
    atomic_write_text(csv_path, table.to_csv(index=False))
    atomic_write_json(json_path, complete)
    return table, complete


CODE_VERSION_KEYS = ("runner", "versions", "task_files")  # identity parts that say which code ran, not what


def _experiment_key(identity: dict) -> str:
    same = {k: v for k, v in identity.items() if k not in CODE_VERSION_KEYS}
    if same.get("prune"):
        same["prune"] = {k: v for k, v in same["prune"].items() if k != "method_version"}
    return identity_key(same)


def _latest_per_experiment(runs: list[dict]) -> tuple[list[dict], list[dict]]:
    """One result per experiment: a run dir that outlived a code change holds the same experiment
    under two identities, and only the newest belongs in a table (the others are listed, not mixed in)."""
    latest: dict[str, dict] = {}
    for r in sorted(runs, key=lambda r: r["run"].get("started_at", 0)):
        latest[_experiment_key(r["identity"])] = r
    newest = {id(r) for r in latest.values()}
    kept = [r for r in runs if id(r) in newest]
    superseded = [
        {
            "checkpoint": r["checkpoint"],
            "task": r["task"],
            "superseded_by": latest[_experiment_key(r["identity"])]["checkpoint"],
        }
        for r in runs
        if id(r) not in newest
    ]
    return kept, superseded
