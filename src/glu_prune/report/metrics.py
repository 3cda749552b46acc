"""Which metric speaks for each task, which tasks are 'fragile' or 'robust', and when two result
rows measured the same thing (pitfall 13: the original compared `acc` of the baseline with
`acc_norm` of pruned models)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One lm-eval metric of a task: its name, lm-eval filter, and direction."""

    name: str
    filter: str = "none"
    higher_is_better: bool = True


# The metric(s) that speak for each task. The FIRST is the task's headline (used in group means
# and the decision matrix); the others are drawn too. Names, filters and directions checked
# against lm-eval 0.4.13's task YAMLs (and this project's offline YAMLs, which keep them).
PRIMARY_METRICS: dict[str, tuple[Metric, ...]] = {
    "wikitext": (Metric("word_perplexity", higher_is_better=False),),
    "wikipedia_ppl": (Metric("word_perplexity", higher_is_better=False),),
    # headline acc: a perplexity ratio is heavy-tailed; the perplexity task above covers it
    "lambada_openai": (Metric("acc"), Metric("perplexity", higher_is_better=False)),
    "mmlu": (Metric("acc"),),
    "arc_challenge": (Metric("acc_norm"),),
    "hellaswag": (Metric("acc_norm"),),
    "winogrande": (Metric("acc"),),
    "piqa": (Metric("acc_norm"),),
    "boolq": (Metric("acc"),),
    "truthfulqa_mc1": (Metric("acc"),),
    "truthfulqa_mc2": (Metric("acc"),),
    "gsm8k": (Metric("exact_match", "flexible-extract"), Metric("exact_match", "strict-match")),
    "ifeval": (Metric("prompt_level_strict_acc"),),
    "leaderboard_musr": (Metric("acc_norm"),),
}

# Score of uniform guessing over the answer choices, where that is well defined (drawn as a guide:
# a retention near chance/baseline means the task no longer separates the models).
CHANCE = {
    "mmlu": 0.25,
    "arc_challenge": 0.25,
    "hellaswag": 0.25,
    "winogrande": 0.5,
    "piqa": 0.5,
    "boolq": 0.5,
}

CAPABILITY_GROUPS: dict[str, tuple[str, ...]] = {
    "fragile": ("mmlu", "gsm8k", "wikitext", "wikipedia_ppl", "lambada_openai"),
    "robust": ("ifeval", "leaderboard_musr", "truthfulqa_mc1", "truthfulqa_mc2"),
}
CAPABILITY_GROUPS_NOTE = (
    "The original study's hypothesis, to be tested here, not assumed: knowledge and perplexity "
    "tasks ('fragile') degrade under GLU width pruning while instruction following and "
    "truthfulness ('robust') hold up. Every other task is 'other'."
)
GROUP_ORDER = ("fragile", "robust", "other")

# Two rows measure the same thing only when all of these agree (besides the pruning config).
LIKE_KEYS = (
    "model",
    "task",
    "subtask",
    "metric",
    "filter",
    "num_fewshot",
    "data_source",
    "limit",
    "chat_template",
)
# A pruned configuration, as it appears in the tidy evaluation CSV.
CONFIG_KEYS = ("model", "method", "pruning_pct", "divisor", "seed")
NO_STDERR = "lm-eval gives no stderr for this metric: uncertainty unknown, not zero"


def group_of(task: str) -> str:
    """'fragile', 'robust' or 'other' (see CAPABILITY_GROUPS_NOTE)."""
    return next((g for g, tasks in CAPABILITY_GROUPS.items() if task in tasks), "other")


def headline(task: str) -> Metric | None:
    return PRIMARY_METRICS[task][0] if task in PRIMARY_METRICS else None


def headline_mask(frame):
    """Per row of a table with task, metric and filter columns: is it its task's headline metric?
    (A task without one has none.)"""
    import numpy as np

    return np.array(
        [
            (m := headline(t)) is not None and (metric, flt) == (m.name, m.filter)
            for t, metric, flt in zip(frame["task"], frame["metric"], frame["filter"], strict=True)
        ],
        bool,
    )
