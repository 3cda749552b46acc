"""Methods against MAW at the same level, paired on the same documents, through constructed
per-document files: which runs pair, the statistics, and what is left out or refused."""

from __future__ import annotations

import pandas as pd
import pytest

from glu_prune.errors import UserError
from glu_prune.evaluate.contrasts import method_contrasts
from glu_prune.evaluate.documents import write_documents
from glu_prune.evaluate.paired import PairedSettings
from glu_prune.report.fig_contrasts import headline_contrasts
from glu_prune.report.figures import draw_figures
from glu_prune.report.results import load_results

FAST = PairedSettings(n_resamples=500)
N = 40


def run(tmp_path, name, outcomes, method=None, pct=None, seed=None, hashes="d"):
    """A finished piqa run: `outcomes` are the per-document 0/1 of acc."""
    rows = [
        {"task": "piqa", "doc_id": i, "filter": "none", "doc_hash": f"{hashes}{i}", "prompt_hash": f"p{i}",
         "values": {"acc": v}}
        for i, v in enumerate(outcomes)
    ]  # fmt: skip
    info = write_documents(tmp_path / f"{name}.documents.jsonl.gz", rows, {"piqa": {"acc": "mean"}})
    prune = None if method is None else {"method": method, "pct": pct, "divisor": None, "seed": seed}
    return {
        "checkpoint": name,
        "task": "piqa",
        "model": "m",
        "data_source": "offline",
        "identity": {"task": "piqa", "limit": N, "prune": prune},
        "pruning": {
            "method": method or "none",
            "pruning_pct": pct or 0.0,
            "effective_pruning_pct": pct or 0.0,
            "seed": seed,
            "intermediate_size": 10,
            "expansion_ratio": 2.0,
            "parameters_after": 100,
        },
        "metrics": [
            {"subtask": "piqa", "metric": "acc", "filter": "none", "value": sum(outcomes) / len(outcomes)}
        ],
        "documents": info,
    }


def contrasts(tmp_path, runs):
    return method_contrasts(runs, lambda r: tmp_path / r["documents"]["file"], settings=FAST)


def test_each_method_pairs_with_maw_at_its_own_level(tmp_path):
    maw20, maw40 = [1] * 10 + [0] * 30, [1] * 5 + [0] * 35
    data20 = [1] * 30 + [0] * 10  # 20 documents right that MAW got wrong, none the other way
    runs = [
        run(tmp_path, "base", [1] * 32 + [0] * 8),
        run(tmp_path, "maw20", maw20, "maw", 20),
        run(tmp_path, "maw40", maw40, "maw", 40),
        run(tmp_path, "data20", data20, "data", 20, seed=0),
        run(tmp_path, "random40s1", [0] * 5 + [1] * 5 + [0] * 30, "random", 40, seed=1),
        run(tmp_path, "vow60", [0] * N, "vow", 60),  # no MAW at 60 %: no contrast
    ]
    table, left_out = contrasts(tmp_path, runs)
    assert not left_out and list(table["checkpoint"]) == ["data20", "random40s1"]
    data, rnd = table.iloc[0], table.iloc[1]
    assert data["reference_checkpoint"] == "maw20" and rnd["reference_checkpoint"] == "maw40"
    assert data["delta"] == pytest.approx(0.75 - 0.25) and data["reference_value"] == pytest.approx(0.25)
    assert data["n_paired"] == N and data["p_test"] == "mcnemar-exact"
    assert data["p_value"] == pytest.approx(2 * 0.5**20)  # 20 discordant pairs, all one way
    assert data["delta_ci_low"] > 0  # resolved: data is better than MAW here
    assert rnd["delta"] == 0 and rnd["p_value"] == 1.0 and rnd["seed"] == 1  # 10 discordant, 5 each way
    assert (table["p_adjusted"] >= table["p_value"]).all() and (table["reference_method"] == "maw").all()


def test_no_maw_run_no_contrast_and_a_missing_file_is_left_out_with_its_reason(tmp_path):
    alone = [run(tmp_path, "vow20", [1] * N, "vow", 20), run(tmp_path, "l2_20", [0] * N, "l2", 20)]
    assert contrasts(tmp_path, alone)[0].empty
    runs = [*alone, run(tmp_path, "maw20", [1] * N, "maw", 20)]
    (tmp_path / "vow20.documents.jsonl.gz").unlink()
    table, left_out = contrasts(tmp_path, runs)
    assert list(table["checkpoint"]) == ["l2_20"]
    assert left_out == [("vow20", "piqa", "acc", "its per-document file vow20.documents.jsonl.gz is missing")]


def test_runs_that_did_not_answer_the_same_documents_are_an_error(tmp_path):
    runs = [
        run(tmp_path, "maw20", [1] * N, "maw", 20),
        run(tmp_path, "pon20", [1] * N, "pon", 20, hashes="x"),
    ]
    with pytest.raises(UserError, match="differs"):
        contrasts(tmp_path, runs)


def test_the_contrasts_are_read_back_oriented_and_drawn(tmp_path):
    runs = [
        run(tmp_path, "maw20", [1] * 10 + [0] * 30, "maw", 20),
        run(tmp_path, "data20", [1] * 30 + [0] * 10, "data", 20, seed=0),
    ]
    table, _ = contrasts(tmp_path, runs)
    table["task"] = table["task"].replace({"piqa": "arc_challenge"})  # headline acc_norm: not drawn
    ppl = table.assign(task="wikipedia_ppl", metric="word_perplexity", higher_is_better=False)
    both = pd.concat([table.assign(task="winogrande"), ppl, table])  # winogrande's headline is acc
    both.to_csv(tmp_path / "contrasts.csv", index=False)
    rs = load_results(tmp_path / "contrasts.csv")
    rows = headline_contrasts(rs.contrasts).set_index("task")
    assert set(rows.index) == {"winogrande", "wikipedia_ppl"}
    assert rows.loc["winogrande", "better"] == pytest.approx(0.5)  # a score: 0.75 - 0.25
    assert rows.loc["winogrande", "better_low"] == pytest.approx(table["delta_ci_low"].iloc[0])
    assert rows.loc["winogrande", "reference"] == 0 and rows.loc["wikipedia_ppl", "reference"] == 1
    assert rows.loc["wikipedia_ppl", "better"] == pytest.approx(1 / 3)  # lower is better: MAW / method
    assert rows.loc["wikipedia_ppl", "better_low"] == pytest.approx(1 / table["ratio_ci_high"].iloc[0])
    report = draw_figures(rs, tmp_path / "figures")
    assert [p.name for p in report.written] == ["method_contrasts_m_offline.png"], report.notes
    both.to_csv(tmp_path / "X_contrasts.csv", index=False)  # a second view with the same runs
    assert len(load_results(tmp_path).contrasts) == len(both)  # read once
    other = both.assign(checkpoint="data20-other-limit")
    other.to_csv(tmp_path / "Y_contrasts.csv", index=False)  # the same config, other settings
    with pytest.raises(UserError, match="more than once"):
        draw_figures(tmp_path, tmp_path / "figures")
