"""glu-prune profile --model M [--random-weights] --levels 0,40 [--method X] [--divisor N] --out DIR
[--json]"""

from __future__ import annotations

import sys

from ..profile import (
    BENCHMARKS_CARBON,
    DECODES,
    METERS,
    ORDERS,
    ProfileConfig,
    consolidate_profiles,
    record_keys,
    run_carbon_profiling,
)
from ..prune import DIVISORS, METHODS
from .common import (
    add_model_arguments,
    check_writable_dir,
    model_spec,
    parse_float_list,
    parse_int_list,
    print_json,
)

# throughput and energy per computed token: the same work at every level (tokens_per_s counts real tokens)
SHOWN = (
    "pruning_pct",
    "intermediate_size",
    "workload",
    "batch_size",
    "ttft_ms",
    "tpot_ms",
    "fixed_length_tokens_per_s",
    "energy_j_per_computed_token",
    "energy_source",
    "ideal_speedup",
    "measured_speedup",
    "status",
)


def add_arguments(p) -> None:

    add_model_arguments(p)
    p.add_argument(
        "--levels", type=parse_float_list, default=[0.0, 40.0], help="pruning levels in %% (0 = unpruned)"
    )
    p.add_argument(
        "--method", default="maw", help=f"neuron selection: {', '.join(METHODS)} (default: %(default)s)"
    )
    p.add_argument("--divisor", type=int, choices=DIVISORS, help="round kept widths DOWN to a multiple of N")
    p.add_argument(
        "--seed", type=int, default=0, help="prompt sampling, run order, random method, random weights"
    )
    p.add_argument("--workloads", default=",".join(BENCHMARKS_CARBON), help="comma-separated: %(default)s")
    p.add_argument(
        "--batch-size", type=parse_int_list, default=[1, 8], help="1 = latency, 8 = throughput (default: 1,8)"
    )
    p.add_argument("--batches", type=int, default=2, help="batches (of distinct prompts) per measurement")
    p.add_argument(
        "--new-tokens", type=int, default=32, help="generated per row, always exactly (default: 32)"
    )
    p.add_argument("--repeats", type=int, default=3, help="measurements per setting: median and spread")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs before each measurement")
    p.add_argument(
        "--energy", default="auto", help=f"meter: auto (nvml on CUDA, else codecarbon), {', '.join(METERS)}"
    )
    p.add_argument(
        "--idle-seconds",
        type=float,
        default=5.0,
        help="idle power calibration before each level's measurements, every repeat (default: %(default)s s)",
    )
    p.add_argument("--country", default="USA", help="ISO code for codecarbon's emissions (not energy)")
    p.add_argument(
        "--order", choices=ORDERS, default="auto", help="interleaved (all levels in memory) or shuffled"
    )
    p.add_argument(
        "--prompt-tokenizer",
        help="shape-only models: tokenizer for the prompts (registry name, hub id or folder of tokenizer "
        "files; default: the embedded model's)",
    )
    p.add_argument(
        "--decode",
        choices=DECODES,
        default="dynamic",
        help="dynamic: transformers' growing KV cache, one eager forward per token (default); static: a "
        "preallocated cache, each decode step replayed as one CUDA graph on a GPU (eager on a CPU)",
    )
    p.add_argument("--out", required=True, help="checkpoints and results; finished measurements are reused")
    p.add_argument("--results-dir", help="write the consolidated CSV/JSON here instead of --out")
    p.add_argument("--json", action="store_true", help="print only the records, as a JSON list")


def run(args) -> int:
    import transformers

    transformers.utils.logging.disable_progress_bar()  # one bar per model load would bury ours
    config = ProfileConfig(
        levels=tuple(args.levels),
        method=args.method,
        divisor=args.divisor,
        prune_seed=args.seed,
        workloads=tuple(w.strip() for w in args.workloads.split(",") if w.strip()),
        batch_sizes=tuple(args.batch_size),
        batches=args.batches,
        new_tokens=args.new_tokens,
        repeats=args.repeats,
        warmup=args.warmup,
        seed=args.seed,
        energy=args.energy,
        idle_seconds=args.idle_seconds,
        country=args.country,
        order=args.order,
        threads=args.threads,
        prompt_tokenizer=args.prompt_tokenizer,
        decode=args.decode,
    )
    spec = model_spec(args)
    out = check_writable_dir(args.out)
    results = check_writable_dir(args.results_dir) if args.results_dir else None
    records = run_carbon_profiling(spec, config, out, progress=not args.json)
    if results is not None:
        consolidate_profiles(out, results, select=record_keys(records))  # this invocation's records only
    incomplete = [r for r in records if r["status"] != "complete"]
    if args.json:
        nested = {"spread", "samples", "order_positions", "errors"}
        print_json([{k: v for k, v in r.items() if k not in nested} for r in records])
    else:
        _print_table(records)
        print(f"results: {results or out}", file=sys.stderr)
    if incomplete:
        print(
            f"glu-prune: {len(incomplete)} of {len(records)} records are incomplete (failed measurements "
            "are retried by running the same command again)",
            file=sys.stderr,
        )
        return 1
    return 0


def _print_table(records) -> None:
    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    rows = [[cell(r.get(k)) for k in SHOWN] for r in records]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(SHOWN)]
    for row in [list(SHOWN), *rows]:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=False)))
