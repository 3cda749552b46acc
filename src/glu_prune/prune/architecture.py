"""Expansion ratios and exact parameter counts per pruning level, from the config alone.

The model is built once on the meta device (shapes, no memory, no weights), which counts every
parameter the real class has (norms, biases, tied embeddings once). Each removed neuron removes
the same number of parameters in every layer, so pruned counts follow exactly from that.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..models import canonical_name, count_parameters, glu_config, glu_mlps, load_config, meta_model
from ..provenance import package_versions, project_commit
from ..store import atomic_write_json, atomic_write_text
from .widths import kept_width

DEFAULT_LEVELS = (0, 10, 20, 30, 40, 50, 60)  # the original study's levels


def largest_pow2_divisor(n: int, cap: int = 256) -> int:
    return min(n & -n, cap)


def architecture_table(name: str, config, levels=DEFAULT_LEVELS, divisor: int | None = None) -> list[dict]:
    """One record per pruning level (0 = the unpruned model)."""
    text = glu_config(config)
    model = meta_model(config)
    mlps = glu_mlps(model)
    total = count_parameters(model)
    # parameters that each neuron owns in one layer: a row of gate and up (+ biases), a column of down
    m = mlps[0]
    per_neuron = (
        sum(lin.in_features + (lin.bias is not None) for lin in (m.gate_proj, m.up_proj))
        + m.down_proj.out_features
    )
    width, hidden, n_layers = text.intermediate_size, text.hidden_size, len(mlps)
    records = []
    for level in levels:
        k = kept_width(width, level, divisor) if level else width
        params = total - n_layers * (width - k) * per_neuron
        records.append(
            {
                "model": name,
                "pruning_pct": level,
                "divisor": divisor,
                "intermediate_size": k,
                "effective_pruning_pct": 100 * (width - k) / width,
                "hidden_size": hidden,
                "num_layers": n_layers,
                "expansion_ratio": k / hidden,
                "total_parameters": params,
                "mlp_parameters": n_layers * k * per_neuron,
                "parameter_reduction_pct": 100 * (total - params) / total,
                "divisible_by": largest_pow2_divisor(k),
            }
        )
    return records


def write_tables(models: list[str], levels, divisors, out_dir) -> list[dict]:
    """expansion_rates.json (records + provenance) and expansion_rates_summary.csv in out_dir."""
    records = [
        row
        for name in models
        for divisor in divisors
        for row in architecture_table(canonical_name(name), load_config(name), levels, divisor)
    ]
    out = Path(out_dir)
    atomic_write_json(
        out / "expansion_rates.json",
        {
            "about": "GLU width pruning levels: kept width = I - int(pct/100 * I), rounded down to a "
            "multiple of `divisor` when given; counts from the model config on the meta device",
            "levels": list(levels),
            "divisors": list(divisors),
            "provenance": {
                "packages": package_versions(("glu-prune", "transformers", "torch")),
                "project": project_commit(),
            },
            "records": records,
        },
    )
    columns = [
        "model",
        "divisor",
        "pruning_pct",
        "intermediate_size",
        "expansion_ratio",
        "total_parameters",
        "parameter_reduction_pct",
        "effective_pruning_pct",
        "divisible_by",
    ]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({**r, "divisor": r["divisor"] or ""} for r in records)
    atomic_write_text(out / "expansion_rates_summary.csv", buf.getvalue())
    return records
