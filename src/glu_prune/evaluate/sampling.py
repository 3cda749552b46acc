"""Documents drawn at random from a split, instead of its first ones.

lm-eval's --limit takes a split's first documents, which are no sample of an ordered split:
HellaSwag's validation split lists its 3,243 ActivityNet items before its 6,799 WikiHow ones, so its
first 1,000 are ActivityNet alone. A seeded draw ranks every document index of a (sub)task by a hash
of (seed, task, index) and keeps the lowest: the same documents on every machine and library version
(the draw is part of a checkpoint's identity through its seed), and a larger draw with one seed
holds every smaller one. lm-eval then runs the drawn indices (`simple_evaluate(samples=...)`) and
logs each document under its index in the split, as a whole-split run does.
"""

from __future__ import annotations

import hashlib
import heapq

from ..tasks import task_manager


def drawn(task: str, n: int, size: int, seed: int) -> list[int]:
    """The `size` document indices (all `n` if fewer) of `task` that seed `seed` draws, ascending."""

    def rank(index: int) -> bytes:
        return hashlib.sha256(f"{seed}:{task}:{index}".encode()).digest()

    return sorted(heapq.nsmallest(min(size, n), range(n), key=rank))


def split_sizes(task: str, offline: bool) -> dict[str, int]:
    """{(sub)task: documents in the split lm-eval evaluates} of a task or group (mmlu: its subjects)."""
    from lm_eval.tasks import get_task_dict

    def walk(tasks: dict):
        for name, obj in tasks.items():
            if isinstance(obj, dict):
                yield from walk(obj)
            else:
                yield name, len(obj.eval_docs)

    return dict(walk(get_task_dict([task], task_manager(offline))))


def draw_samples(task: str, size: int, seed: int, offline: bool) -> dict[str, list[int]]:
    """lm-eval's `samples` argument: `size` drawn documents of each of `task`'s (sub)tasks."""
    return {name: drawn(name, n, size, seed) for name, n in split_sizes(task, offline).items()}
