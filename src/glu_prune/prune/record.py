"""The pruning record: what was removed from a model, as plain data (stored with every result)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..models import count_parameters, glu_config, glu_mlps

# keys left out of the record when they do not apply (None): seeds of deterministic methods,
# calibration settings of weight-only methods, per-layer widths of uniformly pruned models
OPTIONAL = (
    "method_version",
    "seed",
    "calibration_samples",
    "calibration_seq_len",
    "calibration_source",
    "layer_intermediate_sizes",
)
DERIVED = (
    "effective_pruning_pct",
    "uniform_width",
    "original_expansion_ratio",
    "expansion_ratio",
    "parameter_reduction_pct",
)


@dataclass(frozen=True)
class PruningRecord:
    """One model's pruning (method "none" for the unpruned model)."""

    method: str
    requested_pct: float | None
    target_expansion_ratio: float | None
    divisor: int | None
    layers: tuple[int, ...] | None
    pruning_pct: float
    original_intermediate_size: int
    intermediate_size: int
    hidden_size: int
    parameters_before: int
    parameters_after: int
    method_version: int | None = None
    seed: int | None = None
    calibration_samples: int | None = None
    calibration_seq_len: int | None = None
    calibration_source: str | None = None
    layer_intermediate_sizes: tuple[int, ...] | None = None  # only when some layers were left unpruned

    @classmethod
    def unpruned(cls, model) -> PruningRecord:
        width = glu_mlps(model)[0].gate_proj.out_features
        params = count_parameters(model)
        return cls(
            method="none",
            requested_pct=0,
            target_expansion_ratio=None,
            divisor=None,
            layers=None,
            pruning_pct=0,
            original_intermediate_size=width,
            intermediate_size=width,
            hidden_size=glu_config(model.config).hidden_size,
            parameters_before=params,
            parameters_after=params,
        )

    @property
    def effective_pruning_pct(self) -> float:
        return (
            100 * (self.original_intermediate_size - self.intermediate_size) / self.original_intermediate_size
        )

    @property
    def uniform_width(self) -> bool:
        return self.layer_intermediate_sizes is None

    @property
    def original_expansion_ratio(self) -> float:
        return self.original_intermediate_size / self.hidden_size

    @property
    def expansion_ratio(self) -> float:
        return self.intermediate_size / self.hidden_size

    @property
    def parameter_reduction_pct(self) -> float:
        return 100 * (1 - self.parameters_after / self.parameters_before)

    def to_dict(self) -> dict:
        """Plain data (stored in pruning.json and every result), with the derived ratios."""
        out = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in asdict(self).items()
            if not (k in OPTIONAL and v is None)
        }
        return {**out, **{k: getattr(self, k) for k in DERIVED}}


# A pruned configuration's columns in the tidy result tables (evaluation and fidelity alike).
TABLE_COLUMNS = (
    "model",
    "method",
    "pruning_pct",
    "effective_pruning_pct",
    "divisor",
    "seed",
    "intermediate_size",
    "expansion_ratio",
    "parameters",
)


# The measured number's columns that follow them in those tables: which number, and how sure.
METRIC_COLUMNS = (
    "task",
    "subtask",
    "metric",
    "filter",
    "value",
    "stderr",
    "stderr_source",
    "higher_is_better",
    "n_samples",
)


def table_columns(model: str, pruning: dict) -> dict:
    """TABLE_COLUMNS of one result from its model name and pruning record (a dict)."""
    return {
        "model": model,
        "method": pruning["method"],
        "pruning_pct": pruning["pruning_pct"],
        "effective_pruning_pct": pruning["effective_pruning_pct"],
        "divisor": pruning.get("divisor"),
        "seed": pruning.get("seed"),
        "intermediate_size": pruning["intermediate_size"],
        "expansion_ratio": pruning["expansion_ratio"],
        "parameters": pruning["parameters_after"],
    }
