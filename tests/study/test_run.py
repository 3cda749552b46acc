"""The main job end to end: a study of two models (the quick smoke plan on the embedded model, and a
tiny random model from a local dir), every phase, one progress bar; then a rerun that meets a
damaged checkpoint, reports it on its output and in its status, and redoes its work."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from tiny import tiny_model

from glu_prune.cli import main
from glu_prune.study.plan import shipped_plan

EMBEDDED = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A tiny random Llama with the embedded model's tokenizer: a second model that exists offline."""
    from glu_prune.models import load_tokenizer

    path = tmp_path_factory.mktemp("models") / "tiny-llama"
    tiny_model("llama", vocab_size=49152, max_position_embeddings=512).save_pretrained(path)
    load_tokenizer("default").save_pretrained(path)
    return path


def two_models(tiny_dir) -> dict:
    """quick (embedded model) + a small part for the tiny model: MAW only, no data-driven method."""
    first = shipped_plan("quick").parts[0].to_dict()
    second = json.loads(json.dumps(first))
    second.update(model=str(tiny_dir), tasks={"wikipedia_ppl": {"num_fewshot": 0, "limit": 2}})
    second["comparison"].update(methods=["maw"], data_driven=[], tasks=["wikipedia_ppl"])
    second["sweep"]["tasks"] = ["wikipedia_ppl"]
    second["profile"].update(energy="none")
    del second["fidelity"]
    return {"about": "two models, tiny", "parts": [first, second]}


