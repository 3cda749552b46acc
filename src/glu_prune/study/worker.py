"""Worker entry of the study's pool: python -m glu_prune.study.worker --plan PART --run-dir DIR --job JSON

PART is one model's plan (JSON) as the study wrote it into its folder of the run dir."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .jobs import run_job
from .plan import parse_plan


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plan", required=True)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--job", required=True)
    args = ap.parse_args(argv)
    (part,) = parse_plan(json.loads(Path(args.plan).read_text(encoding="utf-8")), args.plan).parts
    return run_job(part, json.loads(args.job), Path(args.run_dir))


if __name__ == "__main__":
    sys.exit(main())
