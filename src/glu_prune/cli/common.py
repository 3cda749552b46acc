"""Flags and checks shared by several subcommands."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from pathlib import Path

from ..errors import UserError
from ..models import AUTO, DEVICES, DTYPES, ModelSpec
from ..prune import DIVISORS, METHODS, PruneConfig
from ..store import to_jsonable


def quiet_libraries() -> None:
    """Keep library chatter off the terminal (warnings still reach stderr)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.getLogger("optipfair").setLevel(logging.WARNING)
    try:
        import transformers

        transformers.logging.set_verbosity_error()
    except ImportError:
        pass


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
    p.add_argument("--trust-remote-code", action="store_true")


def model_spec(args) -> ModelSpec:
    return ModelSpec(
        model=args.model,
        random_weights=args.random_weights,
        dtype=args.dtype,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
        seed=getattr(args, "seed", 0),
    )


def add_prune_arguments(p, required: bool = True) -> None:
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--pct", type=float, help="percentage of GLU neurons to remove, 0 < P < 100")
    g.add_argument(
        "--expansion-ratio", type=float, help="target intermediate/hidden ratio, below the current one"
    )
    p.add_argument(
        "--method", default="maw", help=f"neuron selection: {', '.join(METHODS)} (default: %(default)s)"
    )
    p.add_argument(
        "--divisor", type=int, choices=DIVISORS, help="round the kept width DOWN to a multiple of N"
    )
    p.add_argument("--seed", type=int, default=0, help="random method and calibration sampling")
    p.add_argument(
        "--layers", type=parse_int_list, help="comma-separated layer indices to prune (default: all)"
    )
    p.add_argument("--calibration-samples", type=int, default=64, help="data-driven methods: windows of text")
    p.add_argument(
        "--calibration-seq-len", type=int, default=256, help="data-driven methods: tokens per window"
    )


def prune_config(args) -> PruneConfig:
    return PruneConfig(
        method=args.method,
        pct=args.pct,
        expansion_ratio=args.expansion_ratio,
        divisor=args.divisor,
        seed=args.seed,
        layers=tuple(args.layers) if args.layers else None,
        calibration_samples=args.calibration_samples,
        calibration_seq_len=args.calibration_seq_len,
    )


def parse_int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"expected comma-separated integers, got {text!r}") from None


def parse_float_list(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise UserError("expected at least one number")
    return values


def _check_writable(path: str, out: Path) -> None:
    """The nearest existing ancestor must be a directory we can create files in (tried, not
    guessed from permission bits: root passes those checks on read-only file systems)."""
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"--out {path}: {parent} is not a directory")
    try:
        tempfile.TemporaryFile(dir=parent).close()
    except OSError as exc:
        raise UserError(f"--out {path}: {parent} is not writable ({exc.strerror})") from None


def check_new_output_dir(path: str) -> Path:
    """An output dir that does not exist yet (or is empty) in a writable place."""
    out = Path(path).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {path} already exists and is not an empty directory")
    _check_writable(path, out)
    return out


def check_writable_dir(path: str) -> Path:
    """A results dir that may already hold checkpoints (they are reused, never overwritten)."""
    out = Path(path).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {path} exists and is not a directory")
    _check_writable(path, out)
    return out


def print_json(obj) -> None:
    json.dump(to_jsonable(obj), sys.stdout, indent=2)
    sys.stdout.write("\n")
