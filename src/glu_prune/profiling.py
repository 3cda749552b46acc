"""Measuring one model on one workload: TTFT, time per output token, throughput, peak memory.

Generation is an explicit greedy prefill + KV-cache decode loop rather than `model.generate()`:
- the boundary between prefill (+ first token) and decode is a timer mark in our own loop, so TTFT
  is measured on its own, not inferred from a whole `generate()` call;
- it always computes exactly `new_tokens` positions (it cannot stop at EOS, and needs no
  `min_new_tokens` logit suppression that would change what the model emits);
- it adds no per-step host synchronisation (generate's stopping criteria read a device flag every
  step), so on a GPU the timed work is the model's forward passes and an argmax;
- every decode step gets its own mark (CUDA events on a GPU), which keeps the raw per-token times.
Tokens after a row's first EOS are computed (fixed length) but never counted as output.

Clocks and memory meters take the `torch.cuda` module as a parameter so the GPU paths are tested
with fakes on machines without one.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass, field
from itertools import pairwise

import torch
from torch import nn

# ----------------------------------------------------------------------------- clocks


class CpuClock:
    """Monotonic host clock. CPU kernels return when done, so a mark after a call is its end."""

    source = "time.perf_counter_ns (CPU: synchronous kernels)"

    def sync(self) -> None:
        pass

    def mark(self) -> int:
        return time.perf_counter_ns()

    def intervals_ms(self, marks: list) -> list[float]:
        return [(b - a) / 1e6 for a, b in pairwise(marks)]


class CudaClock:
    """CUDA events recorded on the current stream; read after a device synchronisation."""

    source = "torch.cuda.Event (enable_timing) after synchronize"

    def __init__(self, device, cuda=None):
        self.device, self.cuda = device, cuda if cuda is not None else torch.cuda

    def sync(self) -> None:
        self.cuda.synchronize(self.device)

    def mark(self):
        event = self.cuda.Event(enable_timing=True)
        event.record()
        return event

    def intervals_ms(self, marks: list) -> list[float]:
        self.sync()  # elapsed_time needs both events to have completed
        return [a.elapsed_time(b) for a, b in pairwise(marks)]


def clock_for(device: torch.device):
    return CudaClock(device) if device.type == "cuda" else CpuClock()


# ----------------------------------------------------------------------------- peak memory

CLEAR_REFS = "/proc/self/clear_refs"


def _status_kb(field_name: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{field_name}:\s+(\d+) kB", f.read(), re.M).group(1))


class CpuPeakMemory:
    """Process peak RSS (VmHWM), reset per measurement by writing 5 to /proc/self/clear_refs.

    Process-wide: it includes every model held in memory, so the working memory of one
    measurement is peak minus the RSS at reset. The allocator may reuse pages already resident,
    so that difference is a lower bound.
    """

    source = "process peak RSS (VmHWM), reset via /proc/self/clear_refs"

    def __init__(self):
        try:
            self._clear()
            self.available = True
        except OSError as exc:
            self.available = False
            self.source = f"unavailable ({CLEAR_REFS}: {exc.strerror})"

    @staticmethod
    def _clear() -> None:
        with open(CLEAR_REFS, "w") as f:
            f.write("5")  # 5 = reset the peak RSS to the current RSS (Linux >= 4.0)

    def reset(self) -> int | None:
        if not self.available:
            return None
        self._clear()
        return _status_kb("VmRSS") * 1024

    def peak(self) -> int | None:
        return _status_kb("VmHWM") * 1024 if self.available else None


class CudaPeakMemory:
    """torch's allocator peak on the model's device, reset per measurement."""

    source = "torch.cuda.max_memory_allocated, reset via reset_peak_memory_stats"
    available = True

    def __init__(self, device, cuda=None):
        self.device, self.cuda = device, cuda if cuda is not None else torch.cuda

    def reset(self) -> int:
        self.cuda.reset_peak_memory_stats(self.device)
        return self.cuda.memory_allocated(self.device)

    def peak(self) -> int:
        return self.cuda.max_memory_allocated(self.device)


def memory_for(device: torch.device):
    return CudaPeakMemory(device) if device.type == "cuda" else CpuPeakMemory()


# ----------------------------------------------------------------------------- generation


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
def generate_fixed(model, input_ids, attention_mask, new_tokens: int, clock, mark_steps: bool = True) -> Generation:
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
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                   past_key_values=cache, use_cache=True, logits_to_keep=1).logits  # fmt: skip
    token = logits[:, -1].argmax(-1, keepdim=True)
    out[:, :1] = token
    marks.append(clock.mark())
    position = positions[:, -1:] + 1
    for step in range(1, new_tokens):
        logits = model(input_ids=token, attention_mask=mask[:, : width + step], position_ids=position,
                       past_key_values=cache, use_cache=True).logits  # fmt: skip
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


# ----------------------------------------------------------------------------- one measurement


def measure(model, batches: list, new_tokens: int, clock, memory, meter, eos: set[int], warmup: int = 1) -> dict:
    """Run every batch once, timed, after `warmup` untimed runs of the first batch.

    `batches` is a list of (input_ids, attention_mask). The energy window, the peak-memory reset
    and the token counts cover exactly the timed runs: warm-up is outside all of them.
    Returns the raw measurement (per-batch times and counts), summarised by `summarise`.
    """
    for _ in range(warmup):
        generate_fixed(model, *batches[0], new_tokens, clock)
    clock.sync()
    base = memory.reset()
    meter.begin()
    t0 = time.perf_counter()
    gens = [generate_fixed(model, ids, mask, new_tokens, clock) for ids, mask in batches]
    clock.sync()
    work_s = time.perf_counter() - t0
    reading = meter.end()
    peak = memory.peak()
    real = [real_token_counts(g.tokens, eos) for g in gens]
    return {
        "ttft_ms": [g.ttft_ms for g in gens],
        "step_ms": [g.step_ms for g in gens],
        "e2e_ms": [g.e2e_ms for g in gens],
        "prompt_tokens": [int(mask.sum()) for _, mask in batches],  # real tokens, no padding
        "padded_prompt_tokens": [int(mask.numel()) for _, mask in batches],
        "generated_tokens": [sum(r) for r in real],  # real output tokens (up to the first EOS)
        "computed_tokens": [g.tokens.numel() for g in gens],  # fixed length: batch x new_tokens
        "kv_cache_bytes": [g.kv_cache_bytes for g in gens],
        "rows_with_eos": [sum(any(t in eos for t in row) for row in g.tokens.tolist()) for g in gens],
        "work_s": work_s,
        "memory_base_bytes": base,
        "memory_peak_bytes": peak,
        "reading": reading,
    }


def summarise(raw: dict, new_tokens: int) -> dict:
    """Per-measurement metrics from the raw times and counts of `measure`.

    Token counts: `tokens_per_s` counts real tokens (up to each row's first EOS: what a user gets);
    `tpot_ms` and `fixed_length_*` count computed tokens (batch x new_tokens), the same work at every
    pruning level: compare levels by those, since EOS comes at different points once pruned."""
    e2e_s = sum(raw["e2e_ms"]) / 1e3
    decode_s = sum(sum(s) for s in raw["step_ms"]) / 1e3
    decode_steps = sum(len(s) for s in raw["step_ms"])
    rows = sum(c // new_tokens for c in raw["computed_tokens"])
    base, peak = raw["memory_base_bytes"], raw["memory_peak_bytes"]
    return {
        "ttft_ms": statistics.fmean(raw["ttft_ms"]),
        # decode phase only (the first token belongs to TTFT); one step yields a token per row
        "tpot_ms": 1e3 * decode_s / decode_steps if decode_steps else None,
        "e2e_ms": statistics.fmean(raw["e2e_ms"]),
        "tokens_per_s": sum(raw["generated_tokens"]) / e2e_s,  # real tokens only
        "fixed_length_tokens_per_s": sum(raw["computed_tokens"]) / e2e_s,  # every computed token, incl. after EOS
        "fixed_length_decode_tokens_per_s": (sum(raw["computed_tokens"]) - rows) / decode_s if decode_s else None,
        "prefill_tokens_per_s": sum(raw["prompt_tokens"]) / (sum(raw["ttft_ms"]) / 1e3),
        "generated_tokens": sum(raw["generated_tokens"]),
        "computed_tokens": sum(raw["computed_tokens"]),
        "prompt_tokens": sum(raw["prompt_tokens"]),
        "rows_with_eos": sum(raw["rows_with_eos"]),
        "working_memory_bytes": peak - base if peak is not None and base is not None else None,
        "kv_cache_bytes": max(raw["kv_cache_bytes"]),  # the largest cache of the measurement, as allocated
        "peak_raw_bytes": peak,
    }


# ----------------------------------------------------------------------------- ideal speed-up


def model_cost(model) -> dict:
    """Bytes and FLOP counts that bound the speed of a forward pass.

    param_bytes: every parameter and buffer (tied weights once): what a decode step reads.
    linear_macs: multiply-accumulates per token of every nn.Linear (lm_head included, also when
    its weight is tied to the embedding, because the product is still computed).
    """
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return {
        "param_bytes": sum(p.numel() * p.element_size() for p in model.parameters())
        + sum(b.numel() * b.element_size() for b in model.buffers()),
        "parameters": sum(p.numel() for p in model.parameters()),
        "linear_macs": sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear)),
        "num_layers": config.num_hidden_layers,
        "attention_width": heads * head_dim,
    }


def decode_flops_per_token(cost: dict, context: float) -> float:
    """FLOPs to produce one token at `context` cached positions: 2 x linear MACs + QK^T and AV."""
    return 2 * cost["linear_macs"] + 4 * cost["num_layers"] * context * cost["attention_width"]


def prefill_flops(cost: dict, prompt_len: float, batch: int) -> float:
    """FLOPs of a prefill of `batch` rows of `prompt_len` tokens (causal attention: ~len^2/2 pairs)."""
    return batch * (2 * cost["linear_macs"] * prompt_len + 2 * cost["num_layers"] * prompt_len**2 * cost["attention_width"])


# ----------------------------------------------------------------------------- statistics


def spread(values: list[float]) -> dict:
    """Median and spread of repeated measurements (raw values kept by the caller)."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return {"median": None, "min": None, "max": None, "iqr": None, "stdev": None, "n": 0}
    q = statistics.quantiles(vals, n=4, method="inclusive") if len(vals) > 1 else [vals[0]] * 3
    return {
        "median": statistics.median(vals), "min": vals[0], "max": vals[-1], "iqr": q[2] - q[0],
        "stdev": statistics.stdev(vals) if len(vals) > 1 else 0.0, "n": len(vals),
    }  # fmt: skip
