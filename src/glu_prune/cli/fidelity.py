"""glu-prune fidelity --model M (--pct P | --levels 10,20,...) [--method X] [--text FILE] [--out DIR] [--json]

How far pruned copies drift from the unpruned model on held-out text: KL(P_unpruned || P_pruned)
per token (mean, median, 99th percentile), top-1 agreement and both token perplexities, with
bootstrap standard errors over windows. Checkpointed per configuration: rerun to resume. The run
dir also gets fidelity_results.csv and fidelity_complete.json.
"""

from __future__ import annotations

import sys

from ..errors import UserError
from ..fidelity import (
    DEFAULT_FIDELITY,
    FidelitySettings,
    consolidate_fidelity,
    load_text,
    run_fidelity,
    summary,
)
from .common import (
    add_model_arguments,
    add_prune_arguments,
    check_writable_dir,
    model_spec,
    parse_float_list,
    print_json,
    use_threads,
)
from .evaluate import prune_configs, stdout_to_stderr


def add_arguments(p) -> None:
    add_model_arguments(p)
    add_prune_arguments(p, required=False)
    p.add_argument(
        "--levels", type=parse_float_list, help="pruning percentages (instead of --pct); 0 is the reference"
    )
    p.add_argument("--text", help="a UTF-8 text file (default: the packaged Wikipedia-prose paragraphs)")
    p.add_argument(
        "--window",
        type=int,
        default=DEFAULT_FIDELITY.window,
        help="tokens per window, BOS included (default: %(default)s)",
    )
    p.add_argument(
        "--max-windows",
        type=int,
        default=DEFAULT_FIDELITY.max_windows,
        help="the first N windows of the text; 0: all (default: %(default)s)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_FIDELITY.batch_size,
        help="windows per forward pass (default: %(default)s)",
    )
    p.add_argument(
        "--out",
        default="runs/fidelity",
        help="run dir: checkpoints, fidelity_results.csv (default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print only the results, as a JSON list")


def run(args) -> int:
    settings = FidelitySettings(
        window=args.window,
        max_windows=args.max_windows or None,
        batch_size=args.batch_size,
    )
    configs = [c for c in prune_configs(args) if c is not None]
    if not configs:
        raise UserError("give --pct, --expansion-ratio or --levels with a level above 0")
    text = load_text(args.text)
    use_threads(args)
    spec = model_spec(args)
    out = check_writable_dir(args.out)
    with stdout_to_stderr():
        status = run_fidelity(spec, configs, text, out, settings, progress=not args.json)
    if args.json:
        print_json([summary(r) for r in status.records])
    else:
        for r in status.records:
            print(line(summary(r)))
    consolidate_fidelity(out)
    print(
        f"glu-prune fidelity: {status.summary()}; consolidated in {out}/fidelity_results.csv", file=sys.stderr
    )
    return 1 if status.failed else 0


def line(s: dict) -> str:
    m = {k: v["value"] for k, v in s["metrics"].items()}
    se = {k: v["stderr"] for k, v in s["metrics"].items()}
    pm = lambda k: "" if se[k] is None else f"±{se[k]:.2g}"  # noqa: E731
    return (
        f"{s['method']:>14} {s['pruning_pct']:>5g}%  KL {m['kl_mean']:.4g}{pm('kl_mean')} nats/token "
        f"(median {m['kl_median']:.3g}, p99 {m['kl_p99']:.3g})  top-1 agreement {m['top1_agreement']:.4f}"
        f"{pm('top1_agreement')}  perplexity {m['ppl_unpruned']:.4g} -> {m['ppl_pruned']:.4g} "
        f"(x{m['ppl_ratio']:.4g}{pm('ppl_ratio')})  "
        f"[{s['tokens']} tokens, {s['windows']} windows of {s['text']}]"
    )
