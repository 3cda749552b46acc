"""Consolidation: the checkpoints of one or more run dirs as a tidy CSV (with the paired columns),
a complete JSON, and the per-document files.

A run dir that outlived a code change holds the same experiment under two identities; only the
newest belongs in a table (the others are listed as superseded, never mixed in).
"""

from __future__ import annotations

import datetime
import os
import warnings
from dataclasses import asdict
from pathlib import Path

from ..errors import UserError
from ..provenance import provenance
from ..store import (
    CheckpointStore,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    damaged_files,
    identity_key,
)
from .answer_bias import answer_bias_table
from .contrasts import REFERENCE, method_contrasts
from .documents import documents_problem
from .ifeval_kinds import kinds_table
from .paired import DEFAULT_PAIRED, PairedSettings
from .pairing import FAMILY, paired_columns
from .records import CSV_COLUMNS, KIND, checkpoint_problem, tidy_rows


def consolidate_results(
    run_dirs,
    csv_path=None,
    json_path=None,
    select=None,
    settings: dict | None = None,
    paired: PairedSettings | None = DEFAULT_PAIRED,
):
    """Merge the checkpoints of one or more run dirs into a tidy CSV, a complete JSON, and a folder of
    per-document files (`results.csv` -> `documents/`, `X_results.csv` -> `X_documents/`, one
    `<checkpoint>.jsonl.gz` per task run; none when the CSV goes to os.devnull), for IFEval runs
    their instructions by kind (`X_ifeval_kinds.csv`, ifeval_kinds.py), and for two-choice tasks
    each answer's share and the balanced accuracy (`X_answer_bias.csv`, answer_bias.py).

    Every pruned row gets the paired columns against the unpruned run of the same settings
    (pairing.py); rows that cannot be paired are listed under paired.unpaired in the JSON.
    paired=None leaves the paired columns empty (a subset read for its values only).
    `select(identity) -> bool` keeps a subset (e.g. one experiment of a shared run dir); `settings`
    (e.g. the commands and limits of a study) is stored in the JSON as given.
    Defaults: <first dir>/results.csv and <first dir>/complete.json. -> (DataFrame, dict).

    Raises:
        UserError: a dir without checkpoints; paired runs whose documents differ.
    """
    dirs = [Path(run_dirs)] if isinstance(run_dirs, (str, Path)) else [Path(d) for d in run_dirs]
    runs, failed, damaged, sources = _read_runs(dirs, select)
    runs, superseded = _latest_per_experiment(runs)
    if superseded:
        warnings.warn(
            f"{len(superseded)} checkpoints of earlier code versions were superseded by newer runs of "
            "the same experiment and left out (listed under 'superseded' in the JSON)",
            stacklevel=2,
        )
    table, unpaired = _table(runs, sources, paired)
    csv_path = Path(csv_path) if csv_path else dirs[0] / "results.csv"
    json_path = Path(json_path) if json_path else dirs[0] / "complete.json"
    folder = None if csv_path == Path(os.devnull) else documents_folder(csv_path)
    derived = {} if paired is None or folder is None else _derived(runs, sources, paired, csv_path)
    complete = {
        "consolidated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "run_dirs": [str(d.resolve()) for d in dirs],
        "provenance": provenance(),
        "settings": settings,
        "csv_columns": list(CSV_COLUMNS),
        "documents": _copy_documents(runs, sources, folder),
        "paired": paired and {**asdict(paired), "family": FAMILY, "unpaired": unpaired},
        **derived,
        "runs": runs,
        "failed": failed,
        "damaged": damaged,
        "superseded": superseded,
    }
    atomic_write_text(csv_path, table.to_csv(index=False))
    atomic_write_json(json_path, complete)
    return table, complete


def _table(runs: list[dict], sources: dict, paired: PairedSettings | None):
    """(the tidy table with the paired columns, rows left unpaired and why)."""
    import pandas as pd

    pairs, unpaired = {}, []
    if paired is not None:
        pairs, unpaired = paired_columns(runs, lambda r: sources.get(r["checkpoint"]), paired)
    if unpaired:
        warnings.warn(
            f"{len(unpaired)} pruned task runs or rows have no paired statistics (listed with the reason "
            "under paired.unpaired in the JSON)",
            stacklevel=3,
        )
    rows = [
        {**row, **pairs.get((r["checkpoint"], row["subtask"], row["metric"], row["filter"]), {})}
        for r in runs
        for row in tidy_rows(r)
    ]
    table = pd.DataFrame(rows, columns=list(CSV_COLUMNS))
    order = ["model", "method", "pruning_pct", "task", "subtask", "metric", "filter"]
    return table.sort_values(order, kind="stable"), unpaired


