"""Worker entry of the study's pool: python -m glu_prune.study.worker --plan FILE --run-dir DIR --job JSON"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .jobs import run_job
from .plan import load_plan


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plan", required=True)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--job", required=True)
    args = ap.parse_args(argv)
    return run_job(load_plan(args.plan), json.loads(args.job), Path(args.run_dir))


if __name__ == "__main__":
    sys.exit(main())
