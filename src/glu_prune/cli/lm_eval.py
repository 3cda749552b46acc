"""glu-prune lm-eval [--offline] run|ls|validate ... : lm-eval's own command line, with the glu-prune
back end registered (`--model glu-prune`) and, with --offline, this package's offline tasks.

Everything after the subcommand's own flags is lm-eval's (`lm-eval run --help`). Being lm-eval's,
it scales out the way lm-eval does: data parallel under `accelerate launch` on GPUs, or under
`torchrun` with ACCELERATE_USE_CPU=1 on CPUs (accelerate's own CPU launcher needs MPI), e.g.

    ACCELERATE_USE_CPU=1 torchrun --nproc-per-node 2 $(which glu-prune) lm-eval --offline \\
        run --model glu-prune --model_args pretrained=PRUNED_DIR,dtype=float32 --tasks piqa --device cpu
"""

from __future__ import annotations

import argparse
import sys

from ..evaluate import NAME, backend_class
from ..tasks import TASKS_DIR, prepare_offline_env


def add_arguments(p) -> None:
    p.add_argument(
        "--offline",
        action="store_true",
        help="packaged benchmark data: no hub, and this package's tasks (same names as lm-eval's) "
        "added with --include_path",
    )
    p.add_argument(
        "lm_eval_args",
        nargs=argparse.REMAINDER,
        metavar="run|ls|validate ...",
        help=f"lm-eval's command line; the back end of this package is --model {NAME}, lm-eval's "
        "stock one --model hf",
    )


def run(args) -> int:
    from lm_eval.__main__ import cli_evaluate

    argv = list(args.lm_eval_args)
    backend_class()  # registers the back end in lm-eval's model registry
    if args.offline:
        prepare_offline_env()
        if argv[:1] in (["run"], ["ls"], ["validate"]) and "--include_path" not in argv:
            argv += ["--include_path", str(TASKS_DIR)]
    saved = sys.argv
    sys.argv = ["lm-eval", *argv]
    try:
        cli_evaluate()
    finally:
        sys.argv = saved
    return 0
