"""Paired statistics: a pruned model against its unpruned model on the same documents.

Every aggregation lm-eval uses here is a function of a ratio of sums over documents,
value = g(sum num / sum den): a mean (num = the value, den = 1), LAMBADA's perplexity
(num = log-likelihood, den = 1, g = exp(-x)), the weighted perplexities and bits per byte
(num = log-likelihood, den = words or bytes), IFEval's instruction-level accuracy (num = instructions
followed, den = instructions). Paired over the same documents (same den):

- delta = pruned - unpruned and ratio = pruned / unpruned, in the metric's own units and direction;
- their standard errors by linearisation over documents (for a mean: sd(pruned - unpruned) / sqrt(n));
- a percentile interval from `scipy.stats.bootstrap(..., paired=True)` (seeded; settings recorded);
- a two-sided p-value: the exact McNemar test for 0/1 metrics (`scipy.stats.binomtest` on the
  discordant pairs), otherwise a paired sign-flip permutation test of delta
  (`scipy.stats.permutation_test`, permutation_type="samples");
- Benjamini-Hochberg adjusted p-values over a family (`scipy.stats.false_discovery_control`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import UserError


@dataclass(frozen=True)
class PairedSettings:
    """How the paired statistics are computed (recorded with every consolidated result)."""

    confidence: float = 0.95
    n_resamples: int = 10_000  # bootstrap and permutation resamples
    seed: int = 0  # numpy Generator seed, the same for every comparison
    method: str = "percentile"  # scipy.stats.bootstrap's interval (never undefined for identical models)
    correction: str = "bh"  # scipy.stats.false_discovery_control: Benjamini-Hochberg


DEFAULT_PAIRED = PairedSettings()
CORRECTION_NAME = {"bh": "Benjamini-Hochberg", "by": "Benjamini-Yekutieli"}

LN2 = math.log(2)
BATCH_ELEMENTS = 2_000_000  # documents x resamples held at once (x 3 arrays of float64: ~50 MB)


@dataclass(frozen=True)
class Aggregation:
    """value = g(sum num / sum den); `split` turns one per-document value into (num, den)."""

    name: str
    g: object
    dg: object  # derivative of g
    split: object


def _pair(v):
    return float(v[0]), float(v[1])


def _one(v):
    return float(v), 1.0


def _instructions(v):
    return float(sum(v)), float(len(v))


_exp = Aggregation("perplexity", lambda a: np.exp(-a), lambda a: -np.exp(-a), _one)
AGGREGATIONS = {
    "mean": Aggregation("mean", lambda a: a, lambda a: np.ones_like(a), _one),
    "perplexity": _exp,
    "weighted_perplexity": Aggregation("weighted_perplexity", _exp.g, _exp.dg, _pair),
    "bits_per_byte": Aggregation(
        "bits_per_byte", lambda a: -a / LN2, lambda a: np.full_like(a, -1 / LN2), _pair
    ),
    "agg_inst_level_acc": Aggregation(
        "agg_inst_level_acc", lambda a: a, lambda a: np.ones_like(a), _instructions
    ),
}


def split_values(values, aggregation: Aggregation) -> tuple[np.ndarray, np.ndarray]:
    parts = [aggregation.split(v) for v in values]
    return np.array([p[0] for p in parts], float), np.array([p[1] for p in parts], float)


def aggregate(num, den, aggregation: Aggregation) -> float:
    return float(aggregation.g(np.sum(num) / np.sum(den)))


def _statistic(aggregation: Aggregation, den):
    """(delta, ratio) of resampled documents, vectorised over scipy's resample axis."""

    def stat(nx, ny, d=None, axis=-1):
        d = den if d is None else d
        with np.errstate(divide="ignore", invalid="ignore"):
            vx = aggregation.g(np.sum(nx, axis=axis) / np.sum(d, axis=axis))
            vy = aggregation.g(np.sum(ny, axis=axis) / np.sum(d, axis=axis))
            return np.stack([vx - vy, vx / vy])

    return stat


def _linearised_stderr(nx, ny, den, aggregation: Aggregation) -> tuple[float, float]:
    """Standard errors of delta and ratio from their influence functions over documents."""
    n = len(den)
    if n < 2:
        return math.nan, math.nan
    ax, ay = np.sum(nx) / np.sum(den), np.sum(ny) / np.sum(den)
    gx, gy = aggregation.g(ax), aggregation.g(ay)
    ix = aggregation.dg(ax) * (nx - ax * den) / np.mean(den)
    iy = aggregation.dg(ay) * (ny - ay * den) / np.mean(den)
    scale = 1 / math.sqrt(n * (n - 1))
    se_delta = float(np.sqrt(np.sum((ix - iy) ** 2)) * scale)
    if gy == 0:
        return se_delta, math.nan
    se_ratio = float(np.sqrt(np.sum(((ix - gx / gy * iy) / gy) ** 2)) * scale)
    return se_delta, se_ratio


def is_binary(aggregation: Aggregation, nx, ny, den) -> bool:
    return aggregation.name == "mean" and all(np.isin(a, (0.0, 1.0)).all() for a in (nx, ny))


