"""One measurement: warm-up, then every batch generated once inside one timer, memory and energy
window; summarised into TTFT, time per output token, throughput and peak memory."""

from __future__ import annotations

import statistics
import time

from .generate import StaticDecoder, generate_fixed, real_token_counts


def measure(
    model,
    batches: list,
    new_tokens: int,
    clock,
    memory,
    meter,
    eos: set[int],
    warmup: int = 1,
    decode: str = "dynamic",
) -> dict:
    """Run every batch once, timed, after `warmup` untimed runs of the first batch.

    `batches` is a list of (input_ids, attention_mask) of one batch size. The energy window, the
    peak-memory reset and the token counts cover exactly the timed runs: warm-up is outside all of
    them (with `decode="static"` it is also where a GPU captures its CUDA graph).
    Returns the raw measurement (per-batch times and counts), summarised by `summarise`.
    """
    decoder = base = None
    if decode == "static":  # its preallocated cache (and a GPU's graph) belong to the working memory
        base = memory.reset()
        longest = max(ids.shape[1] for ids, _ in batches)
        decoder = StaticDecoder(model, batches[0][0].shape[0], longest + new_tokens)
    for _ in range(warmup):
        generate_fixed(model, *batches[0], new_tokens, clock, decoder=decoder)
    clock.sync()
    start = memory.reset()  # the peak covers the timed runs only
    base = start if decoder is None else base
    meter.begin()
    t0 = time.perf_counter()
    gens = [generate_fixed(model, ids, mask, new_tokens, clock, decoder=decoder) for ids, mask in batches]
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
        "cuda_graph": decoder is not None and decoder.graph is not None,  # the timed steps were replays
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
        "fixed_length_tokens_per_s": sum(raw["computed_tokens"])
        / e2e_s,  # every computed token, incl. after EOS
        "fixed_length_decode_tokens_per_s": (sum(raw["computed_tokens"]) - rows) / decode_s
        if decode_s
        else None,
        "prefill_tokens_per_s": sum(raw["prompt_tokens"]) / (sum(raw["ttft_ms"]) / 1e3),
        "generated_tokens": sum(raw["generated_tokens"]),
        "computed_tokens": sum(raw["computed_tokens"]),
        "prompt_tokens": sum(raw["prompt_tokens"]),
        "rows_with_eos": sum(raw["rows_with_eos"]),
        "working_memory_bytes": peak - base if peak is not None and base is not None else None,
        "kv_cache_bytes": max(raw["kv_cache_bytes"]),  # the largest cache of the measurement, as allocated
        "peak_raw_bytes": peak,
        "cuda_graph": raw["cuda_graph"],
    }


def spread(values: list[float]) -> dict:
    """Median and spread of repeated measurements (raw values kept by the caller)."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return {"median": None, "min": None, "max": None, "iqr": None, "stdev": None, "n": 0}
    q = statistics.quantiles(vals, n=4, method="inclusive") if len(vals) > 1 else [vals[0]] * 3
    return {
        "median": statistics.median(vals),
        "min": vals[0],
        "max": vals[-1],
        "iqr": q[2] - q[0],
        "stdev": statistics.stdev(vals) if len(vals) > 1 else 0.0,
        "n": len(vals),
    }
