"""Flags and checks shared by several subcommands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import UserError
from ..models import AUTO, DEVICES, DTYPES, ModelSpec
from ..prune import DIVISORS, METHODS, PruneConfig
from ..store import check_writable, to_jsonable

# flags that say how to prune (None: not given) -> their names; given without anything to prune,
# or calibration flags with a weight-only method, they are an error rather than silently ignored
PRUNING_FLAGS = {
    "method": "--method",
    "divisor": "--divisor",
    "layers": "--layers",
    "calibration_samples": "--calibration-samples",
    "calibration_seq_len": "--calibration-seq-len",
}
CALIBRATION_FLAGS = ("calibration_samples", "calibration_seq_len")


def add_model_arguments(p, dtype: str = "float32") -> None:
    p.add_argument(
        "--model", default="default", help="registry name, hub id or local dir (default: %(default)s)"
    )
    p.add_argument(
        "--random-weights", action="store_true", help="shape-only model from the config, no download"
    )
    p.add_argument(
        "--dtype",
        choices=(*DTYPES, AUTO),
        default=dtype,
        help="weights and compute dtype; auto: bfloat16 where the device computes it natively "
        "(a GPU that has it, a CPU with AVX512-BF16 or AMX), else float32; recorded with why "
        "(default: %(default)s)",
    )
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads of this process (default: torch's, one per core); give each of several "
        "processes sharing the cores its share, or they slow each other down several-fold; recorded in "
        "evaluation, fidelity and profile records",
    )
    p.add_argument("--trust-remote-code", action="store_true")


def use_threads(args) -> None:
    """--threads for the rest of this process (torch's own default where it is not given)."""
    if args.threads is None:
        return
    if args.threads < 1:
        raise UserError(f"--threads must be a positive integer, got {args.threads}")
    import torch

    torch.set_num_threads(args.threads)


def model_spec(args) -> ModelSpec:
    return ModelSpec(
        model=args.model,
        random_weights=args.random_weights,
        dtype=args.dtype,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
        seed=getattr(args, "seed", None) or 0,
    )


def add_prune_arguments(p, required: bool = True) -> None:
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--pct", type=float, help="percentage of GLU neurons to remove, 0 < P < 100")
    g.add_argument(
        "--expansion-ratio", type=float, help="target intermediate/hidden ratio, below the current one"
    )
    defaults = PruneConfig.__dataclass_fields__
    p.add_argument(
        "--method", help=f"neuron selection: {', '.join(METHODS)} (default: {defaults['method'].default})"
    )
    p.add_argument(
        "--divisor", type=int, choices=DIVISORS, help="round the kept width DOWN to a multiple of N"
    )
    p.add_argument("--seed", type=int, help="random method and calibration sampling (default: 0)")
    p.add_argument(
        "--layers", type=parse_int_list, help="comma-separated layer indices to prune (default: all)"
    )
    p.add_argument(
        "--calibration-samples",
        type=int,
        help=f"data-driven methods: windows of text (default: {defaults['calibration_samples'].default})",
    )
    p.add_argument(
        "--calibration-seq-len",
        type=int,
        help=f"data-driven methods: tokens per window (default: {defaults['calibration_seq_len'].default})",
    )


def prune_config(args) -> PruneConfig:
    """The PruneConfig of the pruning flags (defaults for those not given), validated, with
    calibration flags refused for a method that uses no calibration text."""
    given = {k: getattr(args, k) for k in (*PRUNING_FLAGS, "seed") if getattr(args, k) is not None}
    cfg = PruneConfig(
        pct=args.pct, expansion_ratio=args.expansion_ratio, **{**given, "layers": _layers(args)}
    )
    wasted = [PRUNING_FLAGS[k] for k in CALIBRATION_FLAGS if k in given and not cfg.data_driven]
    if wasted:
        data = ", ".join(name for name, m in METHODS.items() if m.needs_data)
        raise UserError(
            f"{' and '.join(wasted)} only apply to data-driven methods ({data}), not {cfg.method}"
        )
    return cfg


def _layers(args) -> tuple[int, ...] | None:
    return tuple(args.layers) if args.layers is not None else None


def check_no_pruning_flags(args, what: str) -> None:
    """Pruning flags given when nothing is pruned are an error (`what` says how to prune)."""
    given = [flag for key, flag in PRUNING_FLAGS.items() if getattr(args, key, None) is not None]
    if getattr(args, "seed", None) is not None and not getattr(args, "random_weights", False):
        given.append("--seed")
    if given:
        raise UserError(f"{', '.join(given)} given, but nothing is pruned (give {what})")


def parse_int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise UserError(f"expected at least one integer, got {text!r}")
    return values


def parse_float_list(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise UserError("expected at least one number")
    return values


def check_new_output_dir(path: str) -> Path:
    """An output dir that does not exist yet (or is empty) in a writable place."""
    out = Path(path).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {path} already exists and is not an empty directory")
    check_writable(out, f"--out {path}")
    return out


def check_writable_dir(path: str) -> Path:
    """A results dir that may already hold checkpoints (they are reused, never overwritten)."""
    out = Path(path).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {path} exists and is not a directory")
    check_writable(out, f"--out {path}")
    return out


def print_json(obj) -> None:
    json.dump(to_jsonable(obj), sys.stdout, indent=2)
    sys.stdout.write("\n")
