"""Publishing a pruned model: the exact folder to upload (the `glu-prune prune` output, unchanged,
plus a README.md model card, model_card.py) and its upload with huggingface_hub.

The card states only what was measured for exactly this model and pruning config: the rows of the
given result CSVs that match it (measured_scores), with their settings and hardware, and the
pruning record written at pruning time. The Hugging Face token is read by huggingface_hub from the
environment or the login cache; this module never reads, prints, logs or writes it.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from pathlib import Path

from ..errors import UserError
from ..models import read_json, read_pruning_json
from .licenses import license_files
from .metrics import LIKE_KEYS
from .model_card import base_model_and_license, build_model_card
from .results import EVAL_COLUMNS, PROFILE_COLUMNS, PROFILE_ROW_KEYS, key_cell, read_eval_csv, read_table

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9_.-]{1,96}$")


def check_repo_id(repo_id: str) -> str:
    if not REPO_ID.match(repo_id or "") or ".." in repo_id or "--" in repo_id or repo_id.endswith((".", "-")):
        raise UserError(f"--repo-id {repo_id!r} is not a Hugging Face repo id of the form owner/name")
    return repo_id


def read_pruning_record(model_dir) -> dict:
    """pruning.json of a `glu-prune prune` output. Raises UserError for anything else."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise UserError(f"--model-dir {model_dir} is not a directory")
    if not (model_dir / "pruning.json").is_file():
        raise UserError(
            f"{model_dir} has no pruning.json: push takes a directory written by `glu-prune prune --out`"
        )
    if not (model_dir / "config.json").is_file():
        raise UserError(f"{model_dir} has no config.json (not a transformers model directory)")
    if (model_dir / "README.md").exists():
        raise UserError(
            f"{model_dir} already holds a README.md; the model card is generated, remove it first"
        )
    return read_pruning_json(model_dir)  # a damaged or foreign one: one line naming it


# ----------------------------------------------------------------------------- measured numbers


def _same(a, b) -> bool:
    missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    if missing(a) or missing(b):
        return missing(a) and missing(b)
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def _matches(row: dict, record: dict) -> bool:
    """This exact model and config: model, method, level, divisor, width (and seed where recorded)."""
    checks = [
        ("model", "model"),
        ("method", "method"),
        ("pruning_pct", "pruning_pct"),
        ("divisor", "divisor"),
        ("intermediate_size", "intermediate_size"),
    ]
    if "seed" in record and "seed" in row:
        checks.append(("seed", "seed"))
    return all(
        _same(row.get(c), record.get(k)) if c != "model" else row.get(c) == record.get(k) for c, k in checks
    )


def measured_scores(record: dict, csvs) -> tuple[list[dict], list[dict]]:
    """(evaluation rows, profile rows) of exactly this model/config from the given CSVs. An
    evaluation row gets `base_value`/`base_stderr`: the unpruned model's result with the same
    settings (analysis.LIKE_KEYS), where the CSVs hold one.

    Raises UserError for a missing or unrecognised CSV, or when the CSVs hold nothing for it."""
    import pandas as pd

    scores, perf, base = [], [], {}
    for csv in map(Path, csvs):
        if not csv.is_file():
            raise UserError(f"--results {csv} does not exist")
        try:
            columns = set(pd.read_csv(csv, nrows=0).columns)
        except (ValueError, OSError) as exc:
            raise UserError(f"--results {csv} is not a readable table ({exc})") from None
        if EVAL_COLUMNS <= columns:
            table = read_eval_csv(csv)
            if "subtask" in table:
                table = table[table["subtask"] == table["task"]]
            rows = table.to_dict("records")
            scores += [r for r in rows if _matches(r, record)]
            for r in rows:
                if r["model"] == record["model"] and r["method"] == "none" and r["pruning_pct"] == 0:
                    base[tuple(key_cell(r.get(k)) for k in LIKE_KEYS)] = (r["value"], r["stderr"])
        elif PROFILE_COLUMNS <= columns:
            rows = read_table(csv, PROFILE_ROW_KEYS).to_dict("records")
            perf += [
                r
                for r in rows
                if r.get("model") == record["model"]
                and _same(r.get("intermediate_size"), record["intermediate_size"])
            ]
        else:
            raise UserError(f"--results {csv} is neither an evaluation nor a profile table")
    scores = list(
        {(r.get("checkpoint"), r["metric"], r["filter"]): r for r in scores}.values()
    )  # CSVs may overlap
    for r in scores:
        r["base_value"], r["base_stderr"] = base.get(
            tuple(key_cell(r.get(k)) for k in LIKE_KEYS), (None, None)
        )
    if csvs and not scores and not perf:
        raise UserError(
            f"the given results hold no rows for this model ({record['model']}, {record['method']} "
            f"{record['pruning_pct']:g} %, divisor {record.get('divisor')}, width "
            f"{record['intermediate_size']})"
        )
    return scores, perf


