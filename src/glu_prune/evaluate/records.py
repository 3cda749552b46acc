"""Evaluation records: lm-eval's output as floats with stderr, one record per task run, and the
tidy rows (one per model x method x level x divisor x task x subtask x metric x filter)."""

from __future__ import annotations

from ..models import PRUNING_JSON
from ..prune import METRIC_COLUMNS, TABLE_COLUMNS, table_columns
from ..store import NUMBER, identity_key, shape_problem
from .backend import run_info
from .harness import as_float
from .pairing import PAIRED_COLUMNS

KIND = "lm-eval"

LM_EVAL_KEYS = (
    "versions",
    "n-shot",
    "n-samples",
    "higher_is_better",
    "group_subtasks",
    "configs",
    "stderr_source",
)

CSV_COLUMNS = (
    *TABLE_COLUMNS,
    *METRIC_COLUMNS,
    "num_fewshot",
    "limit",
    "limit_per_subtask",
    "sample_seed",  # empty: the split's first documents (or all of them)
    "chat_template",
    "data_source",
    "checkpoint",
    *PAIRED_COLUMNS,  # against the unpruned run of the same settings (pairing.py; empty for it)
)


# what a finished checkpoint's result must hold for the tables and reports to read it
RESULT_SHAPE = {
    "model": str,
    "task": str,
    "checkpoint": str,
    "limit": (int, type(None)),
    "limit_per_subtask": (int, type(None)),
    "chat_template": bool,
    "data_source": str,
    "pruning": dict,
    "metrics": list,
    "run": dict,
    "identity": dict,
}
PRUNING_SHAPE = {k: v for k, v in PRUNING_JSON.items() if k != "model"}  # a result names its model
# a value or stderr is a number, None, or the string JSON keeps a non-finite float as ("inf")
METRIC_SHAPE = {
    "subtask": str,
    "metric": str,
    "filter": str,
    "value": (*NUMBER, str, type(None)),
    "stderr": (*NUMBER, str, type(None)),
}


def checkpoint_problem(record: dict) -> str | None:
    """What keeps an evaluation checkpoint from being read back (None: nothing); a failed one
    needs only its identity, which the store has checked."""
    if record["status"] != "done":
        return None
    result = record.get("result")
    problem = shape_problem(result, RESULT_SHAPE)
    if problem is None:
        problem = shape_problem(result["pruning"], PRUNING_SHAPE, "pruning record")
    for metric in result["metrics"] if problem is None else ():
        problem = problem or shape_problem(metric, METRIC_SHAPE, "metric")
    if problem is None and result["identity"] != record["identity"]:
        problem = "its result belongs to another identity"
    return problem


def tidy_metrics(raw: dict) -> list[dict]:
    """Every metric lm-eval returned, for the task and each subtask, as floats with stderr."""
    n_samples = {k: v.get("effective") for k, v in raw.get("n-samples", {}).items()}
    subtasks = raw.get("group_subtasks", {})

    def samples(name):
        if name in n_samples:
            return n_samples[name]
        parts = [samples(c) for c in subtasks.get(name, [])]
        return sum(parts) if parts and None not in parts else None

    def common(name, lookup):
        """A group's value: its own, else the one value all its subtasks share (else None)."""
        if (own := lookup(name)) is not None or name not in subtasks:
            return own
        values = {common(c, lookup) for c in subtasks[name]}
        return values.pop() if len(values) == 1 else None

    rows = []
    for name, entry in raw["results"].items():
        for key, value in entry.items():
            if "," not in key or "_stderr," in key:
                continue
            metric, filt = key.split(",", 1)
            stderr = as_float(entry.get(f"{metric}_stderr,{filt}"))
            source = raw.get("stderr_source", {}).get(f"{name}/{key}") or (
                "lm-eval" if stderr is not None else None
            )
            rows.append(
                {
                    "subtask": name,
                    "metric": metric,
                    "filter": filt,
                    "value": as_float(value),
                    "stderr": stderr,
                    "stderr_source": source,
                    "higher_is_better": common(
                        name, lambda n, m=metric: raw.get("higher_is_better", {}).get(n, {}).get(m)
                    ),
                    "n_samples": samples(name),
                    "num_fewshot": common(name, lambda n: raw.get("n-shot", {}).get(n)),
                }
            )
    return rows


def result_record(
    identity, pruning, raw, settings, lm, timing, prov, spec=None, counted=None, documents=None
) -> dict:
    """Everything about one task run of one model: its numbers, how it ran, and where. `counted`:
    the back end's counts when the task started (they accumulate over the tasks of one model)."""
    import torch

    config = {k: v for k, v in raw.get("config", {}).items() if k not in ("model", "model_args")}
    return {
        "model": pruning.get("model", identity["model"]),
        **{
            k: identity[k]
            for k in (
                "task",
                "num_fewshot",
                "limit",
                "limit_per_subtask",
                "chat_template",
                "fewshot_as_multiturn",
                "data_source",
            )
        },
        "sample_seed": identity.get("sample_seed"),
        "checkpoint": identity_key(identity),
        "pruning": pruning,
        "metrics": tidy_metrics(raw),
        "run": {
            **timing,  # wall time of this task; a shared machine's load average is beside it
            "torch_threads": torch.get_num_threads(),
            "dtype": str(lm.model.dtype).removeprefix("torch."),
            **({"dtype_reason": spec.dtype_reason} if spec is not None else {}),
            "batch_size": lm.batch_size,
            "batch_size_asked": settings.batch_size,  # None: the back end's default for the device
            "batch_sizes_used": config.get("batch_sizes"),
            **run_info(lm, counted),
            "max_length_used": lm.max_length,
            "device": str(lm.device),
        },
        "lm_eval": {k: raw.get(k) for k in LM_EVAL_KEYS} | {"config": config},
        "documents": documents,  # the per-document file beside the checkpoint (documents.py)
        "identity": identity,
        "provenance": prov,
    }


def tidy_rows(result: dict) -> list[dict]:
    head = {**table_columns(result["model"], result["pruning"]), "task": result["task"]}
    keys = ("limit", "limit_per_subtask", "sample_seed", "chat_template", "data_source", "checkpoint")
    tail = {k: result.get(k) for k in keys}  # results from before drawn samples have no sample_seed
    return [{**head, **m, **tail} for m in result["metrics"]]
