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

Two decoders: `dynamic` (transformers' DynamicCache, one eager forward per step: what a plain
`generate()` does) and `static` (a preallocated cache and inputs at fixed addresses; on a GPU the
step is captured once as a CUDA graph and replayed, as serving engines do, so a small model's decode
is no longer bound by launching each kernel from Python).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

DECODES = ("dynamic", "static")


@dataclass
class Generation:
    tokens: torch.Tensor  # [batch, new_tokens] greedy ids, on the CPU
    ttft_ms: float  # prefill + first token
    step_ms: list[float] = field(default_factory=list)  # each later token (new_tokens - 1 of them)
    kv_cache_bytes: int = 0  # keys and values held at the end (all rows, padding included), as allocated

    @property
    def decode_ms(self) -> float:
        return sum(self.step_ms)

    @property
    def e2e_ms(self) -> float:
        return self.ttft_ms + self.decode_ms


def _next(logits) -> torch.Tensor:
    return logits[:, -1].argmax(-1, keepdim=True)


def _kv_bytes(cache) -> int:
    layers = [layer for layer in cache.layers if getattr(layer, "keys", None) is not None]
    return sum(t.numel() * t.element_size() for layer in layers for t in (layer.keys, layer.values))


class DynamicDecoder:
    """transformers' DynamicCache, grown each step; one eager forward per token."""

    def __init__(self, model):
        self.model = model

    def start(self, attention_mask, new_tokens: int) -> None:
        from transformers import DynamicCache

        batch, self.width = attention_mask.shape
        self.mask = torch.cat([attention_mask, attention_mask.new_ones(batch, new_tokens)], dim=1)
        self.cache, self.steps = DynamicCache(config=self.model.config), 0

    def prefill(self, input_ids, positions) -> torch.Tensor:
        self.token = _next(self._forward(input_ids, self.mask[:, : self.width], positions, logits_to_keep=1))
        self.position = positions[:, -1:] + 1
        return self.token

    def step(self) -> torch.Tensor:
        self.steps += 1
        self.token = _next(self._forward(self.token, self.mask[:, : self.width + self.steps], self.position))
        self.position = self.position + 1
        return self.token

    def _forward(self, ids, mask, positions, **kw):
        return self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=self.cache,
            use_cache=True,
            **kw,
        ).logits

    def kv_bytes(self) -> int:
        return _kv_bytes(self.cache)


def static_decode_problem(model_config) -> str | None:
    """Why `static` decoding cannot serve this model (None: it can). A sliding-window layer of a
    static cache keeps its fill level in a Python int, which a replayed CUDA graph would not update."""
    from transformers import StaticCache

    layers = StaticCache(config=model_config, max_cache_len=1).layers  # allocates nothing yet
    if any(getattr(layer, "is_sliding", False) for layer in layers):
        return "--decode static needs a model without sliding-window attention layers (this one has some)"
    return None


class StaticDecoder(DynamicDecoder):
    """A preallocated KV cache of `max_len` positions and decode inputs at fixed addresses, reused by
    every call of one measurement (same batch size, prompts up to `max_len - new_tokens` tokens).

    On a GPU the first decode step of the first call runs for real on a side stream (the warm-up
    CUDA graphs need), then the same step is captured (capture executes nothing) and replayed for
    every later step; on a CPU the same step runs eagerly. The padding mask covers all `max_len`
    positions from the start: causality hides the positions not yet written."""

    def __init__(self, model, batch: int, max_len: int):
        from transformers import StaticCache

        super().__init__(model)
        device = next(model.parameters()).device
        self.max_len = max_len
        self.cache = StaticCache(config=model.config, max_cache_len=max_len)
        self.mask = torch.zeros(batch, max_len, dtype=torch.long, device=device)
        self.token = torch.zeros(batch, 1, dtype=torch.long, device=device)
        self.position = torch.zeros(batch, 1, dtype=torch.long, device=device)
        self.cuda_graph = device.type == "cuda"
        self.graph = self.graph_token = None

    def start(self, attention_mask, new_tokens: int) -> None:
        batch, width = attention_mask.shape
        if batch != self.mask.shape[0] or width + new_tokens > self.max_len:
            raise ValueError(
                f"a static decoder for {self.mask.shape[0]} rows of up to {self.max_len} positions "
                f"got {batch} rows of {width} + {new_tokens}"
            )
        self.cache.reset()  # in place: the captured graph keeps reading the same tensors
        self.mask.zero_()
        self.mask[:, :width] = attention_mask
        self.mask[:, width : width + new_tokens] = 1

    def prefill(self, input_ids, positions) -> torch.Tensor:
        self.token.copy_(_next(self._forward(input_ids, self.mask, positions, logits_to_keep=1)))
        self.position.copy_(positions[:, -1:] + 1)
        return self.token

    def step(self) -> torch.Tensor:
        if self.graph is not None:
            self.graph.replay()
            token = self.graph_token
        elif self.cuda_graph:
            token = self._run_then_capture()
        else:
            token = self._step()
        self.token.copy_(token)
        self.position.add_(1)
        return self.token

    def _step(self) -> torch.Tensor:
        return _next(self._forward(self.token, self.mask, self.position))

    def _run_then_capture(self) -> torch.Tensor:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            token = self._step()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.graph_token = self._step()
        self.graph = graph
        return token


@torch.inference_mode()
def generate_fixed(
    model, input_ids, attention_mask, new_tokens: int, clock, mark_steps: bool = True, decoder=None
) -> Generation:
    """Greedy decoding of exactly `new_tokens` tokens per row (left-padded batch).

    Position ids follow the attention mask, so a left-padded row generates what it would alone.
    With mark_steps=False only the TTFT boundary and the end are marked (the decode time is then
    one interval), which is how the profiler's own overhead is measured. `decoder`: a
    `StaticDecoder` shared by the calls of one measurement (default: a dynamic cache per call).
    """
    if new_tokens < 1:
        raise ValueError("new_tokens must be at least 1")
    device = next(model.parameters()).device
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    decoder = decoder or DynamicDecoder(model)
    decoder.start(attention_mask, new_tokens)
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    out = torch.empty(input_ids.shape[0], new_tokens, dtype=torch.long, device=device)

    marks = [clock.mark()]
    out[:, :1] = decoder.prefill(input_ids, positions)
    marks.append(clock.mark())
    for step in range(1, new_tokens):
        out[:, step : step + 1] = decoder.step()
        if mark_steps:
            marks.append(clock.mark())
    if not mark_steps and new_tokens > 1:
        marks.append(clock.mark())
    intervals = clock.intervals_ms(marks)
    return Generation(out.cpu(), intervals[0], intervals[1:], decoder.kv_bytes())


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
