"""The lm-eval side of a task run: the model wrapper, one `simple_evaluate` call per task, and
bootstrapped standard errors where lm-eval gives none."""

from __future__ import annotations

import logging
from pathlib import Path

from ..tasks import task_manager
from .backend import STOCK, backend_class, default_batch_size
from .identity import FEWSHOT_SEED
from .sampling import draw_samples
from .settings import EvalSettings
from .suites import TaskSpec


def make_lm(model, tokenizer, settings: EvalSettings):
    """The lm-eval back end of `settings.backend` around an already-loaded (pruned) model: this
    package's shared-context one ("glu-prune"), or lm-eval's own HF back end ("hf")."""
    from lm_eval.models.huggingface import HFLM

    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    logging.getLogger("lm_eval.models.huggingface").setLevel(logging.ERROR)  # "pretrained is not a str"
    common = {
        "pretrained": model,
        "tokenizer": tokenizer,
        "batch_size": settings.batch_size or default_batch_size(settings.backend, model.device.type),
        "max_batch_size": settings.max_batch_size,
        "max_length": settings.max_length,
    }
    if settings.backend == STOCK:
        return HFLM(**common)
    return backend_class()(**common, max_batch_tokens=settings.max_batch_tokens)


def evaluate_task(lm, task: TaskSpec, identity: dict, cache: str, settings: EvalSettings) -> dict:
    """One lm-eval call for one task, with its own few-shot count (checked against lm-eval's record);
    lm-eval's output including its logged samples (raw["samples"]). With a sample seed the limit's
    documents are drawn at random (sampling.py); lm-eval logs them under their indices in the split."""
    import lm_eval

    Path(cache).parent.mkdir(parents=True, exist_ok=True)
    limit, seed = identity["limit_per_subtask"], identity.get("sample_seed")
    samples = None if seed is None else draw_samples(task.name, limit, seed, settings.offline)
    raw = lm_eval.simple_evaluate(
        model=lm,
        tasks=[task.name],
        num_fewshot=task.num_fewshot,
        limit=None if samples else limit,
        samples=samples,
        use_cache=cache,
        bootstrap_iters=settings.bootstrap_iters,
        log_samples=True,  # per-document metric values: bootstrap stderrs, paired statistics
        apply_chat_template=identity["chat_template"],
        fewshot_as_multiturn=identity["fewshot_as_multiturn"],
        task_manager=task_manager(settings.offline),
        fewshot_random_seed=FEWSHOT_SEED,
    )
    shots = {name: n for name, n in raw["n-shot"].items() if name in raw["configs"]}
    wrong = {name: n for name, n in shots.items() if n != task.num_fewshot}
    if not shots or wrong:  # lm-eval keeps a task's YAML value of 0 even when asked for more
        raise RuntimeError(f"{task.name}: asked for {task.num_fewshot}-shot, lm-eval ran {wrong or shots}")
    bootstrap_missing_stderrs(raw, settings.bootstrap_iters)
    return raw  # with lm-eval's logged samples: the caller keeps their per-document values


def as_float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None  # lm-eval writes "N/A" where it has no stderr


def bootstrap_missing_stderrs(raw: dict, iters: int) -> None:
    """lm-eval gives no stderr for some aggregations (weighted perplexity, bits per byte): bootstrap
    them over documents with lm-eval's own seeded bootstrap_stderr, and say so in raw["stderr_source"]."""
    from lm_eval.api.metrics import bootstrap_stderr
    from lm_eval.api.registry import get_aggregation

    sources = raw.setdefault("stderr_source", {})
    for task, samples in raw.get("samples", {}).items():
        entry = raw["results"].get(task, {})
        metric_list = raw["configs"].get(task, {}).get("metric_list", [])
        aggregation = {m["metric"]: m.get("aggregation") for m in metric_list}
        for key in [k for k in entry if "," in k and "_stderr," not in k]:
            metric, filt = key.split(",", 1)
            stderr_key = f"{metric}_stderr,{filt}"
            if as_float(entry.get(stderr_key)) is not None:
                continue
            name = aggregation.get(metric)
            fn = (
                get_aggregation(name) if isinstance(name, str) and name.isidentifier() else None
            )  # not !function
            items = [s[metric] for s in samples if s.get("filter") == filt and metric in s]
            if fn is None or len(items) < 2 or iters < 1:
                continue  # no named aggregation to resample (e.g. IFEval's instruction-level mean)
            entry[stderr_key] = bootstrap_stderr(fn, items, iters)
            sources[f"{task}/{key}"] = "bootstrap"
