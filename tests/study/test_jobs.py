"""A plan's jobs (pure: no model loads): their order, what each waits for, which configs each
prunes, and the planned pairs of the consolidated views."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glu_prune.errors import UserError
from glu_prune.store import identity_key
from glu_prune.study.jobs import (
    comparison_pairs,
    evaluation_jobs,
    fidelity_configs,
    pick_best,
    planned_fidelity_keys,
    planned_keys,
    prepare_best,
    select_jobs,
    sweep_pairs,
)
from glu_prune.study.plan import shipped_plan


def labels(configs) -> list[str]:
    return [c.label for c in configs]


def test_full_plan_jobs_start_with_fidelity_and_what_every_pairing_needs():
    part = shipped_plan("full").parts[0]
    jobs = evaluation_jobs(part)
    names = [j["name"] for j in jobs]
    assert names[:5] == [
        "fidelity",
        "unpruned-sweep",
        "compare-maw",
        "compare-data",
        "compare-data-optipfair",
    ]
    assert names[-3:] == ["sweep-best-60", "unpruned-gsm8k", "fidelity-best"]
    by_name = {j["name"]: j for j in jobs}
    sweeps = [by_name[f"sweep-maw-{p}"] for p in (10, 20, 30, 40, 50, 60)]  # one job per level
    assert all(j["after"] == ["compare-maw"] for j in sweeps)  # reuses its checkpoints, never races it
    assert [labels(j["configs"]) for j in sweeps] == [[f"maw-{p}pct"] for p in (10, 20, 30, 40, 50, 60)]
    spot = [by_name[f"spot-{t}-{p}"] for p in (20, 40, 60) for t in ("mmlu", "ifeval")]  # one per level, task
    assert [j["tasks"] for j in spot] == [["mmlu"], ["ifeval"]] * 3
    assert [labels(j["configs"]) for j in spot[::2]] == [[f"maw-{p}pct"] for p in (20, 40, 60)]
    assert by_name["unpruned-ifeval"]["configs"] == [None]
    # random and the data-driven methods at 3 seeds, the others at one, x 3 levels; MAW's other levels
    fidelity = by_name["fidelity"]["configs"]
    assert len(fidelity) == len(set(labels(fidelity))) == 4 * 3 + 3 * 3 * 3 + 3
    assert labels(fidelity[:6]) == [f"maw-{p}pct" for p in (10, 20, 30, 40, 50, 60)]  # the curve first
    assert by_name["fidelity"]["kind"] == "fidelity" and by_name["fidelity-best"]["configs"] == []


def test_the_best_data_method_is_swept_and_compared_once_chosen():
    part = shipped_plan("full").parts[0]
    said, chosen = [], {"method": "data", "means": {"data": 30.0}}
    jobs = {j["name"]: j for j in evaluation_jobs(part)}
    sweep = prepare_best(part, Path("unused"), chosen, said.append, jobs["sweep-best-30"])
    fidelity = prepare_best(part, Path("unused"), chosen, said.append, jobs["fidelity-best"])
    assert sweep["name"] == "sweep-best-30" and labels(sweep["configs"]) == ["data-30pct-s0"]
    assert len(fidelity["configs"]) == 3  # 30, 50, 60: the comparison's fidelity has 10, 20, 40
    assert fidelity["name"] == "fidelity-best" and said == []  # chosen before: not picked again
    all_fidelity = fidelity_configs(part, "data")
    assert set(labels(fidelity["configs"])) <= set(labels(all_fidelity))


def test_the_best_data_method_is_picked_on_the_configurations_all_methods_have():
    """Mid-run, `b` has only its 10 % run, which beats `a` there: it must not win on its easy level
    alone (the study's sweep would then follow a method chosen on unequal ground)."""
    import pandas as pd

    rows = pd.DataFrame(
        [("a", 10, 0, 110.0), ("a", 40, 0, 300.0), ("a", 10, 1, 112.0), ("b", 10, 0, 105.0)],
        columns=["method", "pruning_pct", "seed", "value"],
    )
    assert pick_best(rows, lower_is_better=True) == ("b", {"a": 110.0, "b": 105.0})
    rows.loc[len(rows)] = ("b", 40, 0, 420.0)
    best, means = pick_best(rows, lower_is_better=True)
    assert best == "a" and means == {"a": 205.0, "b": 262.5}  # seed 1 of `a` has no partner: left out
    assert pick_best(rows, lower_is_better=False)[0] == "b"
    with pytest.raises(UserError, match="share no measured level and seed"):
        pick_best(rows[rows.seed.eq(1) | rows.method.eq("b")], lower_is_better=True)


def test_spot_tasks_are_planned_at_their_levels_only():
    part = shipped_plan("full").parts[0]
    pairs = sweep_pairs(part, "data")
    ifeval = sorted((c.pct if c else 0) for c, t in pairs if t == "ifeval")
    assert ifeval == [0, 20, 40, 60] and {c.method for c, t in pairs if t == "mmlu" and c} == {"maw"}
    assert not [t for c, t in pairs if t == "gsm8k" and c is not None]  # unpruned only


def test_selected_jobs_run_in_the_patterns_order_without_waits_on_jobs_left_out():
    jobs = evaluation_jobs(shipped_plan("full").parts[0])
    picked = select_jobs(jobs, ["unpruned-ifeval", "spot-ifeval-*", "sweep-maw-*", "compare-maw"])
    names = [j["name"] for j in picked]
    assert names == [
        "unpruned-ifeval",
        *[f"spot-ifeval-{p}" for p in (20, 40, 60)],
        *[f"sweep-maw-{p}" for p in (10, 20, 30, 40, 50, 60)],  # the plan's order within a pattern
        "compare-maw",
    ]
    assert all(j["after"] == ["compare-maw"] for j in picked if j["name"].startswith("sweep-maw"))
    alone = select_jobs(jobs, ["sweep-maw-40"])  # the comparison left out: the sweep scores its tasks
    assert [(j["name"], j["after"]) for j in alone] == [("sweep-maw-40", [])]
    assert select_jobs(jobs, None) is jobs


def test_the_committed_study_is_the_full_plans_on_this_machine():
    """Every run of results/full-study has the identity the full plan gives it here, so a study
    continued on another machine (--restore-from) reuses it: the plan pins what would differ between
    machines (the dtype); only what changes the numbers (a pinned version, a task's data or
    prompts) may break this, and then the committed runs are stale."""
    results = Path(__file__).parents[2] / "results" / "full-study"
    for part in shipped_plan("full").parts:
        views = {part.sweep_view: None, part.comparison_view: comparison_pairs(part)}
        for view, pairs in views.items():
            complete = json.loads((results / f"{view}_complete.json").read_text())
            pairs = pairs or sweep_pairs(part, complete["settings"]["chosen_data_method"])
            planned = planned_keys(part, pairs)
            stale = [r["checkpoint"] for r in complete["runs"] if identity_key(r["identity"]) not in planned]
            assert complete["runs"] and not stale, (view, stale[:3])
        best = complete["settings"]["chosen_data_method"]
        planned = planned_fidelity_keys(part, best)
        complete = json.loads((results / f"{part.name}_fidelity_complete.json").read_text())
        stale = [r["checkpoint"] for r in complete["runs"] if identity_key(r["identity"]) not in planned]
        assert complete["runs"] and not stale, ("fidelity", stale[:3])
