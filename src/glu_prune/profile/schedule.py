"""The order of a profiling run's measurements, as pure data (no model, no clock).

Pitfall 4: models must not always run in the same order, or drift over time (temperature, other
load) is confounded with the pruning level. `interleaved` keeps every level in memory and visits
them in a fresh random order in each repeat, so drift spreads over all levels; `shuffled` (when all
levels do not fit in memory) loads one level at a time in a random order. Within a visit the
(workload, batch size) units are shuffled too. Seeds are strings, hashed deterministically.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    """One unit of work: a level's workload at a batch size, in one repeat."""

    level: float
    workload: str
    batch_size: int
    repeat: int


@dataclass(frozen=True)
class Visit:
    """One level in one repeat: an idle reading, then these measurements in this order."""

    level: float
    repeat: int
    measurements: tuple[Measurement, ...]
    order: dict  # {"mode", "levels_in_order", "position"}: recorded with every measurement


def shuffled(items, key: str) -> list:
    items = list(items)
    random.Random(key).shuffle(items)  # str seeds are hashed deterministically (not PYTHONHASHSEED)
    return items


def schedule(levels, units, repeats: int, seed: int, mode: str, pending: set[Measurement]) -> list[Visit]:
    """Every visit with pending work, in the order it is to be measured."""
    levels = [float(lv) for lv in levels]

    def visit(level, r, order, position):
        todo = [Measurement(level, w, b, r) for w, b in shuffled(units, f"units:{seed}:{r}:{level}")]
        todo = tuple(m for m in todo if m in pending)
        info = {"mode": mode, "levels_in_order": order, "position": position}
        return Visit(level, r, todo, info) if todo else None

    if mode == "interleaved":
        visits = [
            visit(lv, r, order, pos)
            for r in range(repeats)
            for order in [shuffled(levels, f"levels:{seed}:{r}")]
            for pos, lv in enumerate(order)
        ]
    else:
        order = shuffled(levels, f"levels:{seed}")
        visits = [visit(lv, r, order, pos) for pos, lv in enumerate(order) for r in range(repeats)]
    return [v for v in visits if v is not None]