def beside(csv_path: Path, name: str, suffix: str = ".csv") -> Path:
    """results.csv -> <name>.csv; X_results.csv -> X_<name>.csv (beside the CSV)."""
    stem = csv_path.stem
    return csv_path.with_name(
        (stem.replace("results", name) if "results" in stem else f"{stem}_{name}") + suffix
    )


def documents_folder(csv_path: Path) -> Path:
    """results.csv -> documents/; X_results.csv -> X_documents/ (beside the CSV)."""
    return beside(csv_path, "documents", "")


def _derived(runs: list[dict], sources: dict, paired: PairedSettings, csv_path: Path) -> dict:
    """The tables derived from the per-document values, written beside the CSV where they have rows
    (methods against MAW: contrasts.py; IFEval by kind of instruction: ifeval_kinds.py; answer
    bias on two-choice tasks: answer_bias.py), and what the complete JSON says of each. A data set
    that cannot be read (the golds or instructions of hub runs offline) leaves its table out, with
    the reason, and the consolidation whole."""

    def documents_of(run):
        return sources.get(run["checkpoint"])

    contrasts, left_out = method_contrasts(runs, documents_of, settings=paired)
    why = [dict(zip(("checkpoint", "task", "metric", "reason"), r, strict=True)) for r in left_out]
    out = {"contrasts": {"reference": REFERENCE, "left_out": why}}
    tables = {"contrasts": contrasts}
    for name, make, what in (
        ("ifeval_kinds", lambda: kinds_table(runs, documents_of, settings=paired), "IFEval kinds"),
        ("answer_bias", lambda: answer_bias_table(runs, documents_of), "answer bias"),
    ):
        try:
            tables[name], out[name] = make(), {}
        except UserError as exc:
            tables[name], out[name] = None, {"error": str(exc)}
            warnings.warn(f"no {what} table: {exc}", stacklevel=3)
    for name, table in tables.items():
        path = beside(csv_path, name)
        if table is None or table.empty:
            path.unlink(missing_ok=True)
        else:
            atomic_write_text(path, table.to_csv(index=False))
        out[name] |= {"file": None if table is None or table.empty else path.name}
    return out


def _read_runs(dirs: list[Path], select):
    """(done results, failed, damaged, {checkpoint: its per-document file}) of the run dirs."""
    runs, failed, damaged, sources = [], [], [], {}
    for d in dirs:
        if not (d / "checkpoints").is_dir():
            raise UserError(f"{d} holds no evaluation checkpoints (no {d / 'checkpoints'})")
        store = CheckpointStore(d / "checkpoints", KIND, checkpoint_problem)
        for rec in store.records():
            if select is not None and not select(rec["identity"]):
                continue
            if rec.get("status") == "done":
                runs.append(rec["result"])
                if rec["result"].get("documents"):
                    sources[rec["result"]["checkpoint"]] = store.root / rec["result"]["documents"]["file"]
            else:
                failed.append({"identity": rec["identity"], "error": rec.get("error")})
        damaged += damaged_files(d / "checkpoints", d / "request-cache")  # set aside, now or earlier
    return runs, failed, damaged, sources


def _copy_documents(runs: list[dict], sources: dict, folder: Path | None) -> dict:
    """Copy each run's verified per-document file into `folder` as <checkpoint>.jsonl.gz."""
    if folder is None:
        return {"folder": None, "files": {}}
    files = {}
    for run in runs:
        source = sources.get(run["checkpoint"])
        if source is None or documents_problem(source, run.get("documents")):
            continue  # listed under paired.unpaired with the reason
        target = folder / f"{run['checkpoint']}.jsonl.gz"
        if not (target.is_file() and target.read_bytes() == source.read_bytes()):
            atomic_write_bytes(target, source.read_bytes())
        files[run["checkpoint"]] = f"{folder.name}/{target.name}"
    return {"folder": folder.name, "files": files}


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
