"""Publishing a pruned model: the exact folder to upload (the `glu-prune prune` output, unchanged,
plus a README.md model card) and its upload with huggingface_hub.

The card states only what was measured for exactly this model and pruning config: scores from the
given result CSVs with their settings and hardware, and the pruning record written at pruning
time. The Hugging Face token is read by huggingface_hub from the environment or the login cache;
this module never reads, prints, logs or writes it.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path

from ..errors import UserError
from ..models import ModelEntry, is_instruct, read_json, read_pruning_json, resolve
from .metrics import LIKE_KEYS
from .results import EVAL_COLUMNS, PROFILE_COLUMNS, PROFILE_ROW_KEYS, key_cell, read_eval_csv, read_table

# license id (Hugging Face metadata) of each registry model's weights
LICENSES = {
    "smollm2-135m-instruct": "apache-2.0",
    "llama-3.2-1b": "llama3.2",
    "llama-3.2-1b-instruct": "llama3.2",
    "llama-3.2-3b": "llama3.2",
    "llama-3.2-3b-instruct": "llama3.2",
}
# what the Llama 3.2 Community License asks of redistributed derivatives (section 1.b)
LLAMA_NOTICE = (
    "Built with Llama. Llama 3.2 is licensed under the Llama 3.2 Community License, "
    "Copyright © Meta Platforms, Inc. All Rights Reserved. Use of this model is subject to that "
    "license and to Meta's Acceptable Use Policy."
)
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9_.-]{1,96}$")
SCORE_COLUMNS = (
    "task",
    "metric",
    "filter",
    "value",
    "stderr",
    "base_value",
    "base_stderr",
    "n_samples",
    "num_fewshot",
    "data_source",
    "limit",
    "chat_template",
    "hardware",
)
SCORE_HEADER = [
    "task",
    "metric",
    "filter",
    "value",
    "± stderr",
    "unpruned",
    "± stderr (unpruned)",
    "n",
    "few-shot",
    "data source",
    "limit",
    "chat template",
    "hardware",
]


SCORES_NOTE = (
    "## Measured scores\n\nlm-evaluation-harness results of exactly this model (values to 4 significant "
    "digits). `± stderr` is lm-eval's standard error, or a bootstrap over documents where lm-eval gives none "
    "(e.g. perplexity; the results CSV's `stderr_source` says which), – where neither exists; `unpruned` is "
    "the base model measured with the same settings (– where not given). `n` is the number of documents "
    "scored and `limit` the per-task cap (– = the full set); `offline` data is the packaged copy of each "
    "benchmark that "
    "glu-prune uses offline, `hub` the Hugging Face datasets. Small `n` means wide error bars."
)


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


def base_model_and_license(
    record: dict, base_model: str | None = None, license: str | None = None
) -> tuple[str, str]:
    """The base model's hub id and license, from the registry; unknown models need them given."""
    name = record["model"]
    try:
        target = resolve(name)
    except UserError:
        target = None
    hub_id = (
        target.hub_id if isinstance(target, ModelEntry) else (target if isinstance(target, str) else None)
    )
    base = base_model or hub_id
    lic = license or (LICENSES.get(target.name) if isinstance(target, ModelEntry) else None)
    if base is None:
        raise UserError(f"the base model {name} is a local directory: give its hub id with --base-model")
    if lic is None:
        raise UserError(
            f"the license of {base} is not known here: give it with --license (its Hugging Face id)"
        )
    return base, lic


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


# ----------------------------------------------------------------------------- the card


