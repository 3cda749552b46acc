"""glu-prune figures --results DIR [--out DIR]

Draws the study's PNG figures from the tidy CSVs found under DIR (evaluation results.csv with its
paired columns, fidelity_results.csv and *_profile_results.csv, with their complete JSON beside them
for the hardware). Figures that the results do not allow are listed on stderr with the reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import UserError
from ..report import draw_figures
from .common import check_writable_dir


def add_arguments(p) -> None:
    p.add_argument(
        "--results", required=True, help="directory holding the tidy result CSVs (searched recursively)"
    )
    p.add_argument("--out", help="where the PNGs go (default: <results>/figures)")


def run(args) -> int:

    results = Path(args.results).expanduser()
    if not results.is_dir():
        raise UserError(f"--results {args.results} is not a directory")
    out = check_writable_dir(args.out) if args.out else check_writable_dir(str(results / "figures"))
    report = draw_figures(results, out)
    if not report.written:
        raise UserError(f"no figure could be drawn from {results}: {'; '.join(report.notes)}")
    for note in report.notes:
        print(f"glu-prune figures: not drawn: {note}", file=sys.stderr)
    for path in report.written:
        print(path)
    return 0
