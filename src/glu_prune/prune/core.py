"""Structured width pruning of GLU MLPs, in place: score neurons, keep the best, slice the weights.

Removing neuron i removes row i of gate_proj and up_proj and column i of down_proj (2*hidden +
hidden weights, plus biases) and changes nothing else: activations and norms around the MLP are
untouched. The slicing is done here rather than by optipfair, which builds freshly initialised
Linear layers (slow) and whose `return_stats=True` deep-copies the whole model (2x memory).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import UserError
from ..models import count_parameters, glu_config, glu_mlps, meta_model
from .calibration import SOURCE, calibration_statistics
from .config import PruneConfig
from .methods import METHODS, Selection
from .record import PruningRecord
from .refit import least_squares_down


def _slice_(linear: nn.Linear, keep: torch.Tensor, dim: int) -> None:
    """Keep rows (dim 0) or columns (dim 1) of a Linear, in place, without re-initialising."""
    linear.weight = nn.Parameter(linear.weight.data.index_select(dim, keep), requires_grad=False)
    if dim == 0:
        if linear.bias is not None:
            linear.bias = nn.Parameter(linear.bias.data.index_select(0, keep), requires_grad=False)
        linear.out_features = len(keep)
    else:
        linear.in_features = len(keep)


def check_prunable(config, cfg: PruneConfig) -> tuple[float, int]:
    """Validate `cfg` against a model's config alone (meta device, no weights): GLU MLPs present,
    a width that removes something, layer indices in range, enough calibration tokens for a
    re-fit. -> (pct, kept width)."""
    text = glu_config(config)
    n_layers = len(glu_mlps(meta_model(config)))
    pct, k = cfg.target_width(config)
    if cfg.layers is not None and not all(0 <= i < n_layers for i in cfg.layers):
        raise UserError(f"--layers must be between 0 and {n_layers - 1}")
    tokens = cfg.calibration_samples * cfg.calibration_seq_len
    if METHODS[cfg.method].refit and tokens < text.intermediate_size:
        raise UserError(
            f"method {cfg.method} re-fits down_proj by least squares and needs at least as many calibration "
            f"tokens as neurons ({text.intermediate_size}); got {cfg.calibration_samples} x "
            f"{cfg.calibration_seq_len} = {tokens}"
        )
    return pct, k


def _prune_layer(mlp, keep: torch.Tensor, k: int, gram: torch.Tensor | None) -> None:
    keep = keep.to(mlp.gate_proj.weight.device)
    _slice_(mlp.gate_proj, keep, 0)
    _slice_(mlp.up_proj, keep, 0)
    refit = (
        None if gram is None else least_squares_down(mlp.down_proj.weight.data, gram.to(keep.device), keep)
    )
    _slice_(mlp.down_proj, keep, 1)
    if refit is not None:
        mlp.down_proj.weight.data.copy_(refit)
    if hasattr(mlp, "intermediate_size"):
        mlp.intermediate_size = k


@torch.no_grad()
def prune(
    model, cfg: PruneConfig, tokenizer=None, progress: bool = True, calibration_key=None
) -> PruningRecord:
    """Prune `model` in place and return its pruning record.

    calibration_key: a hashable identity of the (unpruned) weights; data-driven methods then reuse
    the calibration statistics of an earlier call with the same key and calibration settings.
    """
    from tqdm.auto import tqdm

    mlps = glu_mlps(model)
    widths = {m.gate_proj.out_features for m in mlps}
    if len(widths) != 1:
        raise UserError("model's MLP layers already have different widths; prune an unpruned model")
    original = widths.pop()
    pct, k = check_prunable(model.config, cfg)
    layers = sorted(cfg.layers) if cfg.layers is not None else list(range(len(mlps)))
    params_before = count_parameters(model)
    method = METHODS[cfg.method]
    selection = Selection(torch.Generator().manual_seed(cfg.seed))
    if cfg.data_driven:
        if tokenizer is None:
            raise UserError(f"method {cfg.method} needs the model's tokenizer for calibration text")
        stats = calibration_statistics(model, mlps, tokenizer, cfg, method.refit, progress, calibration_key)
        selection = Selection(selection.generator, stats)
    for i in tqdm(layers, desc=f"pruning ({cfg.method})", disable=not progress, leave=False):
        keep = torch.topk(method.scores(mlps[i], i, selection), k, largest=True).indices.sort().values
        _prune_layer(mlps[i], keep, k, selection.stats.grams[i] if method.refit else None)
    uniform = len(layers) == len(mlps)
    if uniform:
        glu_config(model.config).intermediate_size = k
    settings = cfg.settings()
    return PruningRecord(
        method=cfg.method,
        method_version=method.version,
        requested_pct=cfg.pct,
        target_expansion_ratio=cfg.expansion_ratio,
        divisor=cfg.divisor,
        layers=cfg.layers,
        seed=settings.get("seed"),
        calibration_samples=settings.get("calibration_samples"),
        calibration_seq_len=settings.get("calibration_seq_len"),
        pruning_pct=pct,
        original_intermediate_size=original,
        intermediate_size=k,
        layer_intermediate_sizes=None if uniform else tuple(m.gate_proj.out_features for m in mlps),
        hidden_size=glu_config(model.config).hidden_size,
        parameters_before=params_before,
        parameters_after=count_parameters(model),
        calibration_source=SOURCE if cfg.data_driven else None,
    )
