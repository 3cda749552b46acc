"""lm-eval's bootstraps run in this process (no fork()ed pool that a Ctrl-C can hang) and give the
very standard errors its process pool gives."""

from __future__ import annotations

import os
import random

from glu_prune.evaluate.bootstrap import single_process_bootstrap


def test_single_process_bootstrap_gives_the_pools_standard_errors(monkeypatch):
    from lm_eval.api.metrics import bootstrap_stderr, weighted_perplexity

    rng = random.Random(0)
    items = [(-rng.uniform(5, 50), rng.randint(5, 40)) for _ in range(12)]  # (loglikelihood, words)
    monkeypatch.delenv("DISABLE_MULTIPROC", raising=False)
    pooled = bootstrap_stderr(weighted_perplexity, items, 3000)
    with single_process_bootstrap():
        assert os.environ["DISABLE_MULTIPROC"] == "1"
        alone = bootstrap_stderr(weighted_perplexity, items, 3000)
    assert "DISABLE_MULTIPROC" not in os.environ  # restored
    assert alone == pooled and alone > 0
