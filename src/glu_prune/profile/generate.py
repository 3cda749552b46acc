"""Greedy generation of a fixed number of tokens with a timer mark at every step.

An explicit prefill + KV-cache decode loop rather than `model.generate()`:
- the boundary between prefill (+ first token) and decode is a timer mark in our own loop, so TTFT
  is measured on its own, not inferred from a whole `generate()` call;
- it always computes exactly `new_tokens` positions (it cannot stop at EOS, and needs no
  `min_new_tokens` logit suppression that would change what the model emits);
- it adds no per-step host synchronisation (generate's stopping criteria read a device flag every
  step), so on a GPU the timed work is the model's forward passes and an argmax;
- every decode step gets its own mark (CUDA events on a GPU), which keeps the raw per-token times.
Tokens after a row's first EOS are computed (fixed length) but never counted as output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Generation:
    tokens: torch.Tensor  # [batch, new_tokens] greedy ids, on the CPU
    ttft_ms: float  # prefill + first token
    step_ms: list[float] = field(default_factory=list)  # each later token (new_tokens - 1 of them)
    kv_cache_bytes: int = 0  # keys and values held at the end (all rows, padding included)

    @property
    def decode_ms(self) -> float:
        return sum(self.step_ms)

    @property
    def e2e_ms(self) -> float:
        return self.ttft_ms + self.decode_ms


@torch.inference_mode()
def generate_fixed(
    model, input_ids, attention_mask, new_tokens: int, clock, mark_steps: bool = True
) -> Generation:
    """Greedy decoding of exactly `new_tokens` tokens per row (left-padded batch).

    Position ids follow the attention mask, so a left-padded row generates what it would alone.
    With mark_steps=False only the TTFT boundary and the end are marked (the decode time is then
    one interval), which is how the profiler's own overhead is measured.
    """
    from transformers import DynamicCache

    if new_tokens < 1:
        raise ValueError("new_tokens must be at least 1")
    device = next(model.parameters()).device
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    batch, width = input_ids.shape
    mask = torch.cat([attention_mask, attention_mask.new_ones(batch, new_tokens)], dim=1)
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache(config=model.config)
    out = torch.empty(batch, new_tokens, dtype=torch.long, device=device)

    marks = [clock.mark()]
    logits = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=positions,
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    ).logits
    token = logits[:, -1].argmax(-1, keepdim=True)
    out[:, :1] = token
    marks.append(clock.mark())
    position = positions[:, -1:] + 1
    for step in range(1, new_tokens):
        logits = model(
            input_ids=token,
            attention_mask=mask[:, : width + step],
            position_ids=position,
            past_key_values=cache,
            use_cache=True,
        ).logits
        token = logits[:, -1].argmax(-1, keepdim=True)
        out[:, step : step + 1] = token
        position = position + 1
        if mark_steps:
            marks.append(clock.mark())
    if not mark_steps and new_tokens > 1:
        marks.append(clock.mark())
    intervals = clock.intervals_ms(marks)
    kv = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
    return Generation(tokens=out.cpu(), ttft_ms=intervals[0], step_ms=intervals[1:], kv_cache_bytes=kv)


def eos_ids(model, tokenizer=None) -> set[int]:
    """Every id that ends a reply: the generation config's (int or list), the config's, the tokenizer's."""
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config, tokenizer):
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids


def real_token_counts(tokens: torch.Tensor, eos: set[int]) -> list[int]:
    """Output tokens per row up to and including the first EOS; nothing after it counts."""
    counts = []
    for row in tokens.tolist():
        end = next((i for i, t in enumerate(row) if t in eos), None)
        counts.append(len(row) if end is None else end + 1)
    return counts