# ----------------------------------------------------------------------------- the folder and the upload


def _place(src: Path, dst: Path) -> None:
    """Hard link where the file system allows (no copy of gigabytes of weights), else copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def stage_folder(model_dir, card: str, staging, lic: str = "") -> Path:
    """The exact folder to upload: every file of model_dir, unchanged, plus README.md and the files
    the base model's license asks for (Gemma: NOTICE and the terms)."""
    model_dir, staging = Path(model_dir), Path(staging)
    staging.mkdir(parents=True, exist_ok=True)
    for src in sorted(model_dir.rglob("*")):
        dst = staging / src.relative_to(model_dir)
        if src.is_dir():
            dst.mkdir(exist_ok=True)
        else:
            _place(src, dst)
    (staging / "README.md").write_text(card, encoding="utf-8")
    for name, content in license_files(lic).items():
        if isinstance(content, Path):
            shutil.copyfile(content, staging / name)  # a copy: the original lives in an installed package
        else:
            (staging / name).write_text(content, encoding="utf-8")
    return staging


def push(
    model_dir, repo_id: str, results=(), private: bool = False, dry_run=None, base_model=None, license=None
) -> dict:
    """Build the folder and card; with dry_run (a new or empty dir) write them there and upload
    nothing, else create the repo (if needed) and upload the folder. -> a summary dict.

    Raises:
        UserError: no pruning.json, bad repo id, non-empty staging dir, unusable results,
            unknown base model or license, no token, or a hub error (its message, never the token).
    """
    check_repo_id(repo_id)
    model_dir = Path(model_dir).expanduser()
    record = read_pruning_record(model_dir)
    if dry_run is not None:
        staging = Path(dry_run).expanduser()
        if staging.exists() and (not staging.is_dir() or any(staging.iterdir())):
            raise UserError(f"--dry-run {dry_run} already exists and is not an empty directory")
    _, lic = base_model_and_license(record, base_model, license)  # fails before any work
    license_files(lic)  # the files it asks for are installed
    scores, perf = measured_scores(record, results)
    config = read_json(model_dir / "config.json")
    card = build_model_card(
        record, repo_id, scores, perf, base_model, license, (config.get("architectures") or [None])[0]
    )
    summary = {
        "repo_id": repo_id,
        "private": private,
        "model_dir": str(model_dir),
        "scores": len(scores),
        "performance_rows": len(perf),
    }
    if dry_run is not None:
        folder = stage_folder(model_dir, card, staging, lic)
        return {
            **summary,
            "uploaded": False,
            "staged": str(folder),
            "files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()),
        }
    return {**summary, **_upload(model_dir, card, repo_id, private, lic)}


def _upload(model_dir: Path, card: str, repo_id: str, private: bool, lic: str) -> dict:
    from huggingface_hub import HfApi, get_token
    from huggingface_hub.errors import (  # HTTPError: the HTTP client's base error
        HTTPError,
        OfflineModeIsEnabled,
    )

    if get_token() is None:
        raise UserError("no Hugging Face token: set HF_TOKEN or run `hf auth login` (write access needed)")
    tmp = Path(tempfile.mkdtemp(prefix=".glu-prune-push.", dir=model_dir.parent))
    try:
        folder = stage_folder(model_dir, card, tmp / "upload", lic)
        api = HfApi()
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            repo_type="model",
            commit_message="Upload pruned model (glu-prune)",
        )
    except OfflineModeIsEnabled:
        raise UserError(
            "the Hugging Face hub is disabled here (HF_HUB_OFFLINE); use --dry-run to build the folder"
        ) from None
    except (HTTPError, OSError) as exc:  # HfHubHTTPError is one; so are connection failures
        raise UserError(f"upload to {repo_id} failed: {str(exc).splitlines()[0]}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"uploaded": True, "url": str(url), "commit": getattr(commit, "oid", None)}
