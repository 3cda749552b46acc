"""Checkpoint identities are exact: the offline-task fingerprint follows only what loads a task's
data and prompts, and the recorded versions include tokenizers (token ids change every score)."""

from __future__ import annotations

import shutil

import pytest

from glu_prune.evaluate import EvalSettings, TaskSpec, task_identity
from glu_prune.evaluate.identity import fingerprint, offline_task_fingerprint, task_files
from glu_prune.models import ModelSpec
from glu_prune.provenance import RESULT_PACKAGES
from glu_prune.tasks import TASKS_DIR


@pytest.fixture
def tasks_copy(tmp_path):
    root = tmp_path / "tasks"
    shutil.copytree(TASKS_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def edit(path):
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")


def test_the_fingerprint_follows_only_what_loads_the_task(tasks_copy):
    root = tasks_copy
    piqa = lambda: fingerprint(root / "piqa", root)  # noqa: E731
    before = piqa()
    assert before == offline_task_fingerprint("piqa")  # the same files hash the same anywhere
    assert {p.name for p in task_files(TASKS_DIR / "piqa")} == {"piqa.yaml", "sources.py", "punkt.py"}
    for unrelated in (root / "__init__.py", root / "README.md", root / "hellaswag" / "hellaswag.yaml"):
        edit(unrelated)
        assert piqa() == before, unrelated
    edit(root / "piqa" / "piqa.yaml")
    after_yaml = piqa()
    assert after_yaml != before
    edit(root / "sources.py")  # the data loader every YAML names as its custom_dataset hook
    assert piqa() not in (before, after_yaml)


def test_a_groups_template_and_generator_are_part_of_it(tasks_copy):
    root = tasks_copy
    names = {p.name for p in task_files(root / "mmlu", root)}
    assert {"_template_yaml", "_mmlu.yaml", "subjects.py", "mmlu_anatomy.yaml", "sources.py"} <= names
    before = fingerprint(root / "mmlu", root)
    edit(root / "mmlu" / "_template_yaml")
    assert fingerprint(root / "mmlu", root) != before


def test_tokenizers_is_a_recorded_version():
    assert "tokenizers" in RESULT_PACKAGES
    ident = task_identity(ModelSpec("default"), None, TaskSpec("piqa"), EvalSettings(offline=True, limit=2))
    assert ident["versions"]["tokenizers"] and ident["task_files"] == offline_task_fingerprint("piqa")
