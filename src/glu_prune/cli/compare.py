"""glu-prune compare --model M --methods maw,vow,random,data --levels 10,20,40
                  (--tasks a,b | --suite S) --out DIR

Selection methods side by side at equal pruning levels, unpruned model included; checkpointed
like `evaluate` (same run dir layout, so the two share finished work).
"""

from __future__ import annotations

import sys

from ..evaluate import compare_methods, comparison_configs, consolidate_results
from ..models import AUTO
from ..prune import DIVISORS, METHODS
from .common import (
    add_model_arguments,
    check_writable_dir,
    model_spec,
    parse_float_list,
    parse_int_list,
    print_json,
    use_threads,
)
from .evaluate import add_eval_arguments, eval_settings, selected_tasks, stdout_to_stderr


def add_arguments(p) -> None:

    add_model_arguments(p, dtype=AUTO)
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated (default: all: %(default)s)")
    p.add_argument(
        "--levels", type=parse_float_list, required=True, help="pruning percentages, e.g. 10,20,40"
    )
    p.add_argument(
        "--seeds", type=parse_int_list, default=[0], help="seeds for methods that use one (default: 0)"
    )
    p.add_argument("--divisor", type=int, choices=DIVISORS, help="round kept widths DOWN to a multiple of N")
    p.add_argument("--calibration-samples", type=int, default=64, help="data-driven methods: windows of text")
    p.add_argument(
        "--calibration-seq-len", type=int, default=256, help="data-driven methods: tokens per window"
    )
    add_eval_arguments(p)


def run(args) -> int:

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    options = dict(calibration_samples=args.calibration_samples, calibration_seq_len=args.calibration_seq_len)
    comparison_configs(methods, args.levels, args.seeds, args.divisor, **options)  # validate before loading
    settings = eval_settings(args)
    tasks = selected_tasks(args)
    use_threads(args)
    spec = model_spec(args)
    out = check_writable_dir(args.out)
    with stdout_to_stderr():
        status, table = compare_methods(
            spec,
            methods,
            args.levels,
            tasks,
            out,
            settings,
            args.seeds,
            args.divisor,
            not args.json,
            **options,
        )
    if args.json:
        print_json(status.records)
    elif not table.empty:
        print(wide_table(table).to_string())
        print(f"\npaired difference to the unpruned model: delta [{SIGNIFICANCE}]")
        print(wide_table(table, paired_cell).to_string())
    consolidate_results(out)
    print(f"glu-prune compare: {status.summary()}; consolidated in {out}/results.csv", file=sys.stderr)
    return 1 if status.failed else 0


SIGNIFICANCE = "95 % paired bootstrap interval]; * Benjamini-Hochberg adjusted p < 0.05"


def value_cell(r) -> str:
    e = r["stderr"]
    return f"{r['value']:.4g}" + ("" if e is None or e != e else f"±{e:.2g}")


def paired_cell(r) -> str:
    if r["delta"] != r["delta"] or r["delta"] is None:
        return ""
    mark = "*" if r["p_adjusted"] == r["p_adjusted"] and r["p_adjusted"] < 0.05 else ""
    return f"{r['delta']:+.3g} [{r['delta_ci_low']:+.3g}, {r['delta_ci_high']:+.3g}]{mark}"


def wide_table(table, cell=value_cell):
    """Tasks' metrics as rows, level x method (x seed) as columns, cells cell(row) ('value±stderr')."""
    table = table.assign(
        seed=table["seed"].map(lambda s: "-" if s is None or s != s else f"s{int(s)}"),
        cell=[cell(r) for r in table.to_dict("records")],
    )
    columns = ["pruning_pct", "method"] + (["seed"] if table["seed"].nunique() > 1 else [])
    wide = table.pivot_table(
        index=["task", "metric", "filter"], columns=columns, values="cell", aggfunc="first"
    )
    return wide.fillna("")
