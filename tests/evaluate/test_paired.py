"""Paired statistics on constructed per-document values with answers known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from glu_prune.errors import UserError
from glu_prune.evaluate.paired import (
    PairedSettings,
    adjust_p_values,
    adjust_within_families,
    mcnemar_exact,
    paired_statistics,
)

FAST = PairedSettings(n_resamples=2000)


def binary_pair(b: int, c: int, same_ones: int, same_zeros: int):
    """Pruned and unpruned 0/1 outcomes with b (1, 0) and c (0, 1) discordant documents."""
    x = [1] * b + [0] * c + [1] * same_ones + [0] * same_zeros
    y = [0] * b + [1] * c + [1] * same_ones + [0] * same_zeros
    return x, y


def test_identical_models_give_delta_0_and_p_1():
    x, _ = binary_pair(0, 0, 30, 20)
    s = paired_statistics(x, x, "mean", FAST)
    assert s["delta"] == 0 and s["delta_stderr"] == 0 and (s["delta_ci_low"], s["delta_ci_high"]) == (0, 0)
    assert s["ratio"] == 1 and (s["ratio_ci_low"], s["ratio_ci_high"]) == (1, 1) and s["ratio_stderr"] == 0
    assert s["p_value"] == 1 and s["p_test"] == "mcnemar-exact" and s["n_paired"] == 50
    ppl = [[-100.0 - i, 20 + i] for i in range(12)]
    s = paired_statistics(ppl, ppl, "weighted_perplexity", FAST)
    assert s["delta"] == 0 and s["p_value"] == 1 and s["p_test"] == "paired-permutation"
    assert (s["delta_ci_low"], s["delta_ci_high"]) == (0, 0)


def test_textbook_mcnemar_exact():
    """10 documents only the pruned model gets right, 2 only the unpruned one: the exact two-sided
    p is 2 * P(Binomial(12, 1/2) <= 2) = 2 * (1 + 12 + 66) / 4096."""
    x, y = binary_pair(10, 2, 40, 48)
    want = 2 * sum(math.comb(12, k) for k in range(3)) / 2**12
    assert want == pytest.approx(0.0386, abs=1e-4)
    assert mcnemar_exact(np.array(x), np.array(y)) == pytest.approx(want, rel=1e-12)
    s = paired_statistics(x, y, "mean", FAST)
    assert s["p_value"] == pytest.approx(want, rel=1e-12) and s["p_test"] == "mcnemar-exact"
    # concordant documents change nothing; symmetric in the direction of the change
    assert paired_statistics(*binary_pair(2, 10, 0, 5), "mean", FAST)["p_value"] == pytest.approx(want)


def test_mean_difference_stderr_and_interval_by_hand():
    x, y = binary_pair(6, 30, 120, 44)  # 200 documents, the pruned model 12 points worse
    s = paired_statistics(x, y, "mean", PairedSettings())
    d = np.array(x, float) - np.array(y, float)
    assert s["delta"] == pytest.approx(-0.12) and s["value"] == pytest.approx(0.63)
    assert s["delta_stderr"] == pytest.approx(d.std(ddof=1) / math.sqrt(200), rel=1e-12)
    assert s["ratio"] == pytest.approx(0.63 / 0.75)
    # the paired interval is about delta +- 1.96 se at this size, and far tighter than the unpaired one
    half = (s["delta_ci_high"] - s["delta_ci_low"]) / 2
    assert half == pytest.approx(1.96 * s["delta_stderr"], rel=0.15)
    unpaired = math.hypot(*(np.std(v, ddof=1) / math.sqrt(200) for v in (x, y)))
    assert s["delta_stderr"] < 0.7 * unpaired
    assert s["p_value"] == pytest.approx(2 * sum(math.comb(36, k) for k in range(7)) / 2**36)


def jackknife_se(fn, n):
    values = np.array([fn(np.delete(np.arange(n), i)) for i in range(n)])
    return math.sqrt((n - 1) / n * np.sum((values - values.mean()) ** 2))


def test_perplexity_is_paired_through_loglikelihoods_and_counts():
    rng = np.random.default_rng(1)
    words = rng.integers(40, 160, 60)
    ll_base = -words * rng.uniform(2.0, 3.5, 60)
    ll_pruned = ll_base - words * rng.uniform(0.05, 0.4, 60)
    pruned = [[a, int(w)] for a, w in zip(ll_pruned, words, strict=True)]
    base = [[a, int(w)] for a, w in zip(ll_base, words, strict=True)]
    s = paired_statistics(pruned, base, "weighted_perplexity", FAST)
    ppl = lambda ll, idx: math.exp(-ll[idx].sum() / words[idx].sum())  # noqa: E731
    everything = np.arange(60)
    assert s["value"] == pytest.approx(ppl(ll_pruned, everything))
    assert s["baseline_value"] == pytest.approx(ppl(ll_base, everything))
    assert s["ratio"] == pytest.approx(math.exp(-(ll_pruned.sum() - ll_base.sum()) / words.sum()))
    # linearised standard errors agree with a jackknife over documents
    ratio = lambda idx: ppl(ll_pruned, idx) / ppl(ll_base, idx)  # noqa: E731
    delta = lambda idx: ppl(ll_pruned, idx) - ppl(ll_base, idx)  # noqa: E731
    assert s["ratio_stderr"] == pytest.approx(jackknife_se(ratio, 60), rel=0.05)
    assert s["delta_stderr"] == pytest.approx(jackknife_se(delta, 60), rel=0.05)
    assert s["ratio_ci_low"] > 1 and s["p_value"] < 0.01 and s["p_test"] == "paired-permutation"
    # bits per byte: -sum ll / sum bytes / ln 2
    bpb = paired_statistics(pruned, base, "bits_per_byte", FAST)
    assert bpb["value"] == pytest.approx(-ll_pruned.sum() / words.sum() / math.log(2))


def test_instruction_level_accuracy_pools_instructions():
    pruned, base = [[1, 0, 1], [0], [1, 1]], [[1, 1, 1], [0], [1, 0]]
    s = paired_statistics(pruned, base, "agg_inst_level_acc", FAST)
    assert s["value"] == pytest.approx(4 / 6) and s["delta"] == pytest.approx(0.0)


def test_mismatched_documents_and_unknown_aggregations_raise():
    with pytest.raises(UserError, match="same documents"):
        paired_statistics([1, 0, 1], [1, 0], "mean")
    with pytest.raises(UserError, match="word, byte or instruction counts"):
        paired_statistics([[-10.0, 5], [-12.0, 6]], [[-10.0, 5], [-12.0, 7]], "weighted_perplexity")
    with pytest.raises(UserError, match="no paired statistic"):
        paired_statistics([1.0], [1.0], "f1")


def test_benjamini_hochberg_by_hand():
    # sorted 0.01, 0.03, 0.04, 0.5 (m = 4): p * m / rank = 0.04, 0.06, 0.0533, 0.5, then monotone from the top
    got = adjust_p_values([0.01, 0.04, math.nan, 0.03, 0.5])
    assert got[0] == pytest.approx(0.04) and got[1] == pytest.approx(0.16 / 3) and math.isnan(got[2])
    assert got[3] == pytest.approx(0.16 / 3) and got[4] == pytest.approx(0.5)


def test_each_family_is_adjusted_on_its_own():
    # family "a" is the hand-worked family above; "b" alone (m = 1) keeps its p; None is in no family
    p = [0.01, 0.2, 0.04, math.nan, 0.03, 0.5, 0.01]
    families = ["a", "b", "a", "a", "a", "a", None]
    got = adjust_within_families(p, families)
    assert got[0] == pytest.approx(0.04) and got[2] == pytest.approx(0.16 / 3)
    assert got[5] == pytest.approx(0.5)
    assert got[1] == pytest.approx(0.2) and math.isnan(got[3]) and math.isnan(got[6])


def test_a_ratio_to_a_reference_that_can_score_0_is_unbounded_without_warnings(recwarn):
    x, y = binary_pair(180, 3, 0, 817)  # 180 and 3 of 1,000 right: some resamples divide by 0
    s = paired_statistics(x, y, "mean", FAST)
    assert s["delta"] == pytest.approx(0.177) and s["delta_ci_low"] > 0 and s["ratio"] == pytest.approx(60)
    assert s["ratio_ci_low"] > 10 and s["ratio_ci_high"] == math.inf  # no upper bound: said by inf
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
