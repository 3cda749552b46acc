"""Damaged files of a model directory the user gave: one line naming the file and the problem, exit
2, before any weights load and before anything is written (prune, evaluate and profile alike)."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from tiny import tiny_config

from glu_prune.cli import main
from glu_prune.models import ModelSpec, check_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, embedded_dir):
    """A tiny Llama with real weights files and the embedded model's tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM

    path = tmp_path_factory.mktemp("models") / "tiny"
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(tiny_config("llama", vocab_size=49152)).save_pretrained(path)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(embedded_dir / name, path / name)
    return path


def damaged(model_dir, tmp_path, damage):
    path = tmp_path / "model"
    shutil.copytree(model_dir, path)
    damage(path)
    return path


def truncate(name, keep=20):
    return lambda p: (p / name).write_bytes((p / name).read_bytes()[:keep])


def write(name, text):
    return lambda p: (p / name).write_text(text)


def edit_json(name, **changes):
    def do(p):
        data = json.loads((p / name).read_text())
        (p / name).write_text(json.dumps({**data, **changes}))

    return do


def pruned(**changes):
    record = {
        "model": "tiny",
        "method": "maw",
        "pruning_pct": 50.0,
        "effective_pruning_pct": 50.0,
        "intermediate_size": 192,
        "expansion_ratio": 3.0,
        "parameters_after": 1,
    }
    return write("pruning.json", json.dumps({**record, **changes}))


def shard(p):
    (p / "model.safetensors").rename(p / "model-00001-of-00002.safetensors")
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (p / "model.safetensors.index.json").write_text(json.dumps(index))


DAMAGES = {
    "config truncated": (truncate("config.json"), "config.json is not valid JSON"),
    "config a list": (write("config.json", "[1, 2]"), "config.json holds a JSON list, not an object"),
    "config unknown type": (edit_json("config.json", model_type="nosuchmodel"), "cannot read its config"),
    "remote code": (
        edit_json("config.json", model_type="custom", auto_map={"AutoConfig": "custom.Config"}),
        "--trust-remote-code",
    ),
    "tokenizer config truncated": (truncate("tokenizer_config.json"), "tokenizer_config.json is not valid"),
    "tokenizer truncated": (truncate("tokenizer.json", 1000), "tokenizer.json is not valid JSON"),
    "tokenizer garbled": (
        lambda p: (p / "tokenizer.json").write_text('{"version": "1.0", "model": [nonsense]}'),
        "tokenizer.json is not valid JSON",
    ),
    "generation config truncated": (truncate("generation_config.json"), "generation_config.json is not"),
    "no weights": (lambda p: (p / "model.safetensors").unlink(), "holds no weights"),
    "weights truncated": (truncate("model.safetensors", 100_000), "is not a whole safetensors file"),
    "weights empty": (truncate("model.safetensors", 0), "is not a whole safetensors file"),
    "shard missing": (shard, "model-00002-of-00002.safetensors is missing"),
    "pruning.json truncated": (
        write("pruning.json", '{"model": "tiny", "meth'),
        "pruning.json is not valid",
    ),
    "pruning.json a list": (write("pruning.json", "[]"), "pruning.json holds a JSON list"),
    "pruning.json incomplete": (pruned(method=None), "not a pruning record of glu-prune prune"),
    "pruning.json other width": (pruned(intermediate_size=100), "describes a GLU width of 100"),
}
COMMANDS = {
    "prune": ["prune", "--pct", "50"],
    "evaluate": ["evaluate", "--tasks", "piqa", "--offline", "--limit", "1"],
    "profile": ["profile", "--levels", "0", "--energy", "none", "--workloads", "ifeval"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", DAMAGES)
def test_damaged_model_dir_is_one_line_and_exit_2(model_dir, tmp_path, capsys, command, case):
    damage, match = DAMAGES[case]
    path = damaged(model_dir, tmp_path, damage)
    out = tmp_path / "out"
    code = main([*COMMANDS[command], "--model", str(path), "--out", str(out)])
    stdout, err = capsys.readouterr()
    assert code == 2 and stdout == "", err
    assert err.count("\n") == 1 and err.startswith("glu-prune: error:") and match in err, err
    assert "Traceback" not in err
    assert not out.exists()  # nothing written: no run log, no checkpoint folder


def test_the_undamaged_dir_passes_every_check(model_dir):
    assert check_model(ModelSpec(str(model_dir))).intermediate_size == 192


def test_random_weights_need_no_weights_file(model_dir, tmp_path):
    path = damaged(model_dir, tmp_path, DAMAGES["no weights"][0])
    assert check_model(ModelSpec(str(path), random_weights=True)).intermediate_size == 192


def test_a_damaged_embedded_model_cache_is_set_aside_and_made_again(embedded_dir, tmp_path, monkeypatch):
    """The dequantized cache is the tool's own file: a truncated copy is set aside and made again."""
    from glu_prune.models import weights_source

    cache, made = tmp_path / embedded_dir.name, []

    def make(name):  # stands in for the GGUF dequantization (tens of seconds): the same files, linked
        made.append(name)
        if not cache.exists():
            cache.mkdir()
            for f in embedded_dir.iterdir():
                os.link(f, cache / f.name)
        return cache

    shutil.copytree(embedded_dir, cache, ignore=shutil.ignore_patterns("*.safetensors"))
    with open(embedded_dir / "model.safetensors", "rb") as whole:
        (cache / "model.safetensors").write_bytes(whole.read(1000))  # a new, truncated file
    monkeypatch.setattr("glu_prune.models.loading.gguf_model_dir", make)
    with pytest.warns(UserWarning, match="damaged model cache .* not a whole safetensors file"):
        source = weights_source(ModelSpec("default"))
    assert source == str(cache) and made == ["smollm2-135m-instruct"] * 2
    assert (cache / "model.safetensors").samefile(embedded_dir / "model.safetensors")
    [aside] = (tmp_path / "damaged").iterdir()
    assert (aside / "model.safetensors").stat().st_size == 1000
    assert weights_source(ModelSpec("default")) == str(cache) and len(made) == 3  # whole: kept
