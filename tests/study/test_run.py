"""The main job end to end in its quick smoke plan: every phase runs and writes its files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from glu_prune.cli import main


@pytest.mark.slow
def test_quick_study_end_to_end(tmp_path, capsys):
    out = tmp_path / "study"
    code = main(["study", "--plan", "quick", "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Loading weights" not in captured.err  # the console shows the study's own progress only
    status = json.loads(captured.out)
    assert status["complete"] is True
    assert status["phases"]["evaluation"]["failed_jobs"] == []

    sweep = pd.read_csv(out / "smollm2-135m-instruct_offline_results.csv")
    assert set(sweep["method"]) == {"none", "maw", "data"}
    assert set(sweep["pruning_pct"]) == {0, 40}
    assert set(sweep["task"]) == {"wikipedia_ppl", "piqa"}
    assert sweep["value"].notna().all()
    complete = json.loads((out / "smollm2-135m-instruct_offline_complete.json").read_text())
    assert complete["settings"]["plan"]["model"] == "default" and complete["provenance"]["packages"]["torch"]

    assert (out / "method_comparison_results.csv").is_file()
    profile = pd.read_csv(out / "smollm2-135m-instruct_profile_results.csv")
    assert set(profile["pruning_pct"]) == {0, 40} and profile["tpot_ms"].gt(0).all()
    assert (out / "model_architectures" / "expansion_rates_summary.csv").is_file()
    assert any(p.suffix == ".png" for p in (out / "figures").iterdir())


@pytest.mark.parametrize(
    "args,match",
    [
        (["--plan", "nope"], "not one of default, quick, full and no such file"),
        (["--plan", "quick", "--lanes", "0"], "--lanes must be at least 1"),
    ],
)
def test_bad_study_input(tmp_path, capsys, args, match):
    code = main(["study", *args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_bad_plan_file(tmp_path, capsys):
    from glu_prune.study import load_plan

    plan = load_plan("quick")
    plan["comparison"]["methods"].append("magic")
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    code = main(["study", "--plan", str(path), "--out", str(tmp_path / "o")])
    assert code == 2 and "unknown methods magic" in capsys.readouterr().err
