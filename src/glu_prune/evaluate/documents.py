"""Per-document values of a task run, kept so that any statistic can be recomputed from files.

lm-eval's logged samples are reduced to what a statistic needs and stored as gzipped JSON lines
next to the run's checkpoint (`<checkpoint>.documents.jsonl.gz`); consolidation copies them into
the results folder. One line per (task, document, filter), sorted by task, filter and doc_id:

- `task`: lm-eval's name of the task the document belongs to (for a group such as mmlu: the
  subtask, e.g. `mmlu_anatomy`);
- `doc_id`: the document's index in that task's split (a limit runs the first `limit`, a drawn
  sample the indices sampling.py draws, under their own indices);
- `filter`: lm-eval's filter (`none`, `strict-match`, `flexible-extract`, ...);
- `doc_hash`, `prompt_hash`: the first 16 hex digits of lm-eval's sha256 of the document and of
  its first request's context (the prompt as the model saw it: few-shot examples, chat template);
- `values`: every per-document metric value lm-eval computed, as lm-eval aggregates it: a number
  for mean-aggregated metrics (acc and acc_norm 0/1, exact_match, IFEval's prompt level); the
  target's log-likelihood in nats for `perplexity` (LAMBADA: exp(-mean)); `[log-likelihood in
  nats, word or byte count]` for `word_perplexity`, `byte_perplexity` and `bits_per_byte`
  (exp(-sum ll / sum count), -sum ll / sum count / ln 2); a list of 0/1 per instruction for
  IFEval's instruction-level metrics (sum / count over all instructions).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
from pathlib import Path

from ..store import atomic_write_bytes, to_jsonable

HASH_DIGITS = 16  # 64 bits: enough to tell two prompts apart, a third of the file size of the full hash
SUFFIX = ".documents.jsonl.gz"


def plain(value):
    """lm-eval's per-document value as JSON: bools as 0/1, tuples as lists, numpy as Python."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool):
        return int(value)
    return to_jsonable(value)


def document_hash(doc: dict) -> str:
    """lm-eval's hash of a document (as its evaluator logs it), cut to the stored digits: matches a
    row to the document in the task's data."""
    from lm_eval.utils import handle_non_serializable, hash_string

    text = json.dumps(doc, indent=2, default=handle_non_serializable, ensure_ascii=False)
    return hash_string(text)[:HASH_DIGITS]


def document_rows(samples: dict) -> list[dict]:
    """lm-eval's logged samples ({task: [sample, ...]}) as the documented rows."""
    rows = [
        {
            "task": task,
            "doc_id": int(s["doc_id"]),
            "filter": s["filter"],
            "doc_hash": s["doc_hash"][:HASH_DIGITS],
            "prompt_hash": s["prompt_hash"][:HASH_DIGITS],
            "values": {m: plain(s[m]) for m in s["metrics"] if m in s},
        }
        for task, task_samples in samples.items()
        for s in task_samples
    ]
    return sorted(rows, key=lambda r: (r["task"], r["filter"], r["doc_id"]))


def aggregation_name(metric: str, aggregation) -> str:
    """lm-eval's aggregation by name: a registry name as is; a `!function` (which lm-eval's config
    dump holds as its source, "def agg_inst_level_acc(items): ...") by its function name; none
    given: lm-eval's default for the metric, as lm-eval itself applies it."""
    if aggregation is None:
        from lm_eval.api.registry import get_metric_aggregation

        aggregation = get_metric_aggregation(metric)
    if callable(aggregation):
        return aggregation.__name__
    text = str(aggregation)
    found = re.match(r"\s*def\s+(\w+)\s*\(", text)
    return found.group(1) if found else text


def aggregations(raw: dict) -> dict[str, dict[str, str]]:
    """{task: {metric: aggregation name}} from lm-eval's task configs."""
    return {
        task: {
            m["metric"]: aggregation_name(m["metric"], m.get("aggregation"))
            for m in config.get("metric_list", [])
            if isinstance(m.get("metric"), str)
        }
        for task, config in raw.get("configs", {}).items()
    }


def documents_path(checkpoint: Path) -> Path:
    """Where a checkpoint's per-document values live: beside it, under the same name."""
    return checkpoint.with_name(checkpoint.name.removesuffix(".json") + SUFFIX)


def encode(rows: list[dict]) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:  # mtime 0: same rows, same bytes
        for row in rows:
            gz.write(json.dumps(row, separators=(",", ":"), sort_keys=False).encode() + b"\n")
    return buf.getvalue()


def write_documents(path: Path, rows: list[dict], aggregation: dict) -> dict:
    """Write rows atomically; the record's `documents` entry (file name, sha256, rows, aggregations)."""
    data = encode(rows)
    atomic_write_bytes(path, data)
    return {
        "file": path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "rows": len(rows),
        "aggregation": aggregation,
    }


def read_documents(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def documents_problem(path: Path, info: dict | None) -> str | None:
    """Why the per-document file of a checkpoint cannot be used (None: it can)."""
    if not info:
        return "its record names no per-document file (written by an earlier runner)"
    if not path.is_file():
        return f"its per-document file {path.name} is missing"
    if hashlib.sha256(path.read_bytes()).hexdigest() != info.get("sha256"):
        return f"its per-document file {path.name} does not match the sha256 in its record"
    return None
