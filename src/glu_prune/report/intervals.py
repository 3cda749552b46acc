"""Paired intervals in the figures' orientation, and which changes a figure marks as significant.

The tidy table's paired columns (evaluate/pairing.py) keep the metric's own direction: ratio =
pruned / unpruned. Figures draw "> 1 is better" (perplexities inverted), so the ratio's interval is
turned the same way. Significance is decided over exactly the comparisons a figure draws, with the
Benjamini-Hochberg adjustment (scipy.stats.false_discovery_control), named in the figure's footer.
"""

from __future__ import annotations

import math

from ..evaluate import PAIRED_COLUMNS, adjust_p_values

ALPHA = 0.05
NUMERIC = [c for c in PAIRED_COLUMNS if c not in ("baseline_checkpoint", "p_test")]


def better_ratio(up, ratio, low, high):
    """A ratio and its interval turned so that > 1 is better: unchanged where `up` (higher is
    better), inverted (and the bounds swapped) where lower is better."""
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(up, ratio, 1 / ratio), np.where(up, low, 1 / high), np.where(up, high, 1 / low)


def orient_paired(table):
    """Add normalised_ci_low / normalised_ci_high (the paired 95 % interval of the ratio to the
    unpruned score, > 1 better) and normalised_paired_stderr; NaN where a row has no paired values."""
    import numpy as np
    import pandas as pd

    for col in PAIRED_COLUMNS:
        if col not in table:
            table[col] = math.nan
    for col in NUMERIC:
        table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
    up = table["higher_is_better"].eq(True).to_numpy()
    lo, hi, r, se = (table[c].to_numpy() for c in ("ratio_ci_low", "ratio_ci_high", "ratio", "ratio_stderr"))
    _, table["normalised_ci_low"], table["normalised_ci_high"] = better_ratio(up, r, lo, hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["normalised_paired_stderr"] = np.where(up, se, se / r**2)
    return table


def significant(frame) -> tuple[list[bool], int]:
    """(per row: Benjamini-Hochberg adjusted p < ALPHA over the rows with a p-value, family size)."""
    p = [float(v) for v in frame["p_value"]]
    adjusted = adjust_p_values(p)
    return [a == a and a < ALPHA for a in adjusted], sum(v == v for v in p)


def significance_note(family: int) -> str:
    return (
        f"filled markers: significant change (Benjamini-Hochberg adjusted p < {ALPHA:g} over the {family} "
        "paired comparisons drawn here; exact McNemar test for 0/1 scores, paired permutation test otherwise)"
    )
