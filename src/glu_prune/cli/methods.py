"""glu-prune methods: the registered neuron selection methods."""

from __future__ import annotations

from ..prune import METHODS


def add_arguments(p) -> None:
    pass


def run(args) -> int:

    for name, method in METHODS.items():
        print(f"{name:<15} {method.about}")
    return 0
