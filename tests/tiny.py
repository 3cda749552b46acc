"""Tiny random models of real architectures, for tests where only shapes matter."""

from __future__ import annotations

TINY = dict(
    hidden_size=64,
    intermediate_size=192,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=256,
    max_position_embeddings=128,
)


def tiny_config(model_type: str, **overrides):
    """A tiny config of a real architecture (shapes only)."""
    from transformers import AutoConfig

    kw = dict(TINY, **overrides)
    if model_type.startswith("gemma"):
        kw.setdefault("head_dim", 16)
    return AutoConfig.for_model(model_type, **kw)


def tiny_model(model_type: str = "llama", seed: int = 0, **overrides):
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(tiny_config(model_type, **overrides)).eval()