def mcnemar_exact(x, y) -> float:
    """Two-sided exact McNemar p-value of paired 0/1 outcomes (binomial test of the discordant pairs)."""
    from scipy.stats import binomtest

    b = int(np.sum((x == 1) & (y == 0)))
    c = int(np.sum((x == 0) & (y == 1)))
    return 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)


def _batch(n: int) -> int:
    """Resamples per batch: scipy would otherwise hold every resample of every document at once."""
    return max(1, BATCH_ELEMENTS // n)


def _permutation_p(nx, ny, den, aggregation: Aggregation, settings: PairedSettings) -> float:
    from scipy.stats import permutation_test

    stat = _statistic(aggregation, den)
    result = permutation_test(
        (nx, ny),
        lambda a, b, axis=-1: stat(a, b, axis=axis)[0],
        permutation_type="samples",
        vectorized=True,
        n_resamples=settings.n_resamples,
        batch=_batch(len(den)),
        rng=np.random.default_rng(settings.seed),
    )
    return float(result.pvalue)


def paired_bootstrap(columns, statistic, settings: PairedSettings = DEFAULT_PAIRED):
    """scipy's paired bootstrap over documents of `statistic(*columns, axis)` (vectorised; may
    return several values), with the recorded settings: the result's confidence_interval and
    standard_error."""
    from scipy.stats import DegenerateDataWarning, bootstrap

    # a reference scoring 0 in some resamples makes a ratio unbounded there (x/0: the interval's
    # end is inf) or undefined (0/0: NaN); the value says so, not numpy's warnings inside scipy
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", DegenerateDataWarning)
        return bootstrap(
            tuple(columns),
            statistic,
            paired=True,
            vectorized=True,
            n_resamples=settings.n_resamples,
            confidence_level=settings.confidence,
            method=settings.method,
            batch=_batch(len(columns[0])),
            rng=np.random.default_rng(settings.seed),
        )


def _bootstrap_interval(nx, ny, den, aggregation, settings: PairedSettings):
    if len(den) < 2:
        return [math.nan] * 2, [math.nan] * 2
    stat = _statistic(aggregation, None)
    ci = paired_bootstrap((nx, ny, den), lambda a, b, d, axis=-1: stat(a, b, d, axis=axis), settings)
    return [float(v) for v in ci.confidence_interval.low], [float(v) for v in ci.confidence_interval.high]


def paired_statistics(
    pruned_values, unpruned_values, aggregation: str, settings: PairedSettings = DEFAULT_PAIRED
) -> dict:
    """The paired comparison of two lists of per-document values (same documents, same order).

    Raises:
        UserError: unknown aggregation, lists of different lengths, or documents whose weights
            (word, byte or instruction counts) differ: they are not the same documents.
    """
    if aggregation not in AGGREGATIONS:
        raise UserError(f"no paired statistic for lm-eval aggregation {aggregation!r}")
    agg = AGGREGATIONS[aggregation]
    if len(pruned_values) != len(unpruned_values) or not len(pruned_values):
        raise UserError(
            f"paired values need the same documents: {len(pruned_values)} against {len(unpruned_values)}"
        )
    nx, den = split_values(pruned_values, agg)
    ny, den_y = split_values(unpruned_values, agg)
    if not np.array_equal(den, den_y):
        raise UserError("paired documents differ in their word, byte or instruction counts")
    value, baseline = aggregate(nx, den, agg), aggregate(ny, den, agg)
    se_delta, se_ratio = _linearised_stderr(nx, ny, den, agg)
    low, high = _bootstrap_interval(nx, ny, den, agg, settings)
    binary = is_binary(agg, nx, ny, den)
    p = mcnemar_exact(nx, ny) if binary else _permutation_p(nx, ny, den, agg, settings)
    return {
        "n_paired": len(den),
        "value": value,
        "baseline_value": baseline,
        "delta": value - baseline,
        "delta_stderr": se_delta,
        "delta_ci_low": low[0],
        "delta_ci_high": high[0],
        "ratio": value / baseline if baseline else math.nan,
        "ratio_stderr": se_ratio,
        "ratio_ci_low": low[1],
        "ratio_ci_high": high[1],
        "p_value": p,
        "p_test": "mcnemar-exact" if binary else "paired-permutation",
    }


def adjust_p_values(p_values, method: str = DEFAULT_PAIRED.correction) -> list[float]:
    """Multiple-comparison adjusted p-values (NaN stays NaN and is no member of the family)."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, float)
    out = np.full_like(p, np.nan)
    known = ~np.isnan(p)
    if known.any():
        out[known] = false_discovery_control(p[known], method=method)
    return out.tolist()


def adjust_within_families(p_values, families, method: str = DEFAULT_PAIRED.correction) -> list[float]:
    """Adjusted p-values, each family (a hashable label per p-value) corrected on its own.

    A label of None keeps that p-value out of every family: its adjusted value is NaN.
    """
    p_values, families = list(p_values), list(families)
    out = [math.nan] * len(p_values)
    members: dict = {}
    for i, family in enumerate(families):
        if family is not None:
            members.setdefault(family, []).append(i)
    for idx in members.values():
        for i, adjusted in zip(idx, adjust_p_values([p_values[i] for i in idx], method), strict=True):
            out[i] = adjusted
    return out