def _fmt(v, digits=4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if not v.is_integer() or abs(v) >= 1e5 else f"{int(v)}"
    return str(v)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def build_model_card(
    record: dict,
    repo_id: str,
    scores=(),
    perf=(),
    base_model=None,
    license=None,
    architecture: str | None = None,
) -> str:
    """README.md text: YAML front matter (base model, license, tags) and the pruning record,
    measured scores with their settings and hardware, how it was made, how to load it."""
    from huggingface_hub import ModelCardData

    base, lic = base_model_and_license(record, base_model, license)
    div = record.get("divisor")
    data = ModelCardData(
        base_model=base,
        license=lic,
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=["pruned", "glu-pruning", "width-pruning", "glu-prune", f"pruning-{record['method']}"],
    )
    try:
        chat = is_instruct(record["model"])
    except UserError:
        chat = False
    parts = [
        f"---\n{data.to_yaml()}\n---",
        f"# {repo_id.split('/')[1]}",
        f"[{base}](https://huggingface.co/{base}) with {record['effective_pruning_pct']:.2f} % of the "
        "neurons of every "
        f"GLU MLP removed ({record['method']} neuron selection): intermediate size "
        f"{record['original_intermediate_size']} "
        f"-> {record['intermediate_size']}, expansion ratio {record['original_expansion_ratio']:.3f} -> "
        f"{record['expansion_ratio']:.3f}, parameters {record['parameters_before']:,} -> "
        f"{record['parameters_after']:,} "
        f"(-{record['parameter_reduction_pct']:.2f} %). No retraining or distillation after pruning.",
        "## Pruning record\n\nFrom `pruning.json` (uploaded beside the weights):\n\n"
        + _table(
            ["field", "value"],
            [
                [k, json.dumps(v) if isinstance(v, (dict, list)) else v]
                for k, v in record.items()
                if k != "source_dir"
            ],
        ),
    ]
    if scores:
        rows = sorted(scores, key=lambda r: (str(r["task"]), str(r["metric"]), str(r.get("filter"))))
        parts.append(
            SCORES_NOTE + "\n\n" + _table(SCORE_HEADER, [[r.get(c) for c in SCORE_COLUMNS] for r in rows])
        )
    if perf:
        shown = (
            "workload",
            "batch_size",
            "new_tokens",
            "ttft_ms",
            "tpot_ms",
            "tokens_per_s",
            "measured_speedup",
            "ideal_speedup",
            "peak_memory_bytes",
            "energy_j_per_token",
            "energy_source",
            "dtype",
            "hardware",
            "status",
        )
        rows = sorted(perf, key=lambda r: (str(r.get("hardware")), str(r["workload"]), r["batch_size"]))
        parts.append(
            "## Measured inference performance\n\nMedians over repeats; speed-ups over the unpruned model "
            "on the same "
            "hardware (decode time per output token); ideal = parameter-byte ratio. Energy is net of idle "
            "power, "
            "labelled with its source.\n\n" + _table(list(shown), [[r.get(c) for c in shown] for r in rows])
        )
    cmd = f"glu-prune prune --model {record['model']} --pct {record['pruning_pct']:g}"
    cmd += f" --method {record['method']}"
    cmd += f" --divisor {div}" if div else ""
    versions = ", ".join(f"{k} {v}" for k, v in (record.get("versions") or {}).items())
    parts.append(
        "## How it was made\n\n"
        f"```bash\n{cmd} --out DIR\n```\n\nStructured width pruning of the gate/up/down projections of "
        "each GLU MLP: "
        "the same neurons are removed from the three matrices and `intermediate_size` in the config is "
        "updated, so "
        f"the result is a standard `{architecture or 'transformers'}` checkpoint with a narrower MLP. "
        f"Versions at pruning time: {versions}."
    )
    load = (
        "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f'model = AutoModelForCausalLM.from_pretrained("{repo_id}")\n'
        f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")\n'
    )
    if chat:
        load += (
            'messages = [{"role": "user", "content": "What is the capital of France?"}]\n'
            "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, "
            'return_tensors="pt", '
            "return_dict=True)\n"
        )
    else:
        load += 'inputs = tokenizer("The capital of France is", return_tensors="pt")\n'
    load += "print(tokenizer.decode(model.generate(**inputs, max_new_tokens=32)[0]))\n```"
    parts.append("## How to load it\n\nPlain `transformers`, no extra code:\n\n" + load)
    if lic.startswith("llama"):
        parts.append("## License\n\n" + LLAMA_NOTICE)
    else:
        parts.append(f"## License\n\n{lic}, as the base model [{base}](https://huggingface.co/{base}).")
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- the folder and the upload


def _place(src: Path, dst: Path) -> None:
    """Hard link where the file system allows (no copy of gigabytes of weights), else copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def stage_folder(model_dir, card: str, staging) -> Path:
    """The exact folder to upload: every file of model_dir, unchanged, plus README.md."""
    model_dir, staging = Path(model_dir), Path(staging)
    staging.mkdir(parents=True, exist_ok=True)
    for src in sorted(model_dir.rglob("*")):
        dst = staging / src.relative_to(model_dir)
        if src.is_dir():
            dst.mkdir(exist_ok=True)
        else:
            _place(src, dst)
    (staging / "README.md").write_text(card, encoding="utf-8")
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
    base_model_and_license(record, base_model, license)  # fails before any work
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
        folder = stage_folder(model_dir, card, staging)
        return {
            **summary,
            "uploaded": False,
            "staged": str(folder),
            "files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()),
        }
    return {**summary, **_upload(model_dir, card, repo_id, private)}


def _upload(model_dir: Path, card: str, repo_id: str, private: bool) -> dict:
    from huggingface_hub import HfApi, get_token
    from huggingface_hub.errors import (  # HTTPError: the HTTP client's base error
        HTTPError,
        OfflineModeIsEnabled,
    )

    if get_token() is None:
        raise UserError("no Hugging Face token: set HF_TOKEN or run `hf auth login` (write access needed)")
    tmp = Path(tempfile.mkdtemp(prefix=".glu-prune-push.", dir=model_dir.parent))
    try:
        folder = stage_folder(model_dir, card, tmp / "upload")
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
