"""glu-prune compare-models --results DIR [DIR ...] [--out DIR] [--tolerance 0.01]

Two or more models' consolidated evaluations (each model's `*_complete.json` with its per-document
files, e.g. the 1B and the 3B results of the 02_Evaluate notebooks) at the expansion ratios and the
pruning percentages they share: each model's share of its unpruned score and the paired difference
(evaluate/across_models.py), written as models_compared.csv and models_compared_complete.json in
--out (default: the first DIR); `glu-prune figures --results OUT` draws them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import UserError
from ..evaluate import write_across_models
from ..evaluate.across_models import FILES, RATIO_TOLERANCE
from ..report.metrics import CHANCE
from .common import check_writable_dir

LEVELS = {"expansion_ratio": "ratio", "pruning_pct": "percentage"}


def add_arguments(p) -> None:
    p.add_argument("--results", nargs="+", required=True, help="directories with consolidated evaluations")
    p.add_argument("--out", help="where the two files go (default: the first --results directory)")
    p.add_argument(
        "--tolerance",
        type=float,
        default=RATIO_TOLERANCE,
        help="the most two expansion ratios may differ to count as one (default: %(default)s)",
    )


def evaluation_completes(dirs) -> tuple[list[Path], set[str]]:
    """(the complete JSONs of consolidated lm-eval runs under `dirs`, not fidelity, profiles or
    this command's own output; the models they hold)."""
    found, models = [], set()
    for d in dirs:
        for path in sorted(Path(d).rglob("*complete.json")):
            try:
                runs = json.loads(path.read_text(encoding="utf-8")).get("runs")
            except (ValueError, OSError, AttributeError):
                raise UserError(f"{path} is not a readable complete JSON") from None
            kinds = {(r.get("identity") or {}).get("kind") for r in runs or [] if isinstance(r, dict)}
            if kinds == {"lm-eval"}:
                found.append(path)
                models |= {r["model"] for r in runs}
    return found, models


def run(args) -> int:
    dirs = [Path(d).expanduser() for d in args.results]
    for d in dirs:
        if not d.is_dir():
            raise UserError(f"--results {d} is not a directory")
    if not 0 <= args.tolerance < 1:
        raise UserError(f"--tolerance must be in [0, 1), got {args.tolerance}")
    completes, models = evaluation_completes(dirs)
    if len(models) < 2:
        raise UserError(
            f"the consolidated evaluations under {', '.join(map(str, dirs))} hold "
            f"{len(models)} model(s) ({', '.join(sorted(models)) or 'none'}): nothing to compare"
        )
    out = check_writable_dir(args.out or str(dirs[0]))
    out.mkdir(parents=True, exist_ok=True)
    table, complete = write_across_models(completes, out, chance=CHANCE, tolerance=args.tolerance)
    for row in complete["left_out"]:
        print(f"glu-prune compare-models: left out: {row}", file=sys.stderr)
    print(f"{out / FILES[0]}: {len(table)} rows from {len(completes)} files ({', '.join(sorted(models))})")
    for r in table.itertuples():
        print(
            f"  {r.task} {r.metric} {r.method}: {r.model_a} {r.pruning_pct_a:g} % vs {r.model_b} "
            f"{r.pruning_pct_b:g} % (ratios {r.expansion_ratio_a:.2f} vs {r.expansion_ratio_b:.2f}, "
            f"same {LEVELS[r.matched_on]}): shares {r.share_a:.3f} vs "
            f"{r.share_b:.3f}, difference {r.difference:+.3f} [{r.difference_ci_low:+.3f}, "
            f"{r.difference_ci_high:+.3f}], n = {r.n_paired}"
            + ("" if r.margin_resolved else " (an unpruned model is near chance: no margin to share)")
        )
    return 0
