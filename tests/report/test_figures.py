"""Analysis and figures over a small results FIXTURE written in the documented tidy schemas.

The fixture's numbers are made up (they live only here) and chosen so that every normalised value
can be computed by hand. The evaluation CSV uses the runner's own column list (CSV_COLUMNS).
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from glu_prune.cli import main
from glu_prune.errors import UserError
from glu_prune.evaluate import CSV_COLUMNS
from glu_prune.report import (
    PRIMARY_METRICS,
    Thresholds,
    decision_matrix,
    group_of,
    group_retention,
    load_results,
    normalise_to_baseline,
    performance_summary,
    ratio_with_stderr,
)
from glu_prune.report.fig_groups import same_tasks
from glu_prune.report.metrics import NO_STDERR

MODEL, HW = "fixture-model", {"cpu": "Fixture CPU", "cpu_cores": 2, "gpus": []}
CONFIGS = {  # (method, pct) -> (intermediate_size, expansion_ratio)
    ("none", 0.0): (1536, 2.6667),
    ("maw", 20.0): (1229, 2.1337),
    ("maw", 40.0): (922, 1.6007),
    ("vow", 40.0): (922, 1.6007),
}
# (task, subtask, metric, filter, fewshot) -> {(method, pct): (value, stderr)}
SCORES = {
    ("piqa", "piqa", "acc_norm", "none", 0): {
        ("none", 0.0): (0.6, 0.03),
        ("maw", 20.0): (0.6, 0.03),
        ("maw", 40.0): (0.54, 0.03),
        ("vow", 40.0): (0.48, 0.03),
    },
    ("piqa", "piqa", "acc", "none", 0): {("none", 0.0): (0.58, 0.03), ("maw", 40.0): (0.55, 0.03)},
    ("arc_challenge", "arc_challenge", "acc_norm", "none", 0): {
        ("none", 0.0): (0.3, 0.04),
        ("maw", 20.0): (0.3, 0.04),
        ("maw", 40.0): (0.27, 0.04),
        ("vow", 40.0): (0.3, 0.04),
    },
    ("wikipedia_ppl", "wikipedia_ppl", "word_perplexity", "none", 0): {
        ("none", 0.0): (20.0, None),
        ("maw", 20.0): (20.0, None),
        ("maw", 40.0): (40.0, None),
        ("vow", 40.0): (80.0, None),
    },
    ("mmlu", "mmlu", "acc", "none", 5): {
        ("none", 0.0): (0.4, 0.02),
        ("maw", 20.0): (0.4, 0.02),
        ("maw", 40.0): (0.3, 0.02),
        ("vow", 40.0): (0.28, 0.02),
    },
    ("mmlu", "mmlu_stem", "acc", "none", 5): {("none", 0.0): (0.35, 0.03), ("maw", 40.0): (0.1, 0.03)},
    ("ifeval", "ifeval", "prompt_level_strict_acc", "none", 0): {
        ("none", 0.0): (0.2, 0.02),
        ("maw", 20.0): (0.2, 0.02),
        ("maw", 40.0): (0.22, 0.02),
        ("vow", 40.0): (0.2, 0.02),
    },
    ("gsm8k", "gsm8k", "exact_match", "flexible-extract", 5): {
        ("none", 0.0): (0.05, 0.01),
        ("maw", 20.0): (0.05, 0.01),
        ("maw", 40.0): (0.02, 0.01),
        ("vow", 40.0): (0.01, 0.01),
    },
    ("gsm8k", "gsm8k", "exact_match", "strict-match", 5): {
        ("none", 0.0): (0.0, 0.0),
        ("maw", 40.0): (0.0, 0.0),
    },
    # 5-shot arc for the pruned model only: there is no baseline with the same settings
    ("arc_challenge", "arc_challenge", "acc_norm", "none", 5): {("maw", 40.0): (0.31, 0.04)},
}
HIGHER = {"word_perplexity": False}
LIMIT, N = 40, {"mmlu": 285, "mmlu_stem": 95}
# paired columns of some pruned task rows: (task, metric, method, pct) -> (ratio interval, ratio stderr, p)
PAIRED = {
    ("piqa", "acc_norm", "maw", 40.0): (0.85, 0.95, 0.025, 0.001),
    ("piqa", "acc_norm", "maw", 20.0): (0.95, 1.05, 0.025, 1.0),
    ("wikipedia_ppl", "word_perplexity", "maw", 40.0): (1.8, 2.2, 0.1, 0.0002),
    ("mmlu", "acc", "maw", 40.0): (0.6, 0.9, 0.08, 0.04),
}


def paired_cells(task, subtask, metric, flt, shots, method, pct, value):
    if subtask != task or (task, metric, method, pct) not in PAIRED:
        return {}
    low, high, se, p = PAIRED[(task, metric, method, pct)]
    base = SCORES[(task, subtask, metric, flt, shots)][("none", 0.0)][0]
    return {
        "baseline_checkpoint": f"ck-none-0-{task}-{shots}",
        "n_paired": LIMIT,
        "delta": value - base,
        "ratio": value / base,
        "ratio_ci_low": low,
        "ratio_ci_high": high,
        "ratio_stderr": se,
        "p_value": p,
        "p_test": "mcnemar-exact",
    }


def eval_rows():
    rows = []
    for (task, subtask, metric, flt, shots), by_cfg in SCORES.items():
        for (method, pct), (value, se) in by_cfg.items():
            size, ratio = CONFIGS[(method, pct)]
            rows.append(
                {
                    "model": MODEL,
                    "method": method,
                    "pruning_pct": pct,
                    "effective_pruning_pct": pct,
                    "divisor": None,
                    "seed": None,
                    "intermediate_size": size,
                    "expansion_ratio": ratio,
                    "parameters": 1000 + size,
                    "task": task,
                    "subtask": subtask,
                    "metric": metric,
                    "filter": flt,
                    "value": value,
                    "stderr": se,
                    "higher_is_better": HIGHER.get(metric, True),
                    "n_samples": N.get(subtask, LIMIT),
                    "num_fewshot": shots,
                    "limit": LIMIT,
                    "limit_per_subtask": LIMIT,
                    "chat_template": False,
                    "data_source": "offline",
                    "checkpoint": f"ck-{method}-{pct:g}-{task}-{shots}",
                    **paired_cells(task, subtask, metric, flt, shots, method, pct, value),
                }
            )
    return rows


def write_eval(directory, rows=None):
    rows = eval_rows() if rows is None else rows
    directory.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=list(CSV_COLUMNS)).to_csv(directory / "results.csv", index=False)
    runs = [
        {"checkpoint": c, "provenance": {"hardware": HW, "project": {"commit": "0123456789abcdef"}}}
        for c in sorted({r["checkpoint"] for r in rows})
    ]
    (directory / "complete.json").write_text(json.dumps({"runs": runs}))


def profile_rows():
    rows = []
    for pct, size, ratio in ((0.0, 1536, 2.6667), (40.0, 922, 1.6007)):
        for workload in ("hellaswag", "mmlu"):
            for batch in (1, 8):
                tpot, ttft = (10.0, 50.0) if pct == 0 else (8.0, 45.0)
                tps = (
                    batch * 1000 / tpot
                )  # computed tokens; the unpruned model stops at EOS halfway (real tokens)
                real = 0.5 if pct == 0 else 1.0
                rows.append(
                    {
                        "model": MODEL,
                        "random_weights": False,
                        "dtype": "float32",
                        "device": "cpu",
                        "hardware": "CPU: Fixture CPU (2 cores)",
                        "method": "none" if pct == 0 else "maw",
                        "prune_method": "maw",
                        "divisor": None,
                        "pruning_pct": pct,
                        "intermediate_size": size,
                        "expansion_ratio": ratio,
                        "workload": workload,
                        "batch_size": batch,
                        "new_tokens": 32,
                        "repeats": 3,
                        "ttft_ms": ttft,
                        "ttft_ms_min": ttft - 1,
                        "ttft_ms_max": ttft + 1,
                        "tpot_ms": tpot,
                        "tpot_ms_min": tpot - 0.5,
                        "tpot_ms_max": tpot + 0.5,
                        "e2e_ms": ttft + 31 * tpot,
                        "fixed_length_tokens_per_s": tps,
                        "fixed_length_tokens_per_s_min": tps * 0.95,
                        "fixed_length_tokens_per_s_max": tps * 1.05,
                        "tokens_per_s": tps * real,
                        "peak_memory_bytes": 1000 if pct == 0 else 800,
                        "model_bytes": 600 if pct == 0 else 458,
                        "energy_j": 16.0 if pct == 0 else 12.8,
                        "energy_j_per_computed_token": 0.5 if pct == 0 else 0.4,
                        "energy_j_per_token": (0.5 if pct == 0 else 0.4) / real,
                        "energy_source": "codecarbon-estimate",
                        "energy_estimate": True,
                        "ideal_speedup": 1.0 if pct == 0 else 600 / 458,
                        "ideal_speedup_prefill_flops": 1.0 if pct == 0 else 1.2,
                        "measured_speedup": 10.0 / tpot,
                        "measured_speedup_ttft": 50.0 / ttft,
                        "loadavg_1m_max": 1.5,
                        "status": "complete",
                    }
                )
    return rows


def write_profiles(directory):
    directory.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(profile_rows()).to_csv(directory / f"{MODEL}_profile_results.csv", index=False)


def row(table, method, pct, task, metric, flt="none", shots=None):
    sel = table[
        (table["method"] == method)
        & (table["pruning_pct"] == pct)
        & (table["task"] == task)
        & (table["metric"] == metric)
        & (table["filter"] == flt)
    ]
    if shots is not None:
        sel = sel[sel["num_fewshot"] == shots]
    assert len(sel) == 1, sel
    return sel.iloc[0]


# ----------------------------------------------------------------------------- the math


def test_ratio_with_stderr_by_hand():
    r, se = ratio_with_stderr(0.6, 0.03, 0.8, 0.04, True)  # 0.75; sqrt((.03/.8)^2 + (.6*.04/.64)^2)
    assert r == pytest.approx(0.75) and se == pytest.approx(math.sqrt(0.00140625 * 2))
    r, se = ratio_with_stderr(20.0, 2.0, 10.0, 1.0, False)  # perplexity 10 -> 20: baseline/pruned = 0.5
    assert r == pytest.approx(0.5) and se == pytest.approx(math.sqrt(0.0025 + 0.0025))
    r, se = ratio_with_stderr(40.0, None, 20.0, None, False)
    assert r == pytest.approx(0.5) and math.isnan(se)  # unknown, never 0
    assert all(math.isnan(x) for x in ratio_with_stderr(0.1, 0.01, 0.0, 0.0, True))  # baseline 0: undefined


def test_primary_metrics_match_lm_eval_yamls():
    """The headline names exist in lm-eval's own YAMLs (or this project's offline copies)."""
    from pathlib import Path

    import lm_eval

    folders = (
        "wikitext",
        "lambada",
        "mmlu/default",
        "arc",
        "hellaswag",
        "winogrande",
        "piqa",
        "super_glue/boolq",
        "truthfulqa",
        "gsm8k",
        "ifeval",
        "leaderboard/musr",
    )
    roots = [Path(lm_eval.__file__).parent / "tasks" / f for f in folders]
    roots.append(Path(__file__).parents[1] / "src" / "glu_prune" / "tasks")
    text = "\n".join(p.read_text(errors="ignore") for root in roots for p in root.rglob("*yaml*"))
    for task, metrics in PRIMARY_METRICS.items():
        for m in metrics:
            assert f"metric: {m.name}" in text, (task, m)
            if m.filter != "none":
                assert f'"{m.filter}"' in text or f"name: {m.filter}" in text, (task, m)
    assert group_of("mmlu") == "fragile" and group_of("ifeval") == "robust" and group_of("piqa") == "other"


def test_normalise_like_with_like(tmp_path):
    write_eval(tmp_path / "eval")
    table = normalise_to_baseline(load_results(tmp_path).evaluation)
    # acc_norm against the baseline's acc_norm (0.60), never its acc (0.58): pitfall 13
    p = row(table, "maw", 40.0, "piqa", "acc_norm")
    assert p["baseline_value"] == 0.6 and p["normalised"] == pytest.approx(0.9)
    assert p["normalised_stderr"] == pytest.approx(math.sqrt((0.03 / 0.6) ** 2 + (0.54 * 0.03 / 0.36) ** 2))
    assert p["unpaired_delta"] == pytest.approx(-0.06)
    assert p["unpaired_delta_stderr"] == pytest.approx(math.sqrt(2) * 0.03)
    # the paired columns ride along; their interval of the ratio is turned like the ratio (> 1 better)
    assert p["delta"] == pytest.approx(-0.06) and (p["normalised_ci_low"], p["normalised_ci_high"]) == (
        0.85,
        0.95,
    )
    every = normalise_to_baseline(load_results(tmp_path).evaluation, primary_only=False)
    assert row(every, "maw", 40.0, "piqa", "acc")["baseline_value"] == 0.58
    assert "acc" not in set(table.loc[table["task"] == "piqa", "metric"])  # piqa's primary metric is acc_norm
    # lower is better: inverted, so 20 -> 40 is 0.5; no stderr from lm-eval -> NaN and said so
    ppl = row(table, "maw", 40.0, "wikipedia_ppl", "word_perplexity")
    assert (
        ppl["normalised"] == pytest.approx(0.5)
        and math.isnan(ppl["normalised_stderr"])
        and ppl["note"] == NO_STDERR
    )
    assert ppl["unpaired_delta"] == pytest.approx(20.0) and ppl["ratio"] == pytest.approx(2.0)
    assert ppl["normalised_ci_low"] == pytest.approx(1 / 2.2) and ppl["normalised_ci_high"] == pytest.approx(
        1 / 1.8
    )
    assert ppl["normalised_paired_stderr"] == pytest.approx(0.1 / 4)  # se / ratio^2
    assert math.isnan(row(table, "vow", 40.0, "piqa", "acc_norm")["normalised_ci_low"])  # no paired values
    # a 5-shot pruned row is not compared with the 0-shot baseline
    five = row(table, "maw", 40.0, "arc_challenge", "acc_norm", shots=5)
    assert math.isnan(five["normalised"]) and "same settings" in five["note"]
    # baseline scored 0: the ratio is undefined, the delta is not
    strict = row(table, "maw", 40.0, "gsm8k", "exact_match", "strict-match")
    assert (
        math.isnan(strict["normalised"])
        and strict["unpaired_delta"] == 0.0
        and "baseline scored 0" in strict["note"]
    )
    base = row(table, "none", 0.0, "mmlu", "acc")
    assert base["normalised"] == 1.0 and base["normalised_stderr"] == 0.0
    assert set(table["subtask"]) == set(table["task"])  # subtasks are not the task's numbers
    assert (table["hardware"] == "CPU: Fixture CPU (2 cores)").all()
    # an offline baseline never normalises hub results
    hub = [
        dict(r, data_source="hub", checkpoint=r["checkpoint"] + "-hub")
        for r in eval_rows()
        if r["method"] != "none"
    ]
    both = normalise_to_baseline(pd.DataFrame(eval_rows() + hub))
    assert both.loc[both["data_source"] == "hub", "normalised"].isna().all()


def test_ambiguous_baseline_is_an_error():
    rows = eval_rows()
    rows.append(dict(rows[0], value=0.61, checkpoint="another-run"))
    with pytest.raises(UserError, match="ambiguous baseline"):
        normalise_to_baseline(pd.DataFrame(rows))


def test_group_retention_by_hand():
    g = group_retention(normalise_to_baseline(pd.DataFrame(eval_rows())))

    def pick(method, group):
        return g[(g["method"] == method) & (g["pruning_pct"] == 40.0) & (g["group"] == group)].iloc[0]

    # mmlu 0.75, wikipedia_ppl 0.5, gsm8k flexible 0.4 (strict is not the headline)
    frag = pick("maw", "fragile")
    assert frag["retention"] == pytest.approx((0.75 + 0.5 + 0.4) / 3) and math.isnan(frag["retention_stderr"])
    assert frag["tasks"] == "gsm8k,mmlu,wikipedia_ppl" and frag["n_tasks"] == 3
    robust = pick("maw", "robust")  # ifeval 0.22 / 0.20
    assert robust["retention"] == pytest.approx(1.1)
    assert robust["retention_stderr"] == pytest.approx(math.sqrt(0.1**2 + (0.22 * 0.02 / 0.04) ** 2))
    other = pick("maw", "other")  # piqa 0.9 and arc (0-shot) 0.9
    se_p = math.sqrt((0.03 / 0.6) ** 2 + (0.54 * 0.03 / 0.36) ** 2)
    se_a = math.sqrt((0.04 / 0.3) ** 2 + (0.27 * 0.04 / 0.09) ** 2)
    assert other["retention"] == pytest.approx(0.9) and other["retention_stderr"] == pytest.approx(
        math.hypot(se_p, se_a) / 2
    )


def test_group_means_cover_the_same_tasks_at_every_level():
    rows = [r for r in eval_rows() if not (r["task"] == "mmlu" and r["pruning_pct"] == 20.0)]
    kept, notes = same_tasks(group_retention(normalise_to_baseline(pd.DataFrame(rows))))
    fragile = kept[(kept["method"] == "maw") & (kept["group"] == "fragile")]
    assert list(fragile["pruning_pct"]) == [40.0]  # mmlu was not measured at 20 %
    assert notes == [
        "group means not drawn where a task of the line is missing: "
        "maw 20 % fragile (gsm8k,wikipedia_ppl of gsm8k,mmlu,wikipedia_ppl)"
    ]
    assert len(kept) == 8 and same_tasks(kept)[1] == []  # the other groups and methods all drawn


def test_decision_matrix(tmp_path):
    write_eval(tmp_path / "eval")
    write_profiles(tmp_path / "profile")
    rs = load_results(tmp_path)
    perf = performance_summary(rs.profiles)
    p = perf.iloc[0]
    assert len(perf) == 1 and p["intermediate_size"] == 922
    assert p["decode_speedup"] == pytest.approx(1.25) and p["memory_saving"] == pytest.approx(0.2)
    # same work (computed tokens), not when the models happen to emit EOS; real-token ratios apart
    assert p["throughput_gain"] == pytest.approx(1.25) and p["energy_per_token_ratio"] == pytest.approx(0.8)
    assert p["throughput_gain_real_tokens"] == pytest.approx(2.5)
    assert p["energy_per_real_token_ratio"] == pytest.approx(0.4)
    assert p["ideal_speedup"] == pytest.approx(600 / 458) and p["energy_source"] == "codecarbon-estimate"

    dm = decision_matrix(rs.evaluation, rs.profiles)
    by = {(r["method"], r["pruning_pct"]): r for r in dm.to_dict("records")}
    assert set(by) == {("maw", 20.0), ("maw", 40.0), ("vow", 40.0)}
    assert (
        by[("maw", 40.0)]["recommendation"] == "do not upload"
        and "fragile retention 0.550" in by[("maw", 40.0)]["reason"]
    )
    # speed is a property of the shapes: VOW at 40 % has the same width, so the same measured speed-up
    assert by[("vow", 40.0)]["decode_speedup"] == pytest.approx(1.25)
    assert by[("maw", 20.0)]["recommendation"] == "undecided"  # no profile of width 1229
    assert by[("maw", 40.0)]["worst_task"] == "gsm8k" and by[("maw", 40.0)][
        "worst_retention"
    ] == pytest.approx(0.4)
    assert (dm["threshold_min_retention"] == 0.9).all() and (dm["threshold_min_speedup"] == 1.1).all()

    loose = decision_matrix(rs.evaluation, rs.profiles, Thresholds(min_retention=0.4, z=0))
    assert loose.set_index("method").loc["maw", "recommendation"].tolist() == ["undecided", "upload"]
    wide = decision_matrix(rs.evaluation, rs.profiles, Thresholds(min_retention=1.0, z=10))
    maw40 = wide[(wide["method"] == "maw") & (wide["pruning_pct"] == 40.0)].iloc[0]
    assert (
        maw40["recommendation"] == "do not upload"
    )  # fragile has no stderr: a plain fail, never 'borderline'
    assert "robust retention 1.100" in maw40["reason"] and "within 10 s.e." in maw40["reason"]


# ----------------------------------------------------------------------------- figures and the command


def is_png(path) -> bool:
    import matplotlib.image

    with open(path, "rb") as f:
        head = f.read(8)
    return head == b"\x89PNG\r\n\x1a\n" and matplotlib.image.imread(path).ndim == 3


def test_figures_command(tmp_path, capsys):
    results = tmp_path / "results"
    write_eval(results / "eval")
    write_profiles(results / "profile")
    (results / "architecture.csv").write_text("model,level\nx,0\n")  # other tables are left alone
    assert main(["figures", "--results", str(results)]) == 0
    out, err = capsys.readouterr()
    written = sorted(p.name for p in (results / "figures").glob("*.png"))
    assert written == sorted(
        [
            f"capability_vs_expansion_{MODEL}_offline.png",
            f"capability_groups_{MODEL}_offline.png",
            f"method_comparison_{MODEL}_offline.png",
            f"performance_{MODEL}_float32_CPU_Fixture_CPU_2_cores_maw.png",
        ]
    )
    assert all(is_png(results / "figures" / name) for name in written)
    assert sorted(out.split()) == sorted(str(results / "figures" / n) for n in written)
    manifest = json.loads((results / "figures" / "figures.json").read_text())
    assert sorted(manifest["figures"]) == written and len(manifest["inputs"]["evaluation"]) == 1
    assert "Traceback" not in err


def test_figures_partial_and_missing(tmp_path, capsys):
    only_eval = tmp_path / "only_eval"
    rows = [r for r in eval_rows() if r["method"] != "vow"]
    write_eval(only_eval, rows)
    assert main(["figures", "--results", str(only_eval), "--out", str(tmp_path / "figs")]) == 0
    out, err = capsys.readouterr()
    assert len(out.split()) == 2 and all(is_png(p) for p in out.split())
    assert "no profile results" in err and "two or more selection methods" in err

    def one_line_error(argv, match):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert (
            out == "" and len(lines) == 1 and lines[0].startswith("glu-prune: error:") and match in lines[0]
        ), err

    (tmp_path / "empty").mkdir()
    one_line_error(
        ["figures", "--results", str(tmp_path / "empty")], "no evaluation, fidelity or profile results"
    )
    one_line_error(["figures", "--results", str(tmp_path / "nope")], "is not a directory")
    base_only = tmp_path / "base_only"
    write_eval(base_only, [r for r in eval_rows() if r["method"] == "none"])
    one_line_error(["figures", "--results", str(base_only)], "only the unpruned model was evaluated")
    assert not (base_only / "figures").exists() or not any((base_only / "figures").iterdir())


def test_overlapping_result_files_and_sweeps(tmp_path):
    """The study writes a sweep CSV and a comparison CSV that share the baseline (same checkpoints):
    loaded together, every measurement counts once; figures 1-2 draw the sweeps, the methods figure the
    rest."""
    from glu_prune.report.figures import _sweeps

    rows = eval_rows()
    sweep = rows + [
        dict(r, pruning_pct=10.0, checkpoint=r["checkpoint"] + "-10")
        for r in rows
        if r["method"] == "maw" and r["pruning_pct"] == 20.0
    ]
    for name, part in (
        ("sweep", sweep),
        ("comparison", [r for r in rows if r["pruning_pct"] in (0.0, 40.0)]),
    ):
        write_eval(tmp_path / name, part)
        (tmp_path / name / "results.csv").rename(tmp_path / name / f"{name}_results.csv")
        (tmp_path / name / "complete.json").rename(tmp_path / name / f"{name}_complete.json")
    rs = load_results(tmp_path)
    assert len(rs.sources["evaluation"]) == 2 and len(rs.evaluation) == len(sweep)
    assert (rs.evaluation["hardware"] == "CPU: Fixture CPU (2 cores)").all()  # each CSV's own complete JSON
    drawn, left = _sweeps(normalise_to_baseline(rs.evaluation))
    assert set(drawn["method"]) == {"none", "maw"} and left == ["vow"]


def test_performance_figure_per_length_and_conflicting_profiles(tmp_path):
    """One PNG per new_tokens (named by it when there are several); a profile setting found twice
    loads once when the rows agree and is an error naming both files when they differ."""
    from glu_prune.report import draw_figures

    rows = profile_rows() + [dict(r, new_tokens=64) for r in profile_rows()]
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        pd.DataFrame(rows).to_csv(tmp_path / name / f"{MODEL}_profile_results.csv", index=False)
    rs = load_results(tmp_path / "a", tmp_path / "b")
    assert len(rs.profiles) == len(rows)  # the same records in two files count once
    report = draw_figures(rs, tmp_path / "figs")
    assert sorted(p.name for p in report.written) == [
        f"performance_{MODEL}_float32_CPU_Fixture_CPU_2_cores_maw_n{n}.png" for n in (32, 64)
    ]
    changed = [
        dict(r, tpot_ms=r["tpot_ms"] + 1) if r["new_tokens"] == 64 and r["pruning_pct"] else r for r in rows
    ]
    pd.DataFrame(changed).to_csv(tmp_path / "b" / f"{MODEL}_profile_results.csv", index=False)
    with pytest.raises(
        UserError, match=r"appear more than once with different results.*a/.*b/.*differing: tpot_ms"
    ):
        load_results(tmp_path / "a", tmp_path / "b")


# ------------------------------------------------------------------ paired intervals, fidelity, models

MODEL2 = "fixture-model-2"


def fidelity_rows(model, configs):
    """Fidelity rows (FIDELITY_COLUMNS) of made-up KL / agreement / perplexity ratios per config."""
    values = {20.0: (0.05, 0.93, 1.04), 40.0: (0.4, 0.7, 1.5)}
    rows = []
    for (method, pct), (size, ratio) in configs.items():
        if method == "none":
            continue
        kl, agree, ppl = values[pct] if method == "maw" else (2 * values[pct][0], values[pct][1] - 0.1, 2.0)
        for metric, value, higher in (
            ("kl_mean", kl, False),
            ("top1_agreement", agree, True),
            ("ppl_ratio", ppl, False),
        ):
            rows.append(
                {
                    "model": model,
                    "method": method,
                    "pruning_pct": pct,
                    "effective_pruning_pct": pct,
                    "intermediate_size": size,
                    "expansion_ratio": ratio,
                    "parameters": 1000 + size,
                    "task": "fidelity",
                    "subtask": "fidelity",
                    "metric": metric,
                    "filter": "none",
                    "value": value,
                    "stderr": value / 20,
                    "stderr_source": "bootstrap over windows",
                    "higher_is_better": higher,
                    "n_samples": 5110,
                    "text": "wikipedia_ppl",
                    "window": 512,
                    "dtype": "float32",
                    "limit": 10,
                    "data_source": "offline",
                    "checkpoint": f"fid-{model}-{method}-{pct:g}",
                }
            )
    return rows


def test_significance_is_decided_over_the_drawn_comparisons():
    from glu_prune.report.intervals import significant

    table = normalise_to_baseline(pd.DataFrame(eval_rows()))
    pruned = table[table["method"] != "none"]
    marks, family = significant(pruned)
    marked = {(r.task, r.pruning_pct) for r, m in zip(pruned.itertuples(), marks, strict=True) if m}
    # BH over the 4 p-values 0.0002, 0.001, 0.04, 1: adjusted 0.0008, 0.002, 0.053, 1
    assert family == 4 and marked == {("wikipedia_ppl", 40.0), ("piqa", 40.0)}


def test_fidelity_and_models_figures(tmp_path):
    from glu_prune.fidelity import FIDELITY_COLUMNS
    from glu_prune.report import draw_figures

    second = {k: (v[0] + 512, v[1] + 0.8) for k, v in CONFIGS.items()}  # a wider model, same levels
    rows = eval_rows()
    wider = {"intermediate_size": 512, "expansion_ratio": 0.8}
    rows += [
        dict(r, model=MODEL2, checkpoint=r["checkpoint"] + "-2", **{k: r[k] + d for k, d in wider.items()})
        for r in rows
    ]
    write_eval(tmp_path / "eval", rows)
    fid = fidelity_rows(MODEL, CONFIGS) + fidelity_rows(MODEL2, second)
    pd.DataFrame(fid, columns=list(FIDELITY_COLUMNS)).to_csv(
        tmp_path / "eval" / "fidelity_results.csv", index=False
    )
    rs = load_results(tmp_path)
    assert len(rs.fidelity) == len(fid) and set(rs.evaluation["task"]) == {t for t, *_ in SCORES}
    report = draw_figures(rs, tmp_path / "figs")
    names = sorted(p.name for p in report.written)
    for model in (MODEL, MODEL2):
        assert f"fidelity_vs_expansion_{model}_wikipedia_ppl.png" in names
        assert f"capability_vs_expansion_{model}_offline.png" in names
    assert "models_vs_expansion_offline.png" in names and all(is_png(p) for p in report.written)
    single = draw_figures(load_results(tmp_path / "eval" / "fidelity_results.csv"), tmp_path / "one")
    assert "models_vs_expansion_offline.png" in [p.name for p in single.written]  # fidelity of two models


@pytest.mark.parametrize(
    "damage,match",
    [
        (lambda d: truncate(d / "eval" / "results.csv", 0.5), "(a truncated or damaged table)"),
        (lambda d: truncate(d / "profile" / f"{MODEL}_profile_results.csv", 0.5), "a truncated or damaged"),
        (lambda d: truncate(d / "eval" / "complete.json", 0.5), "is not the complete JSON of a run"),
        (lambda d: (d / "eval" / "complete.json").write_text('{"runs": {}}'), "not a list of records"),
    ],
)
def test_damaged_result_files_are_one_line_and_exit_2(tmp_path, capsys, damage, match):
    results = tmp_path / "results"
    write_eval(results / "eval")
    write_profiles(results / "profile")
    damage(results)
    assert main(["figures", "--results", str(results)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and match in err, err
    assert not list((results / "figures").glob("*.png"))


def truncate(path, fraction):
    data = path.read_bytes()
    cut = data[: int(len(data) * fraction)]
    path.write_bytes(cut[: cut.rfind(b",") + 1] if path.suffix == ".csv" else cut)  # mid-row


def test_models_figure_draws_only_the_series_every_model_was_swept_along():
    from glu_prune.report.fig_models import swept

    def rows(model, points):
        return [
            {"model": model, "method": m, "divisor": float("nan"), "seed": s, "pruning_pct": p}
            for m, s, p in points
        ]

    sweep = [("maw", None, p) for p in (10, 20, 40)] + [("data", 0, p) for p in (10, 20, 40)]
    frame = pd.DataFrame(
        rows("a", [("none", None, 0), *sweep, ("vow", None, 20)])  # vow: one comparison point
        + rows("b", [*sweep[:3], ("data", 0, 20), ("data", 1, 20), ("random", 0, 40)])  # b swept MAW only
    )
    assert swept(frame) == ["maw"]
    assert swept(frame[frame["model"] == "a"]) == ["data s0", "maw"]  # series labels: seeded methods
    assert swept(frame[frame["method"] == "none"]) == []


def test_a_ratio_of_zero_stays_on_a_wide_axis():
    """LAMBADA accuracy lost entirely (ratio 0) beside ratios over 20x apart: symlog, so the 0 is
    drawn; a log axis would drop it. Without zeros, log; a narrow range stays linear."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from glu_prune.report.plotting import log_if_wide

    scales = []
    for values in ([1.0, 0.04, 0.0], [1.0, 0.01], [1.0, 0.5, 0.0]):
        fig, ax = plt.subplots()
        log_if_wide(ax, pd.Series(values))
        scales.append(ax.get_yscale())
        plt.close(fig)
    assert scales == ["symlog", "log", "linear"]
