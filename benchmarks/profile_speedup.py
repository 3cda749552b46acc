"""Measured decode speed-up of pruned models against their ideal, and the profiler's own overhead.

    .venv/bin/python benchmarks/profile_speedup.py [--repeats 5] [--new-tokens 32] [--threads N]
        [--skip-gpu] [--out FILE.json]

1. CPU: the embedded model at 40 % (MAW), without and with --divisor 128, at batch 1 and 8. The
   measured speed-up is the unpruned model's median time per output token over the pruned one's,
   from the profiler itself (interleaved repeats, HellaSwag prompts); the ideal is the ratio of
   parameter bytes (what a decode step reads). Target: measured >= 0.9 x ideal.
2. GPU, when CUDA is present: Llama-3.2-1B shapes (random weights, bf16) at 40 % with
   --divisor 128, batch 1 and 8. Target: measured >= 0.8 x ideal. Skipped with a message otherwise.
3. Overhead: the decode loop with a clock mark per token (what the profiler runs) against the same
   loop with only the TTFT and end marks, interleaved; plus the fixed per-measurement costs
   outside the timed region (peak-memory reset, energy meter start/stop).

Timings on a shared machine move with its load: the 1-minute load average is printed and saved
before and after, with the hardware and torch's thread count.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def load1() -> float:
    return os.getloadavg()[0]


def speedup(spec_kwargs: dict, divisor, repeats: int, new_tokens: int, target: float, threads) -> list[dict]:
    from glu_prune.models import ModelSpec
    from glu_prune.profile import ProfileConfig, run_carbon_profiling

    spec = ModelSpec(**spec_kwargs)
    cfg = ProfileConfig(
        levels=(0, 40),
        divisor=divisor,
        workloads=("hellaswag",),
        batch_sizes=(1, 8),
        batches=1,
        new_tokens=new_tokens,
        repeats=repeats,
        warmup=1,
        energy="none",
        order="interleaved",
        threads=threads,
    )
    with tempfile.TemporaryDirectory() as tmp:
        records = run_carbon_profiling(spec, cfg, tmp)
    rows = []
    for r in records:
        if r["pruning_pct"] != 40:
            continue
        ratio = r["measured_vs_ideal"]
        rows.append(
            {
                "model": r["model"],
                "random_weights": r["random_weights"],
                "dtype": r["dtype"],
                "hardware": r["hardware"],
                "divisor": divisor,
                "intermediate_size": r["intermediate_size"],
                "batch_size": r["batch_size"],
                "tpot_ms": r["tpot_ms"],
                "tpot_ms_min": r["tpot_ms_min"],
                "tpot_ms_max": r["tpot_ms_max"],
                "ideal_speedup": r["ideal_speedup"],
                "ideal_speedup_flops": r["ideal_speedup_flops"],
                "measured_speedup": r["measured_speedup"],
                "measured_vs_ideal": ratio,
                "target": target,
                "pass": ratio is not None and ratio >= target,
                "loadavg_1m_max": r["loadavg_1m_max"],
            }
        )
    return rows


def overhead(repeats: int, new_tokens: int) -> dict:
    """In-loop cost of the per-token marks, and fixed costs outside the timed region."""
    from glu_prune.models import ModelSpec, load_model
    from glu_prune.profile import clocks, generate, meters
    from glu_prune.profile.workloads import encode, left_pad, pad_id, prompt_tokenizer, sample_prompts

    model, tok = load_model(ModelSpec("default"))
    pt = prompt_tokenizer("default", tok, False, model.config.vocab_size)
    ids, mask = left_pad(encode(sample_prompts("hellaswag", 1), pt), pad_id(pt.tokenizer))
    clock = clocks.CpuClock()
    generate.generate_fixed(model, ids, mask, new_tokens, clock)  # warm-up
    times = {"instrumented": [], "bare": []}
    for r in range(repeats):
        for kind in ("instrumented", "bare") if r % 2 == 0 else ("bare", "instrumented"):
            gen = generate.generate_fixed(
                model, ids, mask, new_tokens, clock, mark_steps=kind == "instrumented"
            )
            times[kind].append(gen.e2e_ms)
    n = 100_000
    t0 = time.perf_counter()
    for _ in range(n):
        clock.mark()
    mark_us = (time.perf_counter() - t0) / n * 1e6
    memory = clocks.CpuPeakMemory()
    t0 = time.perf_counter()
    for _ in range(20):
        memory.reset(), memory.peak()
    reset_ms = (time.perf_counter() - t0) / 20 * 1e3
    meter = meters.CodecarbonMeter()
    t0 = time.perf_counter()
    meter.begin()
    meter.end()
    codecarbon_s = time.perf_counter() - t0
    inst, bare = statistics.median(times["instrumented"]), statistics.median(times["bare"])
    # runs drift on a shared VM; the interleaved pairs cancel that drift, the medians alone do not
    paired = statistics.median(i / b for i, b in zip(times["instrumented"], times["bare"], strict=False))
    return {
        "new_tokens": new_tokens,
        "repeats": repeats,
        "e2e_ms_instrumented": inst,
        "e2e_ms_bare": bare,
        "in_loop_overhead_pct": 100 * (inst / bare - 1),
        "in_loop_overhead_paired_median_pct": 100 * (paired - 1),
        "in_loop_overhead_bound_pct": 100 * mark_us * 1e-3 * new_tokens / bare,
        "raw_ms": times,
        "clock_mark_us": mark_us,
        "peak_memory_reset_and_read_ms": reset_ms,
        "codecarbon_begin_end_s": codecarbon_s,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--skip-gpu", action="store_true")
    p.add_argument("--out", help="also write the results here as JSON")
    args = p.parse_args()

    import torch

    from glu_prune.provenance import hardware
    from glu_prune.store import atomic_write_json

    report = {
        "hardware": hardware(),
        "loadavg_before": os.getloadavg(),
        "threads": args.threads or torch.get_num_threads(),
    }
    print(f"load average before: {load1():.2f}  threads: {report['threads']}", file=sys.stderr)
    rows = []
    for divisor in (None, 128):
        rows += speedup({"model": "default"}, divisor, args.repeats, args.new_tokens, 0.9, args.threads)
    if torch.cuda.is_available() and not args.skip_gpu:
        rows += speedup(
            {"model": "llama-3.2-1b", "random_weights": True, "dtype": "bfloat16"},
            128,
            args.repeats,
            args.new_tokens,
            0.8,
            None,
        )
        report["gpu"] = "measured"
    else:
        report["gpu"] = (
            "skipped: no CUDA device here" if not torch.cuda.is_available() else "skipped: --skip-gpu"
        )
        print(f"GPU part (Llama-3.2-1B shapes, --divisor 128, target 0.8): {report['gpu']}", file=sys.stderr)
    report["speedup"] = rows
    for r in rows:
        print(
            f"{r['model']:<24} {r['hardware'][:28]:<28} div={str(r['divisor']):<4} "
            f"width={r['intermediate_size']:<5} "
            f"batch={r['batch_size']}: TPOT {r['tpot_ms']:.2f} ms, ideal x{r['ideal_speedup']:.3f}, "
            f"measured x{r['measured_speedup']:.3f}, ratio {r['measured_vs_ideal']:.3f} "
            f"(target {r['target']}) {'PASS' if r['pass'] else 'FAIL'}"
        )
    report["overhead"] = oh = overhead(args.repeats * 2, args.new_tokens)
    print(
        f"profiler overhead in the timed loop: {oh['in_loop_overhead_paired_median_pct']:+.2f}% (median of "
        f"interleaved pairs; medians alone {oh['in_loop_overhead_pct']:+.2f}%: e2e "
        f"{oh['e2e_ms_instrumented']:.1f} ms "
        f"instrumented vs {oh['e2e_ms_bare']:.1f} ms bare; bound from the marks' own cost "
        f"{oh['in_loop_overhead_bound_pct']:.5f}%); "
        f"a clock mark {oh['clock_mark_us']:.2f} us; outside it: peak-memory reset+read "
        f"{oh['peak_memory_reset_and_read_ms']:.3f} ms, codecarbon start+stop "
        f"{oh['codecarbon_begin_end_s']:.2f} s"
    )
    report["loadavg_after"] = os.getloadavg()
    print(f"load average after: {load1():.2f}", file=sys.stderr)
    if args.out:
        atomic_write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
