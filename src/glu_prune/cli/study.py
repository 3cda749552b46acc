"""glu-prune study [--plan default|quick|full|FILE] [--out DIR] [--results DIR] [--only JOB ...]
                  [--restore-from DIR]

The whole study, offline by default, on one model or several (a plan's parts): architecture
tables, selection-method comparison, capability sweep over the pruning levels, performance
profile, figures. One progress bar for the whole run. Resumable: run the same command again to
continue after an interruption; on a machine that has the results but not the work dir, add
--restore-from RESULTS to continue from them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from unittest.mock import patch

from ..errors import UserError
from ..study import PLANS, load_plan, run_study
from .common import check_writable_dir, print_json


def add_arguments(p) -> None:

    p.add_argument(
        "--plan", default="default", help=f"{', '.join(PLANS)} or a JSON file (default: %(default)s)"
    )
    p.add_argument(
        "--out", default="runs/study", help="work dir: checkpoints, caches, logs (default: %(default)s)"
    )
    p.add_argument("--results", help="where the results files and figures go (default: the work dir)")
    p.add_argument("--lanes", type=int, help="evaluation worker processes (default: the plan's)")
    p.add_argument("--no-profile", action="store_true", help="skip the performance profile")
    p.add_argument(
        "--only",
        nargs="+",
        metavar="JOB",
        help="run only the jobs whose names match these shell patterns, in the patterns' order "
        "(jobs: fidelity, unpruned-sweep, compare-METHOD, sweep-maw-PCT, unpruned-TASK, "
        "spot-TASK-PCT, sweep-best-PCT, fidelity-best, profile); e.g. --only unpruned-sweep 'sweep-maw-*'",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: consolidate what the work dir holds so far and draw the figures",
    )
    p.add_argument(
        "--restore-from",
        metavar="DIR",
        help="first write the evaluation and fidelity runs consolidated in this results dir back into "
        "the work dir as checkpoints (a run dir lost with its machine), then continue from them",
    )
    p.add_argument("--json", action="store_true", help="print the final status as JSON")


def run(args) -> int:

    if args.lanes is not None and args.lanes < 1:
        raise UserError("--lanes must be at least 1")
    import transformers

    transformers.utils.logging.disable_progress_bar()  # one bar per model load would bury the study's
    # and so would other libraries' own tqdm bars (a first run's GGUF dequantization): tqdm takes
    # its default from the environment; the study's bar sets `disable` itself
    with patch.dict(os.environ, {"TQDM_DISABLE": "1"}):
        plan = load_plan(args.plan)  # every check before any work or any write
        restore = _restorable(args.restore_from) if args.restore_from else None
        out = check_writable_dir(args.out)
        results = check_writable_dir(args.results) if args.results else None
        work = not args.report_only
        status = run_study(
            plan,
            out,
            results,
            args.lanes,
            profile=not args.no_profile,
            log=_log,
            work=work,
            only=args.only,
            restore_from=restore,
        )
    if args.json:
        print_json(status)
    again = "again to retry" + (", or without --only for the rest of the plan," if args.only else "")
    again = "without --report-only to measure" if args.report_only else again
    missing = f"INCOMPLETE (run the same command {again} what is missing)"
    verdict = "complete" if status["complete"] else missing
    damaged = len(status["damaged"])
    _log(
        f"glu-prune study: {verdict} in {status['minutes']:.1f} min; results in {status['results']}, "
        f"figures in {status['results']}/figures"
        + (f"; {damaged} damaged files were set aside and their work redone (see above)" if damaged else "")
    )
    return 0 if status["complete"] else 1


def _restorable(path: str) -> Path:
    found = Path(path)
    if not found.is_dir() or not any(found.glob("*_complete.json")):
        raise UserError(f"--restore-from {path}: no consolidated results there (no *_complete.json)")
    return found


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
