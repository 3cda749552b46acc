"""glu-prune restore RESULTS [RESULTS ...] --out RUN_DIR

Committed evaluations (a consolidated complete JSON with its per-document files beside it, or the
folder holding complete.json) written back as the checkpoints of a run dir (evaluate/restore.py):
`evaluate` or `compare` with that --out then reuse every run whose identity today's code computes
alike instead of scoring it again, and consolidate new runs beside the restored ones. Checkpoints
the run dir already has are kept. Results that cannot be read are bad input (exit 2, nothing
written); a run that cannot be restored is named and the exit code is 1.
(`study --restore-from` does the same for a study's parts.)
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import UserError
from ..evaluate.restore import read_complete, restore_runs, tally
from .common import check_writable_dir


def add_arguments(p) -> None:
    p.add_argument("results", nargs="+", help="complete JSON files, or folders holding complete.json")
    p.add_argument("--out", required=True, help="the run dir (its checkpoints/ is created if missing)")


def run(args) -> int:
    sources = [Path(r) / "complete.json" if Path(r).is_dir() else Path(r) for r in args.results]
    if missing := [str(s) for s in sources if not s.is_file()]:
        raise UserError(f"no consolidated results to restore: {', '.join(missing)}")
    read = []
    for source in sources:  # all read before anything is written: a bad one is bad input
        unreadable = tally()
        read.append((source, read_complete(source, unreadable)))
        if unreadable["skipped"]:
            raise UserError(f"cannot restore from {source.parent}: {unreadable['skipped'][0]}")
    out, skipped = check_writable_dir(args.out), 0
    for source, (runs, files) in read:
        done = restore_runs(runs, files, source, out / "checkpoints", tally())
        for why in done["skipped"]:
            print(f"glu-prune restore: not restored: {why}", file=sys.stderr)
        print(
            f"{source}: {done['restored']} runs restored into {out / 'checkpoints'}, "
            f"{done['present']} already there, {len(done['skipped'])} not restored"
        )
        skipped += len(done["skipped"])
    return 1 if skipped else 0
