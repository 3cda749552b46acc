"""The benchmark suites of the study, as data: lm-eval task names with their few-shot counts.

Few-shot counts belong to each task and are passed to lm-eval one task at a time, because one
`simple_evaluate` call applies a single `num_fewshot` to every task it runs (the original study
ran its 5-shot tasks 0-shot that way).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError


@dataclass(frozen=True)
class TaskSpec:
    name: str  # lm-eval's task name (offline tasks use the same name)
    num_fewshot: int = 0
    limit: int | None = None  # documents; None: the run's limit (studies size each task apart)

    def __post_init__(self):
        if self.num_fewshot < 0 or (self.limit is not None and self.limit < 1):
            raise UserError(f"{self.name}: few-shot count must be >= 0 and a limit >= 1")


def _suite(*entries: str | tuple[str, int]) -> tuple[TaskSpec, ...]:
    return tuple(TaskSpec(*e) if isinstance(e, tuple) else TaskSpec(e) for e in entries)


BENCHMARKS_BASE = _suite(
    "wikitext",
    ("mmlu", 5),
    "arc_challenge",
    "hellaswag",
    "winogrande",
    "piqa",
    "boolq",
    "lambada_openai",
    "truthfulqa_mc1",
    "truthfulqa_mc2",
    ("gsm8k", 5),
    "ifeval",
    "leaderboard_musr",
)
BENCHMARKS_INSTRUCT = _suite(
    "leaderboard_musr",
    "truthfulqa_mc1",
    "truthfulqa_mc2",
    "lambada_openai",
    ("mmlu", 5),
    ("gsm8k", 5),
    "ifeval",
)
SUITES = {"base": BENCHMARKS_BASE, "instruct": BENCHMARKS_INSTRUCT}

# Offline, a hub-only task is reported as "needs hub"; where packaged data allows a close
# stand-in it runs too, under its OWN name (a Wikipedia-prose perplexity is not WikiText-2).
OFFLINE_STANDINS = {"wikitext": TaskSpec("wikipedia_ppl")}

# Language-modelling tasks score how a text continues, not how a request is answered: wrapped in a
# chat template the continuation becomes the start of an assistant reply (SmolLM2-135M-Instruct on
# LAMBADA: accuracy 0, perplexity in the millions). With the chat template on "auto" they are scored
# as plain text even for instruct models; the record says which way each task ran.
PLAIN_TEXT_TASKS = frozenset({"wikitext", "wikipedia_ppl", "lambada_openai"})

# few-shot counts of tasks named with --tasks (everything not listed here is 0-shot)
DEFAULT_FEWSHOT = {t.name: t.num_fewshot for suite in SUITES.values() for t in suite}


def suite_tasks(suite: str, offline: bool) -> list[TaskSpec]:
    """A named suite's tasks; offline, plus the stand-ins of its hub-only tasks (which stay listed,
    so that a run reports them as needing the hub).

    Raises:
        UserError: unknown suite name.
    """
    if suite not in SUITES:
        raise UserError(f"unknown suite {suite!r}; choose one of {', '.join(SUITES)}")
    tasks = []
    for task in SUITES[suite]:
        tasks.append(task)
        if offline and task.name in OFFLINE_STANDINS:
            tasks.append(OFFLINE_STANDINS[task.name])
    return tasks


def named_tasks(names: list[str], fewshot: int | None = None) -> list[TaskSpec]:
    """TaskSpecs for task names given by hand: each task's suite few-shot count, or `fewshot` for all."""
    if not names:
        raise UserError("give at least one task")
    if len(set(names)) != len(names):
        raise UserError(f"a task is listed twice in {','.join(names)}")
    return [TaskSpec(n, DEFAULT_FEWSHOT.get(n, 0) if fewshot is None else fewshot) for n in names]