@pytest.mark.slow
def test_a_study_of_two_models_end_to_end(tmp_path, tiny_dir, capsys):
    out, results = tmp_path / "study", tmp_path / "results"
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(two_models(tiny_dir)))
    code = main(["study", "--plan", str(plan), "--out", str(out), "--results", str(results), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Loading weights" not in captured.err  # the console shows the study's own progress only
    status = json.loads(captured.out)
    assert status["complete"] is True and status["damaged"] == []
    assert list(status["parts"]) == [EMBEDDED, "tiny-llama"]  # in the plan's order
    assert all(p["evaluation"]["failed_jobs"] == [] for p in status["parts"].values())

    # one bar for the whole run: 8 jobs of the quick part (fidelity, unpruned, 2 comparisons, 2 sweeps,
    # fidelity of the best data-driven method's other levels (none here), profile), 4 of the tiny
    # one (unpruned, comparison, sweep, profile); no bare job lines
    assert "12/12" in captured.err and "  start " not in captured.err and "  done " not in captured.err

    # each part in its own folder of the run dir; the whole plan and each part's plan written
    assert json.loads((out / "plan.json").read_text())["parts"][1]["model"] == str(tiny_dir)
    for part in (EMBEDDED, "tiny-llama"):
        assert (out / part / "evaluation" / "checkpoints").is_dir() and (out / part / "plan.json").is_file()

    # every part's results in the one results dir, named by model
    sweep = pd.read_csv(results / f"{EMBEDDED}_offline_results.csv")
    assert set(sweep["method"]) == {"none", "maw", "data"} and set(sweep["pruning_pct"]) == {0, 40}
    assert set(sweep["task"]) == {"wikipedia_ppl", "piqa"} and sweep["value"].notna().all()
    assert sweep.loc[sweep.metric == "acc", "value"].between(0, 1).all()
    complete = json.loads((results / f"{EMBEDDED}_offline_complete.json").read_text())
    assert complete["settings"]["plan"]["model"] == "default" and complete["provenance"]["packages"]["torch"]
    assert complete["settings"]["chosen_data_method"] == "data"
    tiny = pd.read_csv(results / "tiny-llama_offline_results.csv")
    assert set(tiny["method"]) == {"none", "maw"} and set(tiny["task"]) == {"wikipedia_ppl"}
    assert tiny.loc[tiny.metric == "word_perplexity", "value"].gt(1000).all()  # random weights
    cmp = pd.read_csv(results / f"{EMBEDDED}_method_comparison_results.csv")
    assert set(cmp["method"]) == {"none", "maw", "data"} and set(cmp["task"]) == {"wikipedia_ppl"}
    fidelity = pd.read_csv(results / f"{EMBEDDED}_fidelity_results.csv")
    assert set(fidelity["method"]) == {"maw", "data"} and set(fidelity["pruning_pct"]) == {40}
    kl = fidelity.loc[fidelity.metric == "kl_mean", "value"]
    assert len(kl) == 2 and kl.gt(0).all() and fidelity["window"].eq(64).all()
    assert not (results / "tiny-llama_fidelity_results.csv").exists()  # its part plans no fidelity
    for model in (EMBEDDED, "tiny-llama"):
        profile = pd.read_csv(results / f"{model}_profile_results.csv")
        assert set(profile["pruning_pct"]) == {0, 40} and profile["tpot_ms"].gt(0).all()
    # the two models side by side where their levels meet: not at a ratio (1.60 against 1.80), at 40 %
    # with MAW on the one task both swept (wikipedia_ppl's three perplexities)
    assert status["models_compared"] == {"rows": 3, "left_out": 0}
    compared = pd.read_csv(results / "models_compared.csv")
    kinds = compared[["matched_on", "method", "task"]].itertuples(index=False, name=None)
    assert set(kinds) == {("pruning_pct", "maw", "wikipedia_ppl")}
    assert set(compared["pruning_pct_a"]) == {40} and compared["n_paired"].gt(0).all()
    arch = pd.read_csv(results / "model_architectures" / "expansion_rates_summary.csv")
    assert arch["model"].nunique() == 2 and set(arch["pruning_pct"]) == {0, 40}

    # figures drawn once, at the end, from both models' results
    written = status["figures"]["written"]
    assert {
        f"capability_vs_expansion_{EMBEDDED}_offline.png",
        "capability_vs_expansion_tiny-llama_offline.png",
        f"fidelity_vs_expansion_{EMBEDDED}_wikipedia_ppl.png",
    } <= set(written)
    assert sorted(p.name for p in (results / "figures").glob("*.png")) == sorted(written)

    # a damaged checkpoint met by the rerun: reported on the output and in the status, its work redone
    ckpt = next((out / EMBEDDED / "evaluation" / "checkpoints").glob("maw-40pct-piqa-*.json"))
    ckpt.write_text('{"identity": ')
    code = main(
        ["study", "--plan", str(plan), "--out", str(out), "--results", str(results), "--json", "--no-profile"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    again = json.loads(captured.out)
    assert again["complete"] is True and [d["where"] for d in again["damaged"]] == ["sweep-maw-40"]
    assert ckpt.name in again["damaged"][0]["message"]
    assert (
        f"sweep-maw-40: damaged checkpoint set aside, its work redone: {ckpt.parent}/damaged/{ckpt.name}"
        in (captured.err)
    )
    assert "1 damaged files were set aside" in captured.err
    assert json.loads((out / "status.json").read_text())["damaged"] == again["damaged"]
    redone = pd.read_csv(results / f"{EMBEDDED}_offline_results.csv")
    key = ["method", "pruning_pct", "task", "metric", "filter"]
    assert redone.sort_values(key)["value"].tolist() == sweep.sort_values(key)["value"].tolist()

    # --report-only runs nothing (no job starts, no log grows) and consolidates the same numbers
    logs = {p: p.stat().st_size for p in out.rglob("logs/*.log")}
    args = ["study", "--plan", str(plan), "--out", str(out), "--results", str(results), "--report-only"]
    assert main(args) == 0
    assert "nothing run (--report-only)" in capsys.readouterr().err
    assert {p: p.stat().st_size for p in out.rglob("logs/*.log")} == logs
    again = pd.read_csv(results / f"{EMBEDDED}_offline_results.csv")
    assert again.sort_values(key)["value"].tolist() == sweep.sort_values(key)["value"].tolist()

    # a new machine with the results but not the run dir: --restore-from brings the runs back
    fresh, again_results = tmp_path / "fresh", tmp_path / "again"
    args = ["study", "--plan", str(plan), "--out", str(fresh), "--results", str(again_results)]
    assert main([*args, "--restore-from", str(results), "--report-only"]) == 0
    runs = {
        r["checkpoint"]
        for view in ("offline", "method_comparison", "fidelity")
        for r in json.loads((results / f"{EMBEDDED}_{view}_complete.json").read_text())["runs"]
    }
    said = f"{EMBEDDED}: {len(runs)} checkpoints restored from {results}, 0 already in the run dir"
    assert said in capsys.readouterr().err
    restored = pd.read_csv(again_results / f"{EMBEDDED}_offline_results.csv")
    assert restored.sort_values(key)["value"].tolist() == sweep.sort_values(key)["value"].tolist()

    # --only runs the jobs it names and counts only them; the profile only when named
    args = ["study", "--plan", str(plan), "--out", str(out), "--results", str(results), "--json"]
    assert main([*args, "--only", "sweep-maw-*"]) == 0
    captured = capsys.readouterr()
    assert "2/2" in captured.err and "profile skipped" in captured.err  # one sweep job per part
    assert json.loads(captured.out)["complete"] is True


@pytest.mark.parametrize(
    "args,match",
    [
        (["--plan", "nope"], "not one of default, quick, full and no such file"),
        (["--plan", "quick", "--lanes", "0"], "--lanes must be at least 1"),
        (["--plan", "quick", "--only", "sweep-vow-*"], "--only 'sweep-vow-*' matches no job of this plan"),
        (["--plan", "quick", "--restore-from", "/no/such/dir"], "no consolidated results there"),
    ],
)
def test_bad_study_input(tmp_path, capsys, args, match):
    code = main(["study", *args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
