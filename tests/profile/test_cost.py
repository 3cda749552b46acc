"""Parameter bytes a decode step reads (the ideal speed-up), counted by hand on tiny tied and untied
configs, and on the configs of the two real models."""

from __future__ import annotations

import copy

import pytest
from tiny import tiny_model

from glu_prune.models import load_config, meta_model
from glu_prune.profile.cost import decode_bytes_per_step, model_cost

# tiny Llama (tests/tiny.py): hidden 64, GLU width 192, 2 layers, 4 heads of 16, 2 KV heads, vocab 256
EMBED = 256 * 64
LAYER = (64 * 64 + 64 * 32 + 64 * 32 + 64 * 64) + 3 * 64 * 192 + 2 * 64  # q k v o, gate up down, 2 norms
BODY = EMBED + 2 * LAYER + 64  # embedding, layers, final norm
ROW = 64 * 4  # one embedding row in float32


def test_tied_table_is_read_in_full_by_the_output_layer():
    cost = model_cost(tiny_model("llama", tie_word_embeddings=True))
    assert cost["parameters"] == BODY == 115_008
    assert cost["lookup_row_bytes"] == 0
    assert decode_bytes_per_step(cost, 1) == decode_bytes_per_step(cost, 8) == 4 * BODY == 460_032


def test_untied_table_is_read_only_as_the_rows_looked_up():
    cost = model_cost(tiny_model("llama", tie_word_embeddings=False))
    assert cost["parameters"] == BODY + EMBED == 131_392  # the output layer is a matrix of its own
    assert cost["lookup_row_bytes"] == ROW
    # the output layer in full, the input table as 1 (or 8) rows of 64 floats
    assert decode_bytes_per_step(cost, 1) == 4 * BODY + ROW == 460_288
    assert decode_bytes_per_step(cost, 8) == 4 * BODY + 8 * ROW == 462_080
    assert cost["param_bytes"] > 4 * (BODY + EMBED)  # memory: both tables, plus the rotary buffers


def test_gemma3_norms_and_scaled_embedding():
    # Gemma3 adds two norms around the MLP per layer and q/k norms (head_dim 16); its embedding is a
    # scaled nn.Embedding subclass, found as a lookup table all the same
    extra = 2 * (2 * 64 + 2 * 16)
    tied = model_cost(tiny_model("gemma3_text", tie_word_embeddings=True))
    untied = model_cost(tiny_model("gemma3_text", tie_word_embeddings=False))
    assert decode_bytes_per_step(tied, 1) == 4 * (BODY + extra)
    assert decode_bytes_per_step(untied, 2) == 4 * (BODY + extra) + 2 * ROW


def _ideal_at(name: str, pct: int) -> tuple[float, int]:
    """Ideal decode speed-up at `pct` from the config alone (meta device), and the bytes it reads."""
    config = load_config(name)
    pruned = copy.deepcopy(config)
    pruned.intermediate_size = config.intermediate_size - int(pct / 100 * config.intermediate_size)
    full, cut = (decode_bytes_per_step(model_cost(meta_model(c)), 1) for c in (config, pruned))
    return full / cut, full


def test_gemma_gains_less_than_smollm2_from_the_same_level():
    """Both tie their output layer to the embedding; Gemma's 262k x 640 table is 168M of its 268M
    parameters, so removing 40 % of the GLU neurons removes 10.6 % of the bytes read, not 23.7 %."""
    gemma, gemma_bytes = _ideal_at("gemma-3-270m", 40)
    smol, smol_bytes = _ideal_at("default", 40)
    assert gemma_bytes == 2 * 268_098_176 and smol_bytes == 2 * 134_515_008  # bfloat16 (configs), tied once
    assert (
        gemma == pytest.approx(268_098_176 / (268_098_176 - 819 * 34_560)) == pytest.approx(1.1180, abs=1e-4)
    )
    assert smol == pytest.approx(134_515_008 / 102_685_248) == pytest.approx(1.3100, abs=1e-4)
