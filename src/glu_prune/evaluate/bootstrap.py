"""Where lm-eval's bootstraps run: in this process.

lm-eval bootstraps standard errors (perplexities; `bootstrap_missing_stderrs` too, through its
`bootstrap_stderr`) in a multiprocessing pool of fork()ed workers unless DISABLE_MULTIPROC is set.
Forking a process that runs threads (tqdm's monitor, sqlitedict's writer) can deadlock a worker,
and a Ctrl-C that reaches the workers left the pool hanging for over 30 s, printed worker
tracebacks, or orphaned workers that wait forever. Its single-process path draws the same seeded
resamples in the same order, so the standard errors are identical; it is slower only for large
bootstraps (lambada_openai's 5,153 documents at lm-eval's 100,000 iterations: ~55 s on one core).
"""

from __future__ import annotations

import contextlib
import os


@contextlib.contextmanager
def single_process_bootstrap():
    """Within the block, lm-eval bootstraps without a process pool."""
    previous = os.environ.get("DISABLE_MULTIPROC")
    os.environ["DISABLE_MULTIPROC"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("DISABLE_MULTIPROC", None)
        else:
            os.environ["DISABLE_MULTIPROC"] = previous
