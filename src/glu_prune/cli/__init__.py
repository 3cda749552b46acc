"""`glu-prune`: one module per subcommand, each with `add_arguments(parser)` and `run(args)`.

Expected failures (UserError, bad flags) become one line on stderr and exit code 2; Ctrl-C
becomes one line and exit code 130 (`terminal.Interrupts`). This module imports nothing heavy, so
that a Ctrl-C while the subcommands' libraries load is already handled.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __doc__ as package_doc
from ..errors import UserError
from .terminal import Interrupts, quiet_libraries

# subcommand -> one-line help; the module glu_prune.cli.<name> implements it ("-" read as "_")
COMMANDS = {
    "architectures": "expansion ratios and exact parameter counts per pruning level (config only)",
    "prune": "prune a model's GLU MLPs and save a model plain transformers reloads",
    "methods": "list the neuron selection methods",
    "profile": "TTFT, time per output token, throughput, peak memory and energy per pruning level",
    "evaluate": "checkpointed lm-eval runs of a model, unpruned or pruned on the fly, on suites or tasks",
    "compare": "neuron-selection methods side by side at equal pruning levels (checkpointed lm-eval runs)",
    "fidelity": "KL divergence and top-1 agreement of pruned models with the unpruned one on held-out text",
    "restore": "write committed evaluations back as a run dir's checkpoints, to reuse and extend them",
    "compare-models": "two or more models at the expansion ratios or percentages they share, paired",
    "figures": "the study's PNG figures from the tidy result CSVs in a directory",
    "push": "upload a pruned model dir with a model card of its measured scores (or --dry-run)",
    "study": "the whole study from a plan (one or more models): tables, methods, sweep, profile, figures",
    "lm-eval": "lm-eval's own command line with the glu-prune back end registered (scale-out, comparisons)",
}


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage too)
        raise UserError(message)


def build_parser() -> Parser:
    parser = Parser(prog="glu-prune", description=package_doc.strip())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    with Interrupts() as interrupts:
        try:
            args = build_parser().parse_args(argv)
            quiet_libraries()
            module = importlib.import_module(f"{__name__}.{args.command.replace('-', '_')}")
            code = module.run(args) or 0
        except UserError as exc:
            print(f"glu-prune: error: {exc}", file=sys.stderr)
            return 2
        except BrokenPipeError:  # e.g. `| head`: the reader left, which is not an error of ours
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except KeyboardInterrupt:
            return interrupts.report()
        # a Ctrl-C that a library swallowed still means stop (the work it let finish is kept)
        return interrupts.report() if interrupts.received else code


if __name__ == "__main__":
    sys.exit(main())
