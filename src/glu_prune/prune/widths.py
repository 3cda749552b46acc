"""How many GLU neurons a pruning request keeps: optipfair's rule, optionally rounded to a
hardware-friendly multiple (widths such as 7373 make GEMMs slower than rounder, wider ones)."""

from __future__ import annotations

from ..errors import UserError
from ..models import glu_config

DIVISORS = (32, 64, 128, 256)


def kept_width(intermediate: int, pct: float, divisor: int | None = None) -> int:
    """Neurons kept per layer: optipfair's rule, then rounded DOWN to a multiple of `divisor`.

    Rounding down means the pruned model is never wider than asked for (it may be pruned a
    little more than `pct`); the effective percentage is recorded next to the requested one.
    """
    removed = min(int(pct / 100 * intermediate), intermediate - 1)
    k = intermediate - removed
    if divisor:
        k = max(k // divisor * divisor, 1)
    if pct > 0 and k >= intermediate:
        raise UserError(f"{pct}% of {intermediate} with --divisor {divisor} removes no neuron")
    return k


def pct_for_expansion_ratio(intermediate: int, hidden: int, ratio: float) -> float:
    """Pruning percentage that brings intermediate/hidden down to `ratio` (optipfair's formula)."""
    from optipfair.pruning.mlp_glu import calculate_pruning_percentage_from_expansion_rate

    current = intermediate / hidden
    if not 0 < ratio < current:
        raise UserError(f"--expansion-ratio {ratio:g} must be above 0 and below the current {current:.4g}")
    return calculate_pruning_percentage_from_expansion_rate(intermediate, hidden, ratio * 100)


def target_width(
    config, pct: float | None, expansion_ratio: float | None, divisor: int | None
) -> tuple[float, int]:
    """(pct, kept width) for a model config and a request by percentage or by expansion ratio."""
    text = glu_config(config)
    if expansion_ratio is not None:
        pct = pct_for_expansion_ratio(text.intermediate_size, text.hidden_size, expansion_ratio)
    return pct, kept_width(text.intermediate_size, pct, divisor)
