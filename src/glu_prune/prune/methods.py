"""Neuron-selection methods, registered by name: each scores the neurons of one layer's GLU MLP and
the largest scores are kept.

maw/vow/pon/l2 call optipfair's own importance functions, so the kept neurons (and therefore the
weights) equal `optipfair.prune_model`'s. Add a method by registering it in METHODS; bump its
`version` whenever its output changes (it is part of every checkpoint identity).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .calibration import CalibrationStats


@dataclass(frozen=True)
class Selection:
    """What a scoring function may use besides the layer's weights."""

    generator: torch.Generator  # seeded by PruneConfig.seed (random selection)
    stats: CalibrationStats | None = None  # data-driven methods only


@dataclass(frozen=True)
class Method:
    """scores(mlp, layer_index, selection) -> [intermediate] tensor; the largest are kept."""

    scores: Callable
    needs_data: bool = False
    refit: bool = False  # re-fit the kept down_proj columns by least squares on calibration activations
    random: bool = False  # draws from the seeded generator
    about: str = ""
    version: int = 1  # bump when the method's results change: it is part of every checkpoint identity

    @property
    def uses_seed(self) -> bool:
        """The seed changes the result (random draws, or which calibration text is sampled)."""
        return self.random or self.needs_data


def _optipfair(name: str) -> Callable:
    def scores(mlp, _idx, _sel):
        from optipfair.pruning.mlp_glu import IMPORTANCE_FUNCTIONS

        return IMPORTANCE_FUNCTIONS[name](mlp.gate_proj.weight.data.float(), mlp.up_proj.weight.data.float())

    return scores


def _random(mlp, _idx, sel: Selection):
    return torch.rand(mlp.gate_proj.out_features, generator=sel.generator)


def _activation_output_norm(mlp, idx, sel: Selection):
    # ||x_i||_2 over calibration tokens times ||down[:, i]||_2 = the L2 norm of neuron i's
    # contribution to the layer output, summed over tokens as a root-sum-square.
    act = sel.stats.sq_norms[idx].sqrt()
    return act * mlp.down_proj.weight.data.float().norm(dim=0).cpu()


def _optipfair_hybrid(mlp, idx, sel: Selection):
    from optipfair.pruning.mlp_glu import compute_neuron_pair_importance_maw_hybrid

    return compute_neuron_pair_importance_maw_hybrid(
        mlp.gate_proj.weight.data.float(),
        mlp.up_proj.weight.data.float(),
        mlp.down_proj.weight.data.float(),
        sel.stats.optipfair_norms[idx],
    )


METHODS: dict[str, Method] = {
    "maw": Method(_optipfair("MAW"), about="optipfair MAW (peak-to-peak magnitude of gate+up rows)"),
    "vow": Method(_optipfair("VOW"), about="optipfair VOW (variance of gate+up weights)"),
    "pon": Method(_optipfair("PON"), about="optipfair PON (product of gate and up L1 norms)"),
    "l2": Method(_optipfair("L2"), about="optipfair L2 (L2 norms of gate+up rows)"),
    "random": Method(_random, random=True, about="uniformly random neurons, seeded by --seed"),
    "data": Method(
        _activation_output_norm,
        needs_data=True,
        refit=True,
        version=3,  # 3: calibration windows start with BOS where the tokenizer adds one
        about="activation-aware: keep the largest ||activation|| x ||down column||, then re-fit down_proj "
        "by least squares on calibration text",
    ),
    "data-optipfair": Method(
        _optipfair_hybrid,
        needs_data=True,
        version=2,  # 2: calibration windows start with BOS where the tokenizer adds one
        about="optipfair's data-driven MAW hybrid (weights x activation norms) on calibration text",
    ),
}
