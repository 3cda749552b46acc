"""Pruning speed and memory: this project vs optipfair.prune_model(return_stats=True), same run.

    .venv/bin/python benchmarks/prune_speed.py [--model llama-3.2-1b] [--pct 40]

Each side runs in a fresh subprocess on the same bf16 random-weight model (Llama-3.2-1B shapes),
so the peak resident memory of one cannot leak into the other. Peak RSS is the kernel's VmHWM,
reset with /proc/self/clear_refs right before pruning, so it covers the pruning step only; the
memory ratio is (peak RSS - RSS of the runtime before the model existed) / model bytes.
Targets: >= 3x faster, that ratio <= 1.15.
Also times the architecture tables (1B and 3B, 7 levels) against a 5 s target.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def worker(side: str, model_name: str, pct: float) -> dict:
    import torch

    from glu_prune.models import ModelSpec, load_model
    from glu_prune.profile.clocks import CpuPeakMemory
    from glu_prune.prune import PruneConfig, prune

    torch.set_num_threads(os.cpu_count() or 1)
    memory = CpuPeakMemory()  # the profiler's meter: VmHWM, reset via /proc/self/clear_refs
    if not memory.available:
        raise SystemExit(f"peak RSS: {memory.source}")
    rss_runtime = memory.reset()  # RSS of Python + torch + transformers, before the model exists
    model, _ = load_model(ModelSpec(model_name, random_weights=True, dtype="bfloat16", device="cpu"))
    model_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    rss_before = memory.reset()  # the peak from here on covers the pruning step only
    start = time.perf_counter()
    if side == "glu-prune":
        record = prune(model, PruneConfig("maw", pct=pct), progress=False)
        width = record["intermediate_size"]
    else:
        import optipfair

        model, stats = optipfair.prune_model(
            model,
            neuron_selection_method="MAW",
            pruning_percentage=pct,
            show_progress=False,
            return_stats=True,
        )
        width = model.config.intermediate_size
    seconds = time.perf_counter() - start
    peak = memory.peak()
    return {
        "side": side,
        "seconds": seconds,
        "model_bytes": model_bytes,
        "rss_before": rss_before,
        "peak_rss": peak,
        "rss_runtime": rss_runtime,
        "width": width,
    }


def tables_seconds() -> float:
    from glu_prune.models import load_config
    from glu_prune.prune import DEFAULT_LEVELS, architecture_table

    start = time.perf_counter()
    for name in ("llama-3.2-1b", "llama-3.2-3b"):
        architecture_table(name, load_config(name), DEFAULT_LEVELS)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="llama-3.2-1b")
    ap.add_argument("--pct", type=float, default=40)
    ap.add_argument("--worker", choices=["glu-prune", "optipfair"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.model, args.pct)))
        return

    from glu_prune.provenance import hardware_label

    runs = {}
    for side in ("glu-prune", "optipfair"):
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", side, "--model", args.model, "--pct", str(args.pct)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs[side] = json.loads(proc.stdout.strip().splitlines()[-1])
    ours, theirs = runs["glu-prune"], runs["optipfair"]
    assert ours["width"] == theirs["width"]
    gib = 2**30
    print(f"prune {args.model} (bf16 random weights) at {args.pct:g}% MAW -> width {ours['width']}")
    print(f"hardware: {hardware_label()}; load average before: {os.getloadavg()[0]:.2f}")
    print(f"model size: {ours['model_bytes'] / gib:.2f} GiB")
    # peak RSS counts the interpreter and libraries too; what pruning is responsible for is the
    # peak above the runtime that existed before the model was built
    print(f"{'':<12}{'seconds':>9}{'peak RSS GiB':>14}{'runtime GiB':>13}{'(peak - runtime) / model':>26}")
    for side, r in runs.items():
        r["ratio"] = (r["peak_rss"] - r["rss_runtime"]) / r["model_bytes"]
        print(
            f"{side:<12}{r['seconds']:>9.2f}{r['peak_rss'] / gib:>14.2f}{r['rss_runtime'] / gib:>13.2f}"
            f"{r['ratio']:>26.3f}"
        )
    speedup = theirs["seconds"] / ours["seconds"]
    print(
        f"speed-up over optipfair(return_stats=True): {speedup:.1f}x (target >= 3x): "
        f"{'PASS' if speedup >= 3 else 'FAIL'}"
    )
    print(
        f"memory: (peak RSS - runtime) / model size = {ours['ratio']:.3f} for glu-prune, "
        f"{theirs['ratio']:.3f} "
        f"for optipfair (target <= 1.15): {'PASS' if ours['ratio'] <= 1.15 else 'FAIL'}"
    )
    t = tables_seconds()
    print(
        f"architecture tables, 1B + 3B at 7 levels: {t:.2f} s (target < 5 s): {'PASS' if t < 5 else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
