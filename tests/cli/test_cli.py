"""The `glu-prune` foundation commands: outputs, and bad input -> one line, exit 2, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from glu_prune.cli import main

GLU_PRUNE = os.path.join(os.path.dirname(sys.executable), "glu-prune")


def run_main(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, out, err, match):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glu-prune: error:"), err
    assert match in lines[0], lines[0]
    assert "Traceback" not in err and out == ""


@pytest.fixture
def gpt2_dir(tmp_path):
    from transformers import GPT2Config

    path = tmp_path / "gpt2"
    GPT2Config(n_layer=2, n_embd=64, n_head=2).save_pretrained(path)
    return path


BAD_PRUNE = [
    (["--pct", "0"], "strictly between 0 and 100"),
    (["--pct", "100"], "strictly between 0 and 100"),
    (["--pct", "-5"], "strictly between 0 and 100"),
    (["--pct", "abc"], "invalid float value"),
    (["--pct", "nan"], "strictly between 0 and 100"),
    (["--pct", "40", "--method", "magic"], "unknown method 'magic'"),
    (["--pct", "40", "--expansion-ratio", "2"], "not allowed with"),
    ([], "give one of --pct and --expansion-ratio"),
    (["--expansion-ratio", "2.667"], "below the current 2.667"),
    (["--expansion-ratio", "5"], "below the current"),
    (["--pct", "40", "--divisor", "100"], "invalid choice"),
    (["--pct", "40", "--layers", "0,30"], "--layers must be between 0 and 29"),
    (["--pct", "40", "--layers", "0,x"], "comma-separated integers"),
    (["--model", "./no/such/dir", "--pct", "10"], "no such local model directory"),
    (["--pct", "40", "--dtype", "int8"], "invalid choice"),
    (["--pct", "40", "--layers", ","], "expected at least one integer"),
    (["--pct", "40", "--layers", "3,3"], "distinct layer indices"),
    (
        ["--pct", "10", "--method", "data-optipfair", "--calibration-samples", "0"],
        "--calibration-samples must",
    ),
    (
        ["--pct", "10", "--method", "data-optipfair", "--calibration-seq-len", "0"],
        "--calibration-seq-len must",
    ),
    (["--pct", "10", "--method", "data", "--calibration-samples", "-3"], "--calibration-samples must"),
    (["--pct", "10", "--calibration-samples", "8"], "only apply to data-driven methods"),
    (["--pct", "10", "--method", "random", "--calibration-seq-len", "8"], "not random"),
    (["--pct", "10", "--threads", "-1"], "--threads must be a positive integer"),
]


@pytest.mark.parametrize("args,match", BAD_PRUNE)
def test_bad_prune_input(capsys, tmp_path, args, match):
    out_dir = tmp_path / "out"
    code, out, err = run_main(capsys, "prune", "--model", "default", *args, "--out", str(out_dir))
    assert_one_line_error(code, out, err, match)
    assert not out_dir.exists()


def test_non_glu_model(capsys, gpt2_dir, tmp_path):
    code, out, err = run_main(
        capsys, "prune", "--model", str(gpt2_dir), "--pct", "10", "--out", str(tmp_path / "o")
    )
    assert_one_line_error(code, out, err, "not a GLU")
    assert not (tmp_path / "o").exists()


def test_existing_non_empty_out(capsys, tmp_path):
    (tmp_path / "keep.txt").write_text("precious")
    code, out, err = run_main(capsys, "prune", "--pct", "10", "--out", str(tmp_path))
    assert_one_line_error(code, out, err, "not an empty directory")
    assert os.listdir(tmp_path) == ["keep.txt"]


@pytest.mark.parametrize(
    "out,match", [("/proc/glu-prune-test", "not writable"), ("/etc/hostname/sub", "not a directory")]
)
def test_unwritable_out(capsys, out, match):
    code, stdout, err = run_main(capsys, "prune", "--pct", "10", "--out", out)
    assert_one_line_error(code, stdout, err, match)


def test_partial_layers_cannot_be_saved(capsys, tmp_path):
    code, out, err = run_main(capsys, "prune", "--pct", "10", "--layers", "0,1", "--out", str(tmp_path / "o"))
    assert_one_line_error(code, out, err, "cannot be saved")
    assert not (tmp_path / "o").exists()


def test_hub_unreachable_is_a_clear_error_within_seconds(capsys, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_do_not_print_me_123")
    monkeypatch.setenv("HF_HOME", os.path.join(os.environ.get("TMPDIR", "/tmp"), "glu-prune-empty-hf-home"))
    start = time.monotonic()
    code, out, err = run_main(capsys, "prune", "--model", "meta-llama/Llama-3.2-1B", "--pct", "10")
    elapsed = time.monotonic() - start
    if code == 0:
        pytest.skip("the hub is reachable from this machine")
    assert_one_line_error(code, out, err, "needs the Hugging Face hub")
    assert elapsed < 10
    assert "hf_do_not_print_me_123" not in out + err


def test_architectures_json_is_pure_json():
    proc = subprocess.run(
        [GLU_PRUNE, "architectures", "--model", "llama-3.2-3b", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    assert [r["total_parameters"] for r in records][:2] == [3_212_749_824, 3_001_408_512]
    assert {
        "model",
        "pruning_pct",
        "intermediate_size",
        "expansion_ratio",
        "total_parameters",
        "parameter_reduction_pct",
        "divisible_by",
    } <= set(records[0])


def test_architectures_bad_levels(capsys):
    code, out, err = run_main(capsys, "architectures", "--model", "llama-3.2-1b", "--levels", "0,120")
    assert_one_line_error(code, out, err, "--levels")


def test_console_script_bad_input_exit_code():
    proc = subprocess.run([GLU_PRUNE, "prune", "--pct", "0"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "glu-prune: error: --pct must be a number strictly between 0 and 100, got 0.0"
    ]


@pytest.mark.slow
def test_prune_cli_writes_a_model_transformers_reloads(capsys, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    out_dir = tmp_path / "p40"
    code, out, err = run_main(
        capsys,
        "prune",
        "--model",
        "default",
        "--pct",
        "40",
        "--method",
        "maw",
        "--out",
        str(out_dir),
        "--json",
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["intermediate_size"] == 922 and record["model"] == "smollm2-135m-instruct"
    model = AutoModelForCausalLM.from_pretrained(out_dir)
    assert model.config.intermediate_size == 922
    assert sum(p.numel() for p in model.parameters()) == record["parameters_after"]
    assert (
        json.loads((out_dir / "pruning.json").read_text())["parameters_after"] == record["parameters_after"]
    )
    assert model(input_ids=torch.tensor([[1, 2, 3]])).logits.isfinite().all()


@pytest.mark.slow
def test_random_weights_shape_only_model(capsys):
    code, out, err = run_main(
        capsys, "prune", "--model", "default", "--random-weights", "--pct", "50", "--json"
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["random_weights"] is True and record["intermediate_size"] == 768
