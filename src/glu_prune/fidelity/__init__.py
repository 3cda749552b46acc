"""Fidelity to the unpruned model: KL divergence of the next-token distributions, top-1 agreement
and token perplexities on held-out text, checkpointed like evaluation and profiling."""

from .consolidate import consolidate_fidelity
from .identity import fidelity_identity
from .records import FIDELITY_COLUMNS, TASK, fidelity_rows, summary
from .runner import run_fidelity, validate
from .settings import DEFAULT_FIDELITY, FidelitySettings, FidelityStatus
from .text import DEFAULT_TEXT, Text, load_text, make_windows

__all__ = [
    "DEFAULT_FIDELITY",
    "DEFAULT_TEXT",
    "FIDELITY_COLUMNS",
    "TASK",
    "FidelitySettings",
    "FidelityStatus",
    "Text",
    "consolidate_fidelity",
    "fidelity_identity",
    "fidelity_rows",
    "load_text",
    "make_windows",
    "run_fidelity",
    "summary",
    "validate",
]
