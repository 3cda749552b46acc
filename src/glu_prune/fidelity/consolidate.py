"""Fidelity checkpoints of one or more run dirs as a tidy CSV (the evaluation table's columns where
they apply) and a complete JSON, beside the evaluation results: fidelity_results.csv,
fidelity_complete.json."""

from __future__ import annotations

import datetime
from pathlib import Path

from ..errors import UserError
from ..provenance import provenance
from ..store import CheckpointStore, atomic_write_json, atomic_write_text, damaged_files, identity_key
from .records import FIDELITY_COLUMNS, KIND, checkpoint_problem, fidelity_rows


def _experiment(identity: dict) -> str:
    """An experiment regardless of the code that ran it (the newest run of it is kept)."""
    return identity_key({k: v for k, v in identity.items() if k not in ("runner", "versions")})


def consolidate_fidelity(run_dirs, csv_path=None, json_path=None, select=None):
    """-> (DataFrame, dict); defaults <first dir>/fidelity_results.csv and fidelity_complete.json."""
    import pandas as pd

    dirs = [Path(run_dirs)] if isinstance(run_dirs, (str, Path)) else [Path(d) for d in run_dirs]
    latest, failed, damaged = {}, [], []
    for d in dirs:
        if not (d / "checkpoints").is_dir():
            raise UserError(f"{d} holds no checkpoints (no {d / 'checkpoints'})")
        store = CheckpointStore(d / "checkpoints", KIND, checkpoint_problem)
        for rec in store.records():
            identity = rec.get("identity", {})
            if select is not None and not select(identity):
                continue
            if rec.get("status") != "done":
                failed.append({"identity": identity, "error": rec.get("error")})
                continue
            key = _experiment(identity)
            if key not in latest or latest[key]["run"]["started_at"] < rec["result"]["run"]["started_at"]:
                latest[key] = rec["result"]
        damaged += damaged_files(d / "checkpoints")  # set aside, now or by an earlier run
    runs = list(latest.values())
    table = pd.DataFrame([row for r in runs for row in fidelity_rows(r)], columns=list(FIDELITY_COLUMNS))
    table = table.sort_values(["model", "method", "pruning_pct", "metric"], kind="stable")
    csv_path = Path(csv_path) if csv_path else dirs[0] / "fidelity_results.csv"
    json_path = Path(json_path) if json_path else dirs[0] / "fidelity_complete.json"
    complete = {
        "consolidated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "run_dirs": [str(d.resolve()) for d in dirs],
        "provenance": provenance(),
        "csv_columns": list(FIDELITY_COLUMNS),
        "runs": runs,
        "failed": failed,
        "damaged": damaged,
    }
    atomic_write_text(csv_path, table.to_csv(index=False))
    atomic_write_json(json_path, complete)
    return table, complete
