"""What bounds the speed of a forward pass: parameter bytes read per decode step and FLOPs, from
which the ideal speed-up of a pruned model is computed next to the measured one."""

from __future__ import annotations

from torch import nn


def model_cost(model) -> dict:
    """Bytes and FLOP counts that bound the speed of a forward pass.

    param_bytes: every parameter and buffer (tied weights once): what a decode step reads.
    linear_macs: multiply-accumulates per token of every nn.Linear (lm_head included, also when
    its weight is tied to the embedding, because the product is still computed).
    """
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return {
        "param_bytes": sum(p.numel() * p.element_size() for p in model.parameters())
        + sum(b.numel() * b.element_size() for b in model.buffers()),
        "parameters": sum(p.numel() for p in model.parameters()),
        "linear_macs": sum(
            m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear)
        ),
        "num_layers": config.num_hidden_layers,
        "attention_width": heads * head_dim,
    }


def decode_flops_per_token(cost: dict, context: float) -> float:
    """FLOPs to produce one token at `context` cached positions: 2 x linear MACs + QK^T and AV."""
    return 2 * cost["linear_macs"] + 4 * cost["num_layers"] * context * cost["attention_width"]


def prefill_flops(cost: dict, prompt_len: float, batch: int) -> float:
    """FLOPs of a prefill of `batch` rows of `prompt_len` tokens (causal attention: ~len^2/2 pairs)."""
    return batch * (
        2 * cost["linear_macs"] * prompt_len
        + 2 * cost["num_layers"] * prompt_len**2 * cost["attention_width"]
    )
