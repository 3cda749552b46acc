"""glu-prune evaluate --model M [--pct P --method X | --levels 0,10,...] (--suite S | --tasks a,b) --out DIR

Checkpointed lm-eval runs: rerun the same command to resume; finished tasks are reused, failed
ones retried. The run dir also gets results.csv (with the paired columns of every pruned row against
the unpruned run), complete.json and documents/ (each task run's per-document values).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from ..errors import UserError
from ..evaluate import (
    BACKENDS,
    NAME,
    SUITES,
    EvalSettings,
    consolidate_results,
    named_tasks,
    run_robust_evaluation,
    suite_tasks,
)
from ..models import AUTO
from ..prune import level_configs
from ..tasks import check_tasks
from .common import (
    add_model_arguments,
    add_prune_arguments,
    check_no_pruning_flags,
    check_writable_dir,
    model_spec,
    parse_float_list,
    print_json,
    prune_config,
    use_threads,
)


def add_eval_arguments(p, tasks_required: bool = True) -> None:
    """Task selection and run settings shared by `evaluate` and `compare`."""

    g = p.add_mutually_exclusive_group(required=tasks_required)
    g.add_argument("--suite", choices=tuple(SUITES), help="a named benchmark suite")
    g.add_argument("--tasks", help="comma-separated lm-eval task names")
    p.add_argument("--offline", action="store_true", help="packaged benchmark data only (no hub)")
    p.add_argument("--limit", type=int, help="documents per task (mmlu: spread over its subjects)")
    p.add_argument(
        "--sample-seed",
        type=int,
        help="draw the --limit documents of each task at random with this seed (the same ones on "
        "every machine; recorded) instead of taking the split's first ones, which are no sample of "
        "an ordered split (HellaSwag's first 3,243 are all ActivityNet)",
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default=NAME,
        help="lm-eval model back end. glu-prune (default): lm-eval's HF back end with the answer "
        "choices of a document scored over one computation of their shared context, the output "
        "layer only where a token is scored, and greedy generation with per-row stops; what it "
        "cannot score exactly goes to lm-eval's own code and is counted in the run record. "
        "hf: lm-eval's stock HF back end, to compare (its results are kept apart)",
    )
    p.add_argument(
        "--batch-size",
        help="an integer or 'auto'; glu-prune: documents per forward pass (default: 8 on a CPU, 64 on "
        "a GPU); hf: requests per forward pass (default: 8 on a CPU, auto on a GPU); recorded",
    )
    p.add_argument(
        "--max-batch-size", type=int, default=16, help="cap for --batch-size auto (default: %(default)s)"
    )
    p.add_argument(
        "--max-batch-tokens",
        type=int,
        help="glu-prune: padded tokens per forward pass (default: 2048 on a CPU, 32768 on a GPU)",
    )
    p.add_argument(
        "--max-length", type=int, help="context length lm-eval uses (default: from the model config)"
    )
    p.add_argument(
        "--chat-template",
        choices=("auto", "on", "off"),
        default="auto",
        help="apply the model's chat template (auto: for instruct models)",
    )
    p.add_argument(
        "--out", required=True, help="run dir: checkpoints, request caches, results.csv, complete.json"
    )
    p.add_argument("--json", action="store_true", help="print only the result records, as a JSON list")


def add_arguments(p) -> None:
    add_model_arguments(p, dtype=AUTO)
    add_prune_arguments(p, required=False)
    p.add_argument(
        "--levels", type=parse_float_list, help="pruning percentages, 0 = unpruned (instead of --pct)"
    )
    add_eval_arguments(p)


def eval_settings(args):

    batch = args.batch_size
    if batch not in (None, "auto"):
        try:
            batch = int(batch)
        except ValueError:
            raise UserError(f"--batch-size must be an integer or 'auto', got {batch!r}") from None
    if args.max_batch_size < 1:
        raise UserError("--max-batch-size must be positive")
    return EvalSettings(
        offline=args.offline,
        limit=args.limit,
        sample_seed=args.sample_seed,
        chat_template={"auto": None, "on": True, "off": False}[args.chat_template],
        max_length=args.max_length,
        backend=args.backend,
        batch_size=batch,
        max_batch_size=args.max_batch_size,
        max_batch_tokens=args.max_batch_tokens,
    )


def selected_tasks(args):
    """TaskSpecs from --suite or --tasks; a task named by hand that needs the hub offline is an error."""

    if args.suite:
        return suite_tasks(args.suite, args.offline)
    names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    tasks = named_tasks(names)
    check_tasks(names, args.offline)
    return tasks


def prune_configs(args) -> list:
    """--levels (0 = unpruned) or --pct/--expansion-ratio, or nothing (unpruned)."""
    if args.levels is not None:
        if args.pct is not None or args.expansion_ratio is not None:
            raise UserError("give either --levels or --pct/--expansion-ratio, not both")
        base = prune_config(argparse.Namespace(**{**vars(args), "pct": 50.0}))  # flags checked, defaults
        configs = level_configs(
            args.levels,
            base.method,
            base.divisor,
            base.seed,
            layers=base.layers,
            calibration_samples=base.calibration_samples,
            calibration_seq_len=base.calibration_seq_len,
        )
        if not any(configs):
            check_no_pruning_flags(args, "a level above 0")
        return configs
    if args.pct is None and args.expansion_ratio is None:
        check_no_pruning_flags(args, "--pct, --expansion-ratio or --levels")
        return [None]
    return [prune_config(args)]


def report(status, out, args) -> int:

    if args.json:
        print_json(status.records)
    else:
        for rec in status.records:
            p = rec["pruning"]
            top = [m for m in rec["metrics"] if m["subtask"] == rec["task"]]
            shown = ", ".join(
                f"{m['metric']}{'' if m['filter'] == 'none' else '/' + m['filter']}={float(m['value']):.4g}"
                + (f"±{float(m['stderr']):.2g}" if m["stderr"] is not None else "")
                for m in top
                if m["value"] is not None  # a non-finite value is stored as "inf" or "nan"
            )
            print(f"{p['method']:>14} {p['pruning_pct']:>5g}%  {rec['task']:<16} {shown}")
    consolidate_results(out)
    print(f"glu-prune evaluate: {status.summary()}; consolidated in {out}/results.csv", file=sys.stderr)
    return 1 if status.failed else 0


def run(args) -> int:

    settings = eval_settings(args)  # every check runs before any model loads
    tasks = selected_tasks(args)
    configs = prune_configs(args)
    use_threads(args)
    spec = model_spec(args)
    out = check_writable_dir(args.out)
    with stdout_to_stderr():  # lm-eval prints progress on stdout
        status = run_robust_evaluation(spec, configs, tasks, out, settings, progress=not args.json)
    return report(status, out, args)


@contextlib.contextmanager
def stdout_to_stderr():
    """lm-eval prints progress with print(), on fd 1 (its bootstrap pool too): route it to stderr
    so that stdout carries only our output."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
