"""Two models at the same expansion ratio or percentage: the arithmetic of the share difference,
which runs match (constructed per-document files), and the committed tables recomputed from their
own files."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from glu_prune.errors import UserError
from glu_prune.evaluate.across_models import COLUMNS, FILES, across_models_table, share_difference
from glu_prune.evaluate.documents import write_documents
from glu_prune.evaluate.paired import PairedSettings
from glu_prune.report.fig_models_compared import models_compared_figure
from glu_prune.report.results import load_results

FAST = PairedSettings(n_resamples=500)
RESULTS = Path(__file__).parents[2] / "results"
N = 40


def ones(k, n=N):
    return [1.0] * k + [0.0] * (n - k)


def test_the_difference_of_two_shares_and_its_interval():
    # A keeps 20 of its 30 (2/3), B keeps 15 of its 20 (3/4)
    stats = share_difference(ones(20), ones(30), ones(15), ones(20), "mean", True, settings=FAST)
    assert stats["share_a"] == pytest.approx(2 / 3) and stats["share_b"] == pytest.approx(0.75)
    assert stats["difference"] == pytest.approx(2 / 3 - 0.75) and stats["n_paired"] == N
    assert stats["value_a"] == 0.5 and stats["baseline_b"] == 0.5
    assert stats["difference_ci_low"] < stats["difference"] < stats["difference_ci_high"]
    assert stats["share_a_ci_low"] < 2 / 3 < stats["share_a_ci_high"] and stats["difference_stderr"] > 0
    same = share_difference(ones(20), ones(30), ones(20), ones(30), "mean", True, settings=FAST)
    assert (same["difference"], same["difference_ci_low"], same["difference_ci_high"]) == (0.0, 0.0, 0.0)
    # above a chance level of 0.125: A keeps (0.5 - 0.125) / (0.75 - 0.125), B (0.375 - 0.125) / (0.5 - 0.125)
    floor = share_difference(ones(20), ones(30), ones(15), ones(20), "mean", True, 0.125, FAST)
    assert (floor["share_a"], floor["share_b"]) == (pytest.approx(0.6), pytest.approx(2 / 3))
    assert floor["margin_resolved"] and stats["margin_resolved"]
    # B unpruned at 0.5 is 0.1 above a chance of 0.4, with a standard error of 0.08 at n = 40: no
    # margin to share (it would need 4 standard errors)
    near = share_difference(ones(20), ones(30), ones(15), ones(20), "mean", True, 0.4, FAST)
    assert not near["margin_resolved"]


def test_lower_is_better_turns_the_share_and_weights_must_agree():
    # per-document (log-likelihood, words): perplexity exp(-sum ll / sum words)
    base = [[-2.0, 1]] * 10
    worse = [[-3.0, 1]] * 10
    stats = share_difference(worse, base, base, base, "weighted_perplexity", False, settings=FAST)
    assert stats["share_a"] == pytest.approx(math.exp(-1)) and stats["share_b"] == 1.0
    assert stats["value_a"] == pytest.approx(math.exp(3))
    with pytest.raises(UserError, match="same documents"):
        share_difference(worse, base, [[-2.0, 2]] * 10, base, "weighted_perplexity", False, settings=FAST)
    with pytest.raises(UserError, match="same documents"):
        share_difference(ones(20), ones(30), ones(15, 39), ones(20), "mean", True, settings=FAST)
    with pytest.raises(UserError, match="floor"):
        share_difference(worse, base, base, base, "weighted_perplexity", False, 1.0)
    with pytest.raises(UserError, match="floor"):
        share_difference(base, base, base, base, "weighted_perplexity", True, 1.0)
    with pytest.raises(UserError, match="aggregation"):
        share_difference(ones(20), ones(30), ones(15), ones(20), "median", True, settings=FAST)


def run(folder, model, name, outcomes, method=None, pct=0.0, ratio=2.0, hashes="d", prompts="p"):
    """A finished piqa run of `model`: per-document 0/1 acc, its pruning at `ratio`."""
    rows = [
        {"task": "piqa", "doc_id": i, "filter": "none", "doc_hash": f"{hashes}{i}",
         "prompt_hash": f"{prompts}{i}", "values": {"acc": v}}
        for i, v in enumerate(outcomes)
    ]  # fmt: skip
    folder.mkdir(exist_ok=True)
    info = write_documents(folder / f"{name}.jsonl.gz", rows, {"piqa": {"acc": "mean"}})
    prune = None if method is None else {"method": method, "pct": pct, "divisor": None, "seed": None}
    identity = {"model": model, "task": "piqa", "limit": N, "data_source": "offline", "prune": prune}
    return {
        "checkpoint": name,
        "task": "piqa",
        "model": model,
        "data_source": "offline",
        "identity": identity,
        "pruning": {
            "method": method or "none",
            "pruning_pct": pct,
            "expansion_ratio": ratio,
            "divisor": None,
        },
        "metrics": [
            {
                "subtask": "piqa",
                "metric": "acc",
                "filter": "none",
                "higher_is_better": True,
                "value": sum(outcomes) / len(outcomes),
            }
        ],  # fmt: skip
        "documents": info,
    }


def complete(tmp_path, name, runs):
    path = tmp_path / f"{name}_complete.json"
    files = {r["checkpoint"]: f"docs/{r['checkpoint']}.jsonl.gz" for r in runs}
    path.write_text(json.dumps({"documents": {"files": files}, "runs": runs}))
    return path


def test_runs_of_one_series_at_the_same_ratio_or_percentage_match(tmp_path):
    docs = tmp_path / "docs"
    small = [
        run(docs, "small", "s0", ones(30), ratio=2.67),
        run(docs, "small", "s40", ones(25), "maw", 40, ratio=1.6007),
        run(docs, "small", "s20", ones(25), "maw", 20, ratio=2.13),
        run(docs, "small", "s40vow", ones(10), "vow", 40, ratio=1.6007),
        run(docs, "small", "s30", ones(24), "maw", 30, ratio=1.87),
    ]
    large = [
        run(docs, "large", "l0", ones(20), ratio=3.2, prompts="chat"),
        run(docs, "large", "l50", ones(15), "maw", 50, ratio=1.6, prompts="chat"),
        run(docs, "large", "l20", ones(18), "maw", 20, ratio=2.56, prompts="chat"),
        run(docs, "large", "l30vow", ones(18), "vow", 30, ratio=2.24, prompts="chat"),
    ]
    loaded = run(docs, "large", "lx", ones(15), ratio=1.6, prompts="chat")  # a pruned dir: no series
    loaded["identity"]["pruned_dir"] = "somewhere"
    table, left_out = across_models_table(
        [complete(tmp_path, "a", small), complete(tmp_path, "b", [*large, loaded])],
        {"piqa": 0.25},
        0.01,
        FAST,
    )
    assert list(table.columns) == list(COLUMNS) and not left_out
    # maw at ratio 1.60 (50 % against 40 %) and at 20 % (2.56 against 2.13); not vow at 30 against 40 %
    assert table[["matched_on", "checkpoint_a", "checkpoint_b"]].values.tolist() == [
        ["expansion_ratio", "l50", "s40"],
        ["pruning_pct", "l20", "s20"],
    ]
    row = table.iloc[0]
    assert (row["model_a"], row["model_b"], row["method"]) == ("large", "small", "maw")
    assert (row["pruning_pct_a"], row["pruning_pct_b"]) == (50, 40)
    # above a chance level of 0.25: large keeps (0.375 - 0.25) / (0.5 - 0.25), small (0.625 - 0.25) / 0.5
    assert (row["share_a"], row["share_b"], row["chance"]) == (0.5, 0.75, 0.25)
    assert row["difference"] == -0.25 and not row["same_prompts"]
    assert (row["checkpoint_a"], row["baseline_checkpoint_b"]) == ("l50", "s0")
    # at 20 %: large keeps (0.45 - 0.25) / 0.25, small the same 0.75
    pct = table.iloc[1]
    assert (pct["share_a"], pct["share_b"], pct["expansion_ratio_a"]) == (pytest.approx(0.8), 0.75, 2.56)


def test_other_documents_or_no_unpruned_run_are_left_out_with_the_reason(tmp_path):
    docs = tmp_path / "docs"
    small = [run(docs, "small", "s0", ones(30)), run(docs, "small", "s40", ones(20), "maw", 40, ratio=1.6)]
    other = [
        run(docs, "large", "l0", ones(20), hashes="x"),
        run(docs, "large", "l50", ones(15), "maw", 50, ratio=1.6, hashes="x"),
    ]
    table, left_out = across_models_table(
        [complete(tmp_path, "a", small), complete(tmp_path, "b", other)], None, 0.01, FAST
    )
    assert table.empty and "other documents" in left_out[0]["reason"]
    table, left_out = across_models_table(
        [complete(tmp_path, "a", small), complete(tmp_path, "b", other[1:])]
    )
    assert table.empty and left_out[0]["reason"] == "no unpruned run with the same settings"


@pytest.mark.parametrize(
    "folder, files, lambada_n",
    [("full-study", 4, 1000), ("two-models-whole-splits", 2, 5153)],
)
def test_the_committed_tables_are_recomputed_from_their_files(tmp_path, folder, files, lambada_n):
    """Every row of a committed models_compared.csv from the complete JSONs it names (whose sha256
    it records): the same runs, documents and statistics (the interval at fewer resamples)."""
    where = RESULTS / folder
    stored = json.loads((where / FILES[1]).read_text())
    sources = [where / s["file"] for s in stored["sources"]]
    assert len(sources) == files
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in sources] == [
        s["sha256"] for s in stored["sources"]
    ]
    table, left_out = across_models_table(sources, stored["chance"], stored["tolerance"], FAST)
    committed = pd.read_csv(where / FILES[0])
    assert len(table) == len(committed) == len(stored["rows"]) > 0 and left_out == stored["left_out"]
    keys = ["checkpoint_a", "checkpoint_b", "matched_on", "metric", "same_prompts"]
    assert table[keys].to_dict("records") == committed[keys].to_dict("records")
    for column in ("n_paired", "share_a", "share_b", "difference"):
        assert table[column].tolist() == pytest.approx(committed[column].tolist(), rel=1e-12)
    lambada = committed[(committed["task"] == "lambada_openai") & (committed["metric"] == "acc")]
    assert set(lambada["n_paired"]) == {lambada_n} and set(lambada["same_prompts"]) == {True}
    assert set(committed["matched_on"]) == {"expansion_ratio", "pruning_pct"}
    shutil.copy(where / FILES[0], tmp_path)
    found = load_results(tmp_path).models_compared
    assert len(found) == len(committed)
    for matched_on in ("expansion_ratio", "pruning_pct"):
        drawn = models_compared_figure(found, matched_on, tmp_path / f"{matched_on}.png")
        assert drawn.stat().st_size > 10_000
