"""glu-prune methods: the registered neuron selection methods."""

from __future__ import annotations


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from ..pruning import METHODS

    for name, method in METHODS.items():
        print(f"{name:<15} {method.about}")
    return 0
