"""Finding the GLU MLPs of a decoder and counting its parameters, on real or meta-device models.

A GLU MLP computes down(act(gate(x)) * up(x)); neuron i is row i of gate and up and column i of
down. Every family this project prunes (Llama, Qwen2/3, Mistral, Gemma, ...) names them
gate_proj, up_proj and down_proj.
"""

from __future__ import annotations

import copy
import logging

from ..errors import UserError

GLU_PROJECTIONS = ("gate_proj", "up_proj", "down_proj")


def glu_mlps(model) -> list:
    """The GLU MLP of every decoder layer, or a UserError naming what is missing."""
    from optipfair.pruning.utils import get_model_layers
    from torch import nn

    logging.getLogger("optipfair.pruning.utils").setLevel(logging.ERROR)
    mlps = [getattr(layer, "mlp", None) for layer in get_model_layers(model)]
    if not mlps or not all(isinstance(getattr(m, p, None), nn.Linear) for m in mlps for p in GLU_PROJECTIONS):
        kind = getattr(getattr(model, "config", None), "model_type", type(model).__name__)
        raise UserError(f"{kind} is not a GLU model (needs gate_proj, up_proj and down_proj in every MLP)")
    return mlps


def glu_config(config):
    """The (text) config that holds intermediate_size; multimodal configs nest it."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    if not isinstance(getattr(text, "intermediate_size", None), int):
        raise UserError(f"{config.model_type} config has no integer intermediate_size (not a GLU decoder)")
    return text


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())  # tied weights are listed once


def meta_model(config):
    """The model's module tree on the meta device: every shape, no memory, no weights."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(copy.deepcopy(config))
