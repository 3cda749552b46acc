"""Structured width pruning of GLU MLPs: choose neurons, slice gate/up rows and down columns.

A GLU MLP computes down(act(gate(x)) * up(x)); neuron i is row i of gate and up and column i of
down, so removing it removes 2*hidden + hidden weights (plus biases) and changes nothing else.

Selection methods are registered by name. maw/vow/pon/l2 call optipfair's own importance
functions, so the kept neurons (and therefore the weights) equal `optipfair.prune_model`'s. The
slicing is done here, in place, because optipfair builds freshly initialised Linear layers
(slow) and its `return_stats=True` deep-copies the whole model (2x memory).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn

from .errors import UserError

DIVISORS = (32, 64, 128, 256)


# ----------------------------------------------------------------------------- widths


def kept_width(intermediate: int, pct: float, divisor: int | None = None) -> int:
    """Neurons kept per layer: optipfair's rule, then rounded DOWN to a multiple of `divisor`.

    Rounding down means the pruned model is never wider than asked for (it may be pruned a
    little more than `pct`); the effective percentage is recorded next to the requested one.
    """
    removed = min(int(pct / 100 * intermediate), intermediate - 1)
    k = intermediate - removed
    if divisor:
        k = max(k // divisor * divisor, 1)
    if pct > 0 and k >= intermediate:
        raise UserError(f"{pct}% of {intermediate} with --divisor {divisor} removes no neuron")
    return k


def pct_for_expansion_ratio(intermediate: int, hidden: int, ratio: float) -> float:
    """Pruning percentage that brings intermediate/hidden down to `ratio` (optipfair's formula)."""
    from optipfair.pruning.mlp_glu import calculate_pruning_percentage_from_expansion_rate

    current = intermediate / hidden
    if not 0 < ratio < current:
        raise UserError(f"--expansion-ratio {ratio:g} must be above 0 and below the current {current:.4g}")
    return calculate_pruning_percentage_from_expansion_rate(intermediate, hidden, ratio * 100)


# ----------------------------------------------------------------------------- the config


@dataclass(frozen=True)
class PruneConfig:
    """What to remove. Exactly one of pct / expansion_ratio."""

    method: str = "maw"
    pct: float | None = None
    expansion_ratio: float | None = None
    divisor: int | None = None
    seed: int = 0
    layers: tuple[int, ...] | None = None
    calibration_samples: int = 64  # data-driven methods only
    calibration_seq_len: int = 256

    def __post_init__(self):
        if self.method not in METHODS:
            raise UserError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if (self.pct is None) == (self.expansion_ratio is None):
            raise UserError("give exactly one of --pct and --expansion-ratio")
        if self.pct is not None and not (isinstance(self.pct, (int, float)) and 0 < self.pct < 100):
            raise UserError(f"--pct must be a number strictly between 0 and 100, got {self.pct!r}")
        if self.expansion_ratio is not None and not (
            math.isfinite(self.expansion_ratio) and self.expansion_ratio > 0
        ):
            raise UserError(f"--expansion-ratio must be a positive number, got {self.expansion_ratio!r}")
        if self.divisor is not None and self.divisor not in DIVISORS:
            raise UserError(f"--divisor must be one of {', '.join(map(str, DIVISORS))}")
        if self.layers is not None and (not self.layers or len(set(self.layers)) != len(self.layers)):
            raise UserError("--layers must list distinct layer indices")

    @property
    def data_driven(self) -> bool:
        return METHODS[self.method].needs_data

    def settings(self) -> dict:
        """The settings that change the pruned weights (part of every checkpoint identity)."""
        out = asdict(self)
        out["method_version"] = METHODS[self.method].version
        if not self.data_driven:
            out.pop("calibration_samples"), out.pop("calibration_seq_len")
        if self.method != "random" and not self.data_driven:
            out.pop("seed")  # deterministic methods: a seed changes nothing, so it is no identity
        return out


# ----------------------------------------------------------------------------- finding the MLPs


def glu_mlps(model) -> list[nn.Module]:
    """The GLU MLP of every decoder layer, or a UserError naming what is missing."""
    from optipfair.pruning.utils import get_model_layers

    import logging

    logging.getLogger("optipfair.pruning.utils").setLevel(logging.ERROR)
    layers = get_model_layers(model)
    mlps = [getattr(layer, "mlp", None) for layer in layers]
    if not mlps or not all(
        all(isinstance(getattr(m, p, None), nn.Linear) for p in ("gate_proj", "up_proj", "down_proj"))
        for m in mlps
    ):
        kind = getattr(getattr(model, "config", None), "model_type", type(model).__name__)
        raise UserError(f"{kind} is not a GLU model (needs gate_proj, up_proj and down_proj in every MLP)")
    return mlps


def glu_config(config):
    """The (text) config that holds intermediate_size; multimodal configs nest it."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    if not isinstance(getattr(text, "intermediate_size", None), int):
        raise UserError(f"{config.model_type} config has no integer intermediate_size (not a GLU decoder)")
    return text


# ----------------------------------------------------------------------------- selection methods


@dataclass(frozen=True)
class Method:
    """scores(mlp, layer_index, context) -> [intermediate] tensor; the largest are kept."""

    scores: Callable
    needs_data: bool = False
    refit: bool = False  # re-fit the kept down_proj columns by least squares on calibration activations
    about: str = ""
    version: int = 1  # bump when the method's results change: it is part of every checkpoint identity


def _optipfair(name: str) -> Callable:
    def scores(mlp, _idx, _ctx):
        from optipfair.pruning.mlp_glu import IMPORTANCE_FUNCTIONS

        return IMPORTANCE_FUNCTIONS[name](mlp.gate_proj.weight.data.float(), mlp.up_proj.weight.data.float())

    return scores


def _random(mlp, _idx, ctx):
    return torch.rand(mlp.gate_proj.out_features, generator=ctx["generator"])


def _activation_output_norm(mlp, idx, ctx):
    # ||x_i||_2 over calibration tokens times ||down[:, i]||_2 = the L2 norm of neuron i's
    # contribution to the layer output, summed over tokens as a root-sum-square.
    act = ctx["sq_norms"][idx].sqrt()
    return act * mlp.down_proj.weight.data.float().norm(dim=0).cpu()


def _optipfair_hybrid(mlp, idx, ctx):
    from optipfair.pruning.mlp_glu import compute_neuron_pair_importance_maw_hybrid

    return compute_neuron_pair_importance_maw_hybrid(
        mlp.gate_proj.weight.data.float(),
        mlp.up_proj.weight.data.float(),
        mlp.down_proj.weight.data.float(),
        ctx["optipfair_norms"][idx],
    )


METHODS: dict[str, Method] = {
    "maw": Method(_optipfair("MAW"), about="optipfair MAW (peak-to-peak magnitude of gate+up rows)"),
    "vow": Method(_optipfair("VOW"), about="optipfair VOW (variance of gate+up weights)"),
    "pon": Method(_optipfair("PON"), about="optipfair PON (product of gate and up L1 norms)"),
    "l2": Method(_optipfair("L2"), about="optipfair L2 (L2 norms of gate+up rows)"),
    "random": Method(_random, about="uniformly random neurons, seeded by --seed"),
    "data": Method(
        _activation_output_norm,
        needs_data=True,
        refit=True,
        version=2,
        about="activation-aware: keep the largest ||activation|| x ||down column||, then re-fit down_proj "
        "by least squares on calibration text",
    ),
    "data-optipfair": Method(
        _optipfair_hybrid,
        needs_data=True,
        about="optipfair's data-driven MAW hybrid (weights x activation norms) on calibration text",
    ),
}


# ----------------------------------------------------------------------------- calibration


@torch.no_grad()
def _calibrate(model, mlps, batches, progress: bool, gram: bool) -> dict:
    """Statistics of each layer's down_proj input x over all calibration tokens: the sum of squares
    per neuron, optipfair's statistic (per-batch L2 norm, summed over batches) and, if `gram`, the
    Gram matrix sum(x x^T) [intermediate, intermediate] (kept on the layer's device, fp32)."""
    from tqdm.auto import tqdm

    sq = {i: torch.zeros(m.down_proj.in_features) for i, m in enumerate(mlps)}
    opf = {i: torch.zeros(m.down_proj.in_features) for i, m in enumerate(mlps)}
    grams = {}

    def hook(i):
        def fn(_module, inputs, _output):
            x = inputs[0].detach().float()  # [batch, seq, intermediate]
            s = x.pow(2).sum(dim=(0, 1)).cpu()
            sq[i] += s
            opf[i] += s.sqrt()
            if gram:
                flat = x.reshape(-1, x.shape[-1])
                grams[i] = grams[i] + flat.T @ flat if i in grams else flat.T @ flat

        return fn

    handles = [m.down_proj.register_forward_hook(hook(i)) for i, m in enumerate(mlps)]
    device = next(model.parameters()).device
    try:
        for ids in tqdm(batches, desc="calibration", disable=not progress, leave=False):
            model(input_ids=ids.to(device), use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return {"sq_norms": sq, "optipfair_norms": opf, "grams": grams}


RIDGE = 1e-3  # relative to the mean activation energy of the kept neurons


def _least_squares_down(down: torch.Tensor, gram: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """New down_proj weight [hidden, k] for the kept neurons S that minimises, over calibration
    tokens, ||D x - D' x_S||^2 (+ a small ridge): D' = D G[:, S] (G[S, S] + lambda I)^-1.

    The kept gate/up rows are unchanged, so x_S is exactly what the pruned layer computes on the
    same input: the re-fit absorbs part of what the removed neurons contributed."""
    g = gram.double()
    g_ss = g[keep][:, keep]
    ridge = RIDGE * g_ss.diagonal().mean()
    rhs = g[keep] @ down.double().T  # [k, hidden] = G[S, :] D^T
    solution = torch.linalg.solve(g_ss + ridge * torch.eye(len(keep), dtype=g.dtype, device=g.device), rhs)
    return solution.T.to(down.dtype).contiguous()


# ----------------------------------------------------------------------------- pruning


def _slice_(linear: nn.Linear, keep: torch.Tensor, dim: int) -> None:
    """Keep rows (dim 0) or columns (dim 1) of a Linear, in place, without re-initialising."""
    linear.weight = nn.Parameter(linear.weight.data.index_select(dim, keep), requires_grad=False)
    if dim == 0:
        if linear.bias is not None:
            linear.bias = nn.Parameter(linear.bias.data.index_select(0, keep), requires_grad=False)
        linear.out_features = len(keep)
    else:
        linear.in_features = len(keep)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())  # tied weights are listed once


def target_width(config, cfg: PruneConfig) -> tuple[float, int]:
    """(pct, kept width) for this model config, validating the request against it."""
    text = glu_config(config)
    pct = cfg.pct
    if cfg.expansion_ratio is not None:
        pct = pct_for_expansion_ratio(text.intermediate_size, text.hidden_size, cfg.expansion_ratio)
    return pct, kept_width(text.intermediate_size, pct, cfg.divisor)


def check_prunable(config, cfg: PruneConfig) -> tuple[float, int]:
    """Validate `cfg` against a model's config alone (meta device, no weights): GLU MLPs present,
    a width that removes something, layer indices in range. -> (pct, kept width)."""
    from .architecture import meta_model

    glu_config(config)
    n_layers = len(glu_mlps(meta_model(config)))
    pct, k = target_width(config, cfg)
    if cfg.layers is not None and not all(0 <= i < n_layers for i in cfg.layers):
        raise UserError(f"--layers must be between 0 and {n_layers - 1}")
    return pct, k


# Calibration statistics of unpruned models, reused across pruning levels in one process (a level
# sweep calibrates once). Keyed by whoever knows the weights' identity (load_pruned); capped in size.
_CALIBRATION_CACHE: dict = {}
CALIBRATION_CACHE_BYTES = 4 * 2**30


def _calibration_stats(model, mlps, tokenizer, cfg: PruneConfig, progress: bool, cache_key) -> dict:
    from .calibration import calibration_batches

    gram = METHODS[cfg.method].refit
    key = None if cache_key is None else (cache_key, cfg.calibration_samples, cfg.calibration_seq_len, cfg.seed)
    cached = _CALIBRATION_CACHE.get(key)
    if cached is not None and (cached["grams"] or not gram):
        return cached
    batches = calibration_batches(tokenizer, cfg.calibration_samples, cfg.calibration_seq_len, cfg.seed)
    stats = _calibrate(model, mlps, batches, progress, gram=gram)
    size = sum(g.numel() * g.element_size() for g in stats["grams"].values())
    if key is not None and size <= CALIBRATION_CACHE_BYTES:
        _CALIBRATION_CACHE.clear()  # one model at a time: a sweep prunes the same weights repeatedly
        _CALIBRATION_CACHE[key] = {**stats, "grams": {i: g.cpu() for i, g in stats["grams"].items()}}
    return stats


@torch.no_grad()
def prune(model, cfg: PruneConfig, tokenizer=None, progress: bool = True, calibration_key=None) -> dict:
    """Prune `model` in place and return its pruning record (plain data).

    calibration_key: a hashable identity of the (unpruned) weights; data-driven methods then reuse
    the calibration statistics of an earlier call with the same key and calibration settings.
    """
    from tqdm.auto import tqdm

    mlps = glu_mlps(model)
    text_cfg = glu_config(model.config)
    hidden = text_cfg.hidden_size
    widths = {m.gate_proj.out_features for m in mlps}
    if len(widths) != 1:
        raise UserError("model's MLP layers already have different widths; prune an unpruned model")
    original = widths.pop()
    pct, k = target_width(model.config, cfg)
    layers = sorted(cfg.layers) if cfg.layers is not None else list(range(len(mlps)))
    if layers[0] < 0 or layers[-1] >= len(mlps):
        raise UserError(f"--layers must be between 0 and {len(mlps) - 1}")
    params_before = count_parameters(model)

    ctx: dict = {"generator": torch.Generator().manual_seed(cfg.seed)}
    if cfg.data_driven:
        if tokenizer is None:
            raise UserError(f"method {cfg.method} needs the model's tokenizer for calibration text")
        tokens = cfg.calibration_samples * cfg.calibration_seq_len
        if METHODS[cfg.method].refit and tokens < original:
            raise UserError(
                f"method {cfg.method} re-fits down_proj by least squares and needs at least as many calibration "
                f"tokens as neurons ({original}); got {cfg.calibration_samples} x {cfg.calibration_seq_len} = {tokens}"
            )
        ctx.update(_calibration_stats(model, mlps, tokenizer, cfg, progress, calibration_key))

    method = METHODS[cfg.method]
    for i in tqdm(layers, desc=f"pruning ({cfg.method})", disable=not progress, leave=False):
        mlp = mlps[i]
        keep = torch.topk(method.scores(mlp, i, ctx), k, largest=True).indices.sort().values
        keep = keep.to(mlp.gate_proj.weight.device)
        _slice_(mlp.gate_proj, keep, 0)
        _slice_(mlp.up_proj, keep, 0)
        if method.refit:
            refit = _least_squares_down(mlp.down_proj.weight.data, ctx["grams"][i].to(keep.device), keep)
        _slice_(mlp.down_proj, keep, 1)
        if method.refit:
            mlp.down_proj.weight.data.copy_(refit)
        if hasattr(mlp, "intermediate_size"):
            mlp.intermediate_size = k

    uniform = len(layers) == len(mlps)
    if uniform:
        text_cfg.intermediate_size = k
    settings = cfg.settings()
    return {
        "method": cfg.method,
        "method_version": settings.pop("method_version"),
        "requested_pct": settings.pop("pct"),
        "target_expansion_ratio": settings.pop("expansion_ratio"),
        **{k: v for k, v in settings.items() if k != "method"},
        "pruning_pct": pct,
        "effective_pruning_pct": 100 * (original - k) / original,
        "original_intermediate_size": original,
        "intermediate_size": k,
        "uniform_width": uniform,
        **({} if uniform else {"layer_intermediate_sizes": [m.gate_proj.out_features for m in mlps]}),
        "hidden_size": hidden,
        "original_expansion_ratio": original / hidden,
        "expansion_ratio": k / hidden,
        "parameters_before": params_before,
        "parameters_after": count_parameters(model),
        "parameter_reduction_pct": 100 * (1 - count_parameters(model) / params_before),
        **({"calibration_source": _calibration_source()} if cfg.data_driven else {}),
    }


def _calibration_source() -> str:
    from .calibration import SOURCE

    return SOURCE


# ----------------------------------------------------------------------------- load + prune


def unpruned_record(model) -> dict:
    text = glu_config(model.config)
    mlps = glu_mlps(model)
    width = mlps[0].gate_proj.out_features
    params = count_parameters(model)
    return {
        "method": "none", "requested_pct": 0, "target_expansion_ratio": None, "divisor": None,
        "layers": None, "pruning_pct": 0, "effective_pruning_pct": 0.0,
        "original_intermediate_size": width, "intermediate_size": width, "uniform_width": True,
        "hidden_size": text.hidden_size,
        "original_expansion_ratio": width / text.hidden_size, "expansion_ratio": width / text.hidden_size,
        "parameters_before": params, "parameters_after": params, "parameter_reduction_pct": 0.0,
    }  # fmt: skip


def load_pruned(spec, cfg: PruneConfig | None, progress: bool = True):
    """Load the model of `spec` and prune it by `cfg` (None: unpruned). -> (model, tokenizer, record).

    A local directory written by `glu-prune prune` carries its pruning.json: its record names the
    original model and pruning, so results land next to those of on-the-fly pruning.
    """
    from .models import canonical_name, load_model, pruned_dir_record
    from .provenance import package_versions

    saved = pruned_dir_record(spec.model)
    if saved is not None and cfg is not None:
        raise UserError(f"{spec.model} is already pruned (it has pruning.json); do not prune it again")
    model, tokenizer = load_model(spec)
    if saved is not None:
        return model, tokenizer, saved
    weights = (canonical_name(spec.model), spec.random_weights, spec.dtype, spec.seed if spec.random_weights else None)
    record = prune(model, cfg, tokenizer, progress, weights) if cfg is not None else unpruned_record(model)
    record = {
        "model": canonical_name(spec.model),
        "random_weights": spec.random_weights,
        "dtype": spec.dtype,
        **record,
        "versions": package_versions(("torch", "transformers", "optipfair")),
    }
    return model, tokenizer, record


def level_configs(levels, method: str = "maw", divisor: int | None = None, seed: int = 0, **options) -> list:
    """One PruneConfig per pruning level; level 0 is the unpruned model (None)."""
    if len(set(levels)) != len(levels):
        raise UserError("a pruning level is listed twice")
    if any(not 0 <= level < 100 for level in levels):
        raise UserError("pruning levels must be in [0, 100)")
    return [
        None if level == 0 else PruneConfig(method, pct=float(level), divisor=divisor, seed=seed, **options)
        for level in levels
    ]
