"""Structured GLU width pruning studies of LLMs: prune, describe, evaluate, profile, plot."""

__version__ = "0.1.0"
