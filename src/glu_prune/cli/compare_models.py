"""glu-prune compare-models --results DIR [DIR ...] [--out DIR] [--tolerance 0.01]

Two or more models' consolidated evaluations (each model's `*_complete.json` with its per-document
files, e.g. the 1B and the 3B results of the 02_Evaluate notebooks) at the expansion ratios and the
pruning percentages they share: each model's share of its unpruned score and the paired difference
(evaluate/across_models.py), written as models_compared.csv and models_compared_complete.json in
--out (default: the first DIR); `glu-prune figures --results OUT` draws them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..evaluate.across_models import FILES, MATCHED_ON, RATIO_TOLERANCE
from ..report.compare_models import compare_models
from .common import check_writable_dir


def add_arguments(p) -> None:
    p.add_argument("--results", nargs="+", required=True, help="directories with consolidated evaluations")
    p.add_argument("--out", help="where the two files go (default: the first --results directory)")
    p.add_argument(
        "--tolerance",
        type=float,
        default=RATIO_TOLERANCE,
        help="the most two expansion ratios may differ to count as one (default: %(default)s)",
    )


def run(args) -> int:
    out = Path(args.out or args.results[0]).expanduser()
    if args.out or out.is_dir():  # a missing --results dir is compare_models' error
        out = check_writable_dir(str(out))
    table, complete = compare_models(args.results, out, args.tolerance)
    for row in complete["left_out"]:
        print(f"glu-prune compare-models: left out: {row}", file=sys.stderr)
    models = sorted(set(table["model_a"]) | set(table["model_b"]))
    print(f"{out / FILES[0]}: {len(table)} rows from {len(complete['sources'])} files ({', '.join(models)})")
    for r in table.itertuples():
        print(
            f"  {r.task} {r.metric} {r.method}: {r.model_a} {r.pruning_pct_a:g} % vs {r.model_b} "
            f"{r.pruning_pct_b:g} % (ratios {r.expansion_ratio_a:.2f} vs {r.expansion_ratio_b:.2f}, "
            f"same {MATCHED_ON[r.matched_on]}): shares {r.share_a:.3f} vs "
            f"{r.share_b:.3f}, difference {r.difference:+.3f} [{r.difference_ci_low:+.3f}, "
            f"{r.difference_ci_high:+.3f}], n = {r.n_paired}"
            + ("" if r.margin_resolved else " (an unpruned model is near chance: no margin to share)")
        )
    return 0
