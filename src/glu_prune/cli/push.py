"""glu-prune push --model-dir DIR --repo-id OWNER/NAME [--results CSV ...] [--private] [--dry-run STAGING_DIR]

Uploads a `glu-prune prune` output, unchanged, with a generated README.md model card (pruning
record, measured scores with their settings and hardware). The token comes from HF_TOKEN or
`hf auth login` and is never printed. --dry-run writes the exact folder and uploads nothing.
"""

from __future__ import annotations

import sys

from ..report import push
from .common import print_json


def add_arguments(p) -> None:
    p.add_argument("--model-dir", required=True, help="a directory written by `glu-prune prune --out`")
    p.add_argument("--repo-id", required=True, help="the Hugging Face model repo, owner/name")
    p.add_argument(
        "--results",
        nargs="+",
        default=[],
        metavar="CSV",
        help="tidy evaluation (results.csv) and/or profile CSVs; rows of exactly this model go in the card",
    )
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument(
        "--dry-run",
        metavar="STAGING_DIR",
        help="write the folder and card here (new or empty) and upload nothing",
    )
    p.add_argument("--base-model", help="hub id of the base model (only when the registry does not know it)")
    p.add_argument("--license", help="license id of the base model (only when the registry does not know it)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args) -> int:

    summary = push(
        args.model_dir, args.repo_id, args.results, args.private, args.dry_run, args.base_model, args.license
    )
    if args.json:
        print_json(summary)
    elif summary["uploaded"]:
        print(summary["url"])
    else:
        print(summary["staged"])
        print(
            f"glu-prune push: dry run: {len(summary['files'])} files staged, {summary['scores']} score "
            "rows in the "
            f"card; nothing uploaded",
            file=sys.stderr,
        )
    return 0
