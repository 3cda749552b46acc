"""Greedy generation for lm-eval's `generate_until`: batched, with the KV cache, and per-row stops.

lm-eval's HF back end calls `model.generate`, which keeps computing every row of a batch until all
of them have hit the same stop sequence. Here a row leaves the batch (and the cache) as soon as it
emits an end-of-sequence token or a stop string appears in its text, so long generations (IFEval)
do not pay for finished rows. The model is fed exactly what `generate` feeds it (left-padded
prompt, positions from the attention mask, the cache, the last position's logits), so at batch 1
the tokens are the same.
"""

from __future__ import annotations

# generation-config attributes that change greedy tokens, with the value that leaves them alone
NEUTRAL = {
    "num_beams": 1,
    "repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "bad_words_ids": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "min_length": 0,
    "min_new_tokens": None,
    "sequence_bias": None,
    "renormalize_logits": False,
}


def not_greedy(model, kwargs: dict) -> str | None:
    """Why these generation kwargs (as lm-eval normalised them, without until/max_gen_toks) or the
    model's generation config need more than plain greedy decoding (None: greedy is exact)."""
    if kwargs.get("do_sample") or kwargs.get("temperature") not in (None, 0, 0.0):
        return "sampling"
    extra = sorted(k for k in kwargs if k not in ("do_sample", "temperature"))
    if extra:
        return f"generation kwargs {', '.join(extra)}"
    config = getattr(model, "generation_config", None)
    for name, neutral in NEUTRAL.items():
        value = getattr(config, name, neutral)
        if value is not None and value != neutral:
            return f"generation config {name}={value!r}"
    return None


def eos_ids(model, tokenizer) -> set[int]:
    """The tokens `generate` stops a row at: the generation config's EOS ids (else the tokenizer's)."""
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if ids is None:
        ids = tokenizer.eos_token_id
    return set(ids if isinstance(ids, list | tuple) else [ids] if ids is not None else [])


class Stops:
    """Decides when a row is done: an EOS token, a stop string in its text, or the token limit.
    Only the last tokens are decoded: a stop string of n characters spans at most 4n tokens
    (byte-level tokens carry at least one byte each)."""

    def __init__(self, tokenizer, stops: list[str], eos: set[int], max_new: int):
        self.tokenizer, self.stops, self.eos, self.max_new = tokenizer, [s for s in stops if s], eos, max_new
        self.tail = 4 * max((len(s) for s in self.stops), default=0) + 8

    def done(self, generated: list[int]) -> bool:
        if len(generated) >= self.max_new or generated[-1] in self.eos:
            return True
        if not self.stops:
            return False
        text = self.tokenizer.decode(generated[-self.tail :], skip_special_tokens=False)
        return any(s in text for s in self.stops)


def _prefill(model, prompts: list[list[int]], pad_id: int):
    import torch
    from transformers import DynamicCache

    length = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), length), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, length - len(p) :] = torch.tensor(p)
        mask[i, length - len(p) :] = 1
    ids, mask = ids.to(model.device), mask.to(model.device)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    cache = DynamicCache(config=model.config)
    out = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions,
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    return out.logits[:, -1], cache, mask, positions[:, -1:] + 1


def generate_greedy(model, prompts: list[list[int]], stops: Stops, pad_id: int) -> list[list[int]]:
    """Greedy continuations of left-padded `prompts` (token ids), each ending at its own stop."""
    import torch

    generated: list[list[int]] = [[] for _ in prompts]
    with torch.no_grad():
        logits, cache, mask, positions = _prefill(model, prompts, pad_id)
        active = list(range(len(prompts)))
        while True:
            tokens = logits.float().argmax(dim=-1)
            keep = []
            for k, (row, token) in enumerate(zip(active, tokens.tolist(), strict=True)):
                generated[row].append(token)
                if not stops.done(generated[row]):
                    keep.append(k)
            if not keep:
                return generated
            if len(keep) < len(active):  # finished rows leave the batch and the cache
                index = torch.tensor(keep, device=mask.device)
                cache.batch_select_indices(index)
                mask, positions, tokens = mask[index], positions[index], tokens[index]
                active = [active[k] for k in keep]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            logits = model(
                input_ids=tokens[:, None],
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            ).logits[:, -1]
            positions = positions + 1
