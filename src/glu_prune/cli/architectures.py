"""glu-prune architectures --model M [--levels ...] [--divisor N] [--json]"""

from __future__ import annotations

from ..errors import UserError
from ..models import canonical_name, load_config
from ..prune import DEFAULT_LEVELS, DIVISORS, architecture_table, write_tables
from .common import check_writable_dir, parse_float_list, print_json


def add_arguments(p) -> None:
    p.add_argument(
        "--model",
        default="default",
        help="registry name, hub id or local dir (comma-separated list allowed with --out)",
    )
    p.add_argument(
        "--levels",
        type=parse_float_list,
        default=list(DEFAULT_LEVELS),
        help="comma-separated pruning percentages (default: 0,10,...,60)",
    )
    p.add_argument("--divisor", type=int, choices=DIVISORS, help="round widths down to a multiple of N")
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--json", action="store_true", help="print the records as a JSON list, nothing else")
    p.add_argument(
        "--out",
        help="write expansion_rates.json and expansion_rates_summary.csv here, for every "
        "model, without rounding and (if --divisor) with it",
    )


def run(args) -> int:

    if any(not 0 <= level < 100 for level in args.levels):
        raise UserError("--levels must be percentages in [0, 100)")
    levels = [int(x) if float(x).is_integer() else x for x in args.levels]
    if args.out:
        models = [m for m in args.model.split(",") if m]
        records = write_tables(
            models, levels, [None] + ([args.divisor] if args.divisor else []), check_writable_dir(args.out)
        )
        if args.json:
            print_json(records)
        else:
            print(
                f"wrote {len(records)} records to {args.out}/expansion_rates.json and "
                "expansion_rates_summary.csv"
            )
        return 0
    name = canonical_name(args.model)
    records = architecture_table(name, load_config(args.model, args.trust_remote_code), levels, args.divisor)
    if args.json:
        print_json(records)
        return 0
    print(f"{name}" + (f" (widths rounded down to a multiple of {args.divisor})" if args.divisor else ""))
    print(
        f"{'pruning %':>9} {'width':>6} {'ratio':>6} {'parameters':>15} {'reduction %':>11} "
        f"{'divisible by':>12}"
    )
    for r in records:
        print(
            f"{r['pruning_pct']:>9} {r['intermediate_size']:>6} {r['expansion_ratio']:>6.3f} "
            f"{r['total_parameters']:>15,} {r['parameter_reduction_pct']:>11.2f} {r['divisible_by']:>12}"
        )
    return 0
