"""A model as evaluated or profiled: loaded, pruned on the fly (or as saved), with its record."""

from __future__ import annotations

from ..errors import UserError
from ..models import ModelSpec, canonical_name, load_model, pruned_dir_record, weights_packages
from ..provenance import package_versions
from .config import PruneConfig
from .core import prune
from .record import PruningRecord


def load_pruned(spec: ModelSpec, cfg: PruneConfig | None, progress: bool = True):
    """Load the model of `spec` and prune it by `cfg` (None: unpruned). -> (model, tokenizer, record dict).

    A local directory written by `glu-prune prune` carries its pruning.json: its record names the
    original model and pruning, so results land next to those of on-the-fly pruning.
    """
    saved = pruned_dir_record(spec.model)
    if saved is not None and cfg is not None:
        raise UserError(f"{spec.model} is already pruned (it has pruning.json); do not prune it again")
    model, tokenizer = load_model(spec)
    if saved is not None:
        return model, tokenizer, saved
    name = canonical_name(spec.model)
    weights = (name, spec.random_weights, spec.dtype, spec.seed if spec.random_weights else None)
    record = PruningRecord.unpruned(model) if cfg is None else prune(model, cfg, tokenizer, progress, weights)
    return (
        model,
        tokenizer,
        {
            "model": name,
            "random_weights": spec.random_weights,
            "dtype": spec.dtype,
            **record.to_dict(),
            "versions": package_versions(("torch", "transformers", "optipfair", *weights_packages(name))),
        },
    )
