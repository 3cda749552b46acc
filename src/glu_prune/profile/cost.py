"""What bounds the speed of a forward pass: parameter bytes read per decode step and FLOPs, from
which the ideal speed-up of a pruned model is computed next to the measured one.

A decode step is memory-bound: it reads every weight once, except an input-embedding table, of
which it reads only the rows of the tokens it looks up. A table tied to the output layer is read
in full by that layer (Gemma-3-270M: the 262,144 x 640 table is 168M of its 268M parameters), so
GLU pruning saves a smaller share of the bytes there than on a model with a small vocabulary.
"""

from __future__ import annotations

from torch import nn


def _lookup_tables(model) -> list[nn.Embedding]:
    """Embedding tables that no Linear layer shares (tied tables are read in full as the output)."""
    linear = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    seen, tables = set(), []
    for m in model.modules():
        if isinstance(m, nn.Embedding) and id(m.weight) not in linear and id(m.weight) not in seen:
            seen.add(id(m.weight))
            tables.append(m)
    return tables


def model_cost(model) -> dict:
    """Bytes and FLOP counts that bound the speed of a forward pass.

    param_bytes: every parameter and buffer (tied weights once): what the model occupies.
    streamed_bytes: the parameter bytes every decode step reads whatever its tokens: all parameters
    less the untied lookup tables, of which a step reads `lookup_row_bytes` per token
    (decode_bytes_per_step). Buffers (rotary frequencies, scales) are a few bytes and left out.
    linear_macs: multiply-accumulates per token of every nn.Linear (lm_head included, also when
    its weight is tied to the embedding, because the product is still computed).
    """
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    weights = sum(p.numel() * p.element_size() for p in model.parameters())  # tied weights once
    tables = _lookup_tables(model)
    return {
        "param_bytes": weights + sum(b.numel() * b.element_size() for b in model.buffers()),
        "streamed_bytes": weights - sum(t.weight.numel() * t.weight.element_size() for t in tables),
        "lookup_row_bytes": sum(t.weight.shape[1] * t.weight.element_size() for t in tables),
        "parameters": sum(p.numel() for p in model.parameters()),
        "linear_macs": sum(
            m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear)
        ),
        "num_layers": config.num_hidden_layers,
        "attention_width": heads * head_dim,
    }


def decode_bytes_per_step(cost: dict, rows: int) -> int:
    """Parameter bytes one decode step of `rows` sequences reads (one token looked up per row)."""
    return cost["streamed_bytes"] + rows * cost["lookup_row_bytes"]


def decode_flops_per_token(cost: dict, context: float) -> float:
    """FLOPs to produce one token at `context` cached positions: 2 x linear MACs + QK^T and AV."""
    return 2 * cost["linear_macs"] + 4 * cost["num_layers"] * context * cost["attention_width"]


def prefill_flops(cost: dict, prompt_len: float, batch: int) -> float:
    """FLOPs of a prefill of `batch` rows of `prompt_len` tokens (causal attention: ~len^2/2 pairs)."""
    return batch * (
        2 * cost["linear_macs"] * prompt_len
        + 2 * cost["num_layers"] * prompt_len**2 * cost["attention_width"]
    )
