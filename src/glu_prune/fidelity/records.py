"""Fidelity numbers from per-window sums, the run record, and its rows in the tidy table.

Per configuration: kl_mean (nats per scored token), kl_median and kl_p99 over scored tokens,
top1_agreement (share of scored tokens whose argmax agrees), ppl_unpruned, ppl_pruned (token
perplexities of the same tokens) and ppl_ratio (pruned / unpruned). Token-weighted means over
windows, each with a bootstrap standard error over windows (`scipy.stats.bootstrap`, seeded);
the median and 99th percentile have none.
"""

from __future__ import annotations

import numpy as np

from ..prune import METRIC_COLUMNS, TABLE_COLUMNS, table_columns
from ..store import NUMBER, identity_key, shape_problem

TASK = "fidelity"  # the tidy table's task name of these rows
KIND = TASK  # the identity kind of its checkpoints
MEANS = ("kl_mean", "top1_agreement", "ppl_unpruned", "ppl_pruned", "ppl_ratio")
HIGHER_IS_BETTER = {
    "kl_mean": False,
    "kl_median": False,
    "kl_p99": False,
    "top1_agreement": True,
    "ppl_unpruned": False,
    "ppl_pruned": False,
    "ppl_ratio": False,
}
SUMS = ("tokens", "kl", "agree", "nll_unpruned", "nll_pruned")
FIDELITY_COLUMNS = (
    *TABLE_COLUMNS,
    *METRIC_COLUMNS,
    "text",
    "window",
    "dtype",
    "limit",
    "data_source",
    "checkpoint",
)


def _means(tokens, kl, agree, nll_unpruned, nll_pruned, axis=-1):
    n = np.sum(tokens, axis=axis)
    ppl_u = np.exp(np.sum(nll_unpruned, axis=axis) / n)
    ppl_p = np.exp(np.sum(nll_pruned, axis=axis) / n)
    return np.stack([np.sum(kl, axis=axis) / n, np.sum(agree, axis=axis) / n, ppl_u, ppl_p, ppl_p / ppl_u])


def fidelity_metrics(per_window: dict, kl_tokens, iters: int, seed: int) -> list[dict]:
    """The tidy metric entries of one configuration (value, stderr, direction, scored tokens)."""
    from scipy.stats import bootstrap

    data = [np.asarray(per_window[k], float) for k in SUMS]
    values = _means(*data)
    stderr = [None] * len(MEANS)
    if len(data[0]) >= 2:  # one window: no spread to resample, the error is unknown
        boot = bootstrap(
            data,
            _means,
            paired=True,
            vectorized=True,
            n_resamples=iters,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        stderr = [float(s) for s in boot.standard_error]
    found = dict(zip(MEANS, zip(values, stderr, strict=True), strict=True))
    found["kl_median"] = (np.median(kl_tokens), None)
    found["kl_p99"] = (np.quantile(kl_tokens, 0.99), None)
    tokens = int(data[0].sum())
    return [
        {
            "subtask": TASK,
            "metric": name,
            "filter": "none",
            "value": float(found[name][0]),
            "stderr": found[name][1],
            "stderr_source": "bootstrap over windows" if found[name][1] is not None else None,
            "higher_is_better": HIGHER_IS_BETTER[name],
            "n_samples": tokens,
        }
        for name in HIGHER_IS_BETTER
    ]


# what a finished checkpoint's result must hold for the tables to read it
RESULT_SHAPE = {
    "model": str,
    "text": str,
    "data_source": str,
    "dtype": str,
    "window": int,
    "max_windows": (int, type(None)),
    "checkpoint": str,
    "pruning": dict,
    "metrics": list,
    "run": dict,
    "identity": dict,
}
METRIC_SHAPE = {"metric": str, "value": (*NUMBER, str, type(None)), "stderr": (*NUMBER, str, type(None))}


def checkpoint_problem(record: dict) -> str | None:
    """What keeps a fidelity checkpoint from being read back (None: nothing)."""
    if record["status"] != "done":
        return None
    result = record.get("result")
    problem = shape_problem(result, RESULT_SHAPE)
    for metric in result["metrics"] if problem is None else ():
        problem = problem or shape_problem(metric, METRIC_SHAPE, "metric")
    if problem is None and result["identity"] != record["identity"]:
        problem = "its result belongs to another identity"
    return problem


def fidelity_record(identity, pruning, text, measured, windows, start, settings, timing, prov) -> dict:
    per_window = measured["per_window"]
    return {
        "model": pruning.get("model", identity["model"]),
        "task": TASK,
        "text": text.label,
        "data_source": text.source,
        "text_sha256": text.sha256,
        "dtype": identity["dtype"],
        "window": settings.window,
        "max_windows": settings.max_windows,
        "start_token": start,
        "windows": len(windows),
        "tokens": int(per_window["tokens"].sum()),
        "checkpoint": identity_key(identity),
        "pruning": pruning,
        "metrics": fidelity_metrics(
            per_window, measured["kl_tokens"], settings.bootstrap_iters, settings.seed
        ),
        "per_window": {k: per_window[k].tolist() for k in SUMS},  # every mean can be recomputed
        "run": timing,
        "identity": identity,
        "provenance": prov,
    }


def fidelity_rows(result: dict) -> list[dict]:
    head = {**table_columns(result["model"], result["pruning"]), "task": TASK}
    tail = {
        "text": result["text"],
        "window": result["window"],
        "dtype": result["dtype"],
        "limit": result["max_windows"],
        "data_source": result["data_source"],
        "checkpoint": result["checkpoint"],
    }
    return [{**head, **m, **tail} for m in result["metrics"]]


def summary(result: dict) -> dict:
    """What `glu-prune fidelity --json` prints per configuration."""
    p = result["pruning"]
    keep = ("model", "text", "dtype", "window", "windows", "tokens", "checkpoint")
    return {
        **{k: result[k] for k in keep},
        "method": p["method"],
        "pruning_pct": p["pruning_pct"],
        "expansion_ratio": p["expansion_ratio"],
        "metrics": {m["metric"]: {"value": m["value"], "stderr": m["stderr"]} for m in result["metrics"]},
    }
