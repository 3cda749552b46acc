"""Checkpoint identity of a fidelity measurement: every setting that changes its numbers."""

from __future__ import annotations

from ..models import ModelSpec, canonical_name, weights_packages
from ..provenance import RESULT_PACKAGES, package_versions
from ..prune import PruneConfig
from .settings import FidelitySettings
from .text import Text

# 1: KL / agreement / perplexities over BOS-started windows, bootstrap over windows
FIDELITY_VERSION = 1


def fidelity_identity(spec: ModelSpec, cfg: PruneConfig, text: Text, settings: FidelitySettings) -> dict:
    return {
        "kind": "fidelity",
        "runner": FIDELITY_VERSION,
        "model": canonical_name(spec.model),
        "random_weights": spec.random_weights,
        **({"weights_seed": spec.seed} if spec.random_weights else {}),
        "dtype": spec.dtype,
        "prune": cfg.settings(),
        "text_sha256": text.sha256,
        **settings.identity(),
        "versions": package_versions(RESULT_PACKAGES + weights_packages(spec.model)),
    }
