"""glu-prune prune --model M (--pct P | --expansion-ratio R) [--method X] [--divisor N] [--out DIR]"""

from __future__ import annotations

import sys

from ..errors import UserError
from ..models import check_model, glu_config, load_config
from ..prune import check_prunable, load_pruned, save_pruned
from .common import (
    add_model_arguments,
    add_prune_arguments,
    check_new_output_dir,
    model_spec,
    print_json,
    prune_config,
    use_threads,
)


def add_arguments(p) -> None:
    add_model_arguments(p)
    add_prune_arguments(p, required=False)
    p.add_argument("--out", help="write the pruned model here (a new or empty directory)")
    p.add_argument("--json", action="store_true", help="print the pruning record as JSON, nothing else")


def run(args) -> int:

    if args.pct is None and args.expansion_ratio is None:
        raise UserError("give one of --pct and --expansion-ratio")
    cfg = prune_config(args)  # validates everything before any model loads
    use_threads(args)
    spec = model_spec(args)
    out = check_new_output_dir(args.out) if args.out else None
    config = load_config(spec.model, spec.trust_remote_code)
    check_prunable(config, cfg)  # a model that is no GLU decoder: said first
    check_model(spec)  # its files, weights and pruning.json
    if out is not None and cfg.layers is not None:
        if sorted(cfg.layers) != list(range(glu_config(config).num_hidden_layers)):
            raise UserError(
                "--layers prunes only some layers, and a transformers config holds one intermediate_size, "
                "so such a model cannot be saved for plain reloading (evaluate or profile it in memory "
                "instead)"
            )
    model, tokenizer, record = load_pruned(spec, cfg, progress=not args.json)
    if out is not None:
        save_pruned(model, tokenizer, record, out)
    if args.json:
        print_json(record)
    else:
        print(
            f"{record['model']}: {cfg.method} removed {record['effective_pruning_pct']:.2f}% of GLU neurons, "
            f"width {record['original_intermediate_size']} -> {record['intermediate_size']}, "
            f"expansion {record['original_expansion_ratio']:.3f} -> {record['expansion_ratio']:.3f}, "
            f"parameters {record['parameters_before']:,} -> {record['parameters_after']:,} "
            f"(-{record['parameter_reduction_pct']:.2f}%)",
            file=sys.stderr,
        )
        if out is not None:
            print(out)
    return 0
