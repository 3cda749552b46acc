"""Consolidating profile measurements into records, a tidy CSV and a complete JSON.

A record is one (model, pruning series, level, workload, batch size): the median of its repeats
with min/max/IQR, the raw per-repeat values, and the speed-ups over the same series' unpruned
model (level 0): ideal from the parameter bytes a decode step reads and from FLOPs, measured from
the median times.

Token counts: `generated_tokens` are real output tokens (each row up to its first EOS),
`computed_tokens` every position the timed work computed (batch x new_tokens, EOS or not).
`tokens_per_s`, `energy_j_per_token` and `energy_raw_j_per_token` use real tokens (what a user
gets); `tpot_ms`, `fixed_length_*` and `*_per_computed_token` use computed tokens, the same work at
every pruning level. How often a model emits EOS changes with pruning, so comparisons across
levels (speed-ups, figures, decision matrix) use the same-work columns.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from ..store import CheckpointStore, atomic_write_json, atomic_write_text, identity_key, slug
from .measure import spread

KIND = "profile-measurement"
METRICS = (
    "ttft_ms",
    "tpot_ms",
    "e2e_ms",
    "tokens_per_s",
    "fixed_length_tokens_per_s",
    "fixed_length_decode_tokens_per_s",
    "prefill_tokens_per_s",
    "peak_memory_bytes",
    "working_memory_bytes",
    "kv_cache_bytes",
    "energy_j",
    "energy_raw_j",
    "energy_j_per_token",
    "energy_raw_j_per_token",
    "energy_j_per_computed_token",
    "energy_raw_j_per_computed_token",
    "idle_power_w",
    "emissions_kg_co2eq",
    "decode_flops_per_token",
    "prefill_flops",
    "generated_tokens",
    "computed_tokens",
    "prompt_tokens",
    "rows_with_eos",
)
# the same in every repeat of a record: taken from the first
CONSTANT = (
    "model_bytes",
    "decode_bytes_per_step",
    "energy_source",
    "energy_estimate",
    "emissions_country",
    "timer",
    "memory_source",
    "tokenizer",
    "chat_template",
    "mode",
)


def group_identity(identity: dict) -> dict:
    """A measurement's identity without its repeat index: the identity of its record."""
    return {k: v for k, v in identity.items() if k != "repeat"}


SPREAD_SHOWN = (  # metrics whose min and max go into the tidy table beside the median
    "ttft_ms",
    "tpot_ms",
    "e2e_ms",
    "tokens_per_s",
    "fixed_length_tokens_per_s",
    "energy_j_per_token",
    "energy_j_per_computed_token",
)


def _header(group: dict, first: dict) -> dict:
    """Who and what was measured: model, hardware, pruning (a pruned dir measured as saved: its level)."""
    pr, series = first.get("prune_record", {}), group["series"]
    saved = group.get("pruned_dir")
    return {
        "model": group["model"],
        "random_weights": group["random_weights"],
        "dtype": group["dtype"],
        "device": group["device"],
        "hardware": group["hardware"],
        "threads": group.get("threads"),
        "method": pr.get("method", "none" if group["level"] == 0 else series["method"]),
        "prune_method": series["method"],
        "divisor": series.get("divisor"),
        "pruning_pct": saved["pruning_pct"] if saved else group["level"],
        "effective_pruning_pct": pr.get("effective_pruning_pct"),
        "intermediate_size": pr.get("intermediate_size"),
        "expansion_ratio": pr.get("expansion_ratio"),
        "parameters": pr.get("parameters_after"),
        "workload": group["workload"],
        "batch_size": group["batch_size"],
        "new_tokens": group["new_tokens"],
        "batches": group["batches"],
        "repeats": group["repeats"],
    }


def _medians(samples: list[dict]) -> tuple[dict, dict, dict]:
    """(columns: median, and min/max of SPREAD_SHOWN; spread per metric; raw values per metric)."""
    columns, spreads, raw = {}, {}, {}
    for metric in METRICS:
        raw[metric] = [s.get(metric) for s in samples]
        spreads[metric] = spread(raw[metric])
        columns[metric] = spreads[metric]["median"]
        if metric in SPREAD_SHOWN:
            columns[f"{metric}_min"], columns[f"{metric}_max"] = (
                spreads[metric]["min"],
                spreads[metric]["max"],
            )
    return columns, spreads, raw


def _aggregate(group: dict, members: list[dict]) -> dict:
    """One record from the measurements of one group (its repeats): medians, spread, raw values."""
    done = sorted((m for m in members if m.get("status") == "done"), key=lambda m: m["identity"]["repeat"])
    failed = [m for m in members if m.get("status") != "done"]
    samples = [m["result"] for m in done]
    first = samples[0] if samples else {}
    record = _header(group, first)
    record.update(repeats_done=len(done), repeats_failed=len(failed), order=group["order"])
    record.update({k: first.get(k) for k in CONSTANT})
    columns, spreads, raw = _medians(samples)
    record.update(columns)
    loads = [s["loadavg_start"][0] for s in samples] + [s["loadavg_end"][0] for s in samples]
    record["loadavg_1m_max"] = max(loads) if loads else None
    record["status"] = (
        "complete"
        if len(done) == group["repeats"]
        else (f"incomplete: {len(done)} of {group['repeats']} repeats done, {len(failed)} failed")
    )
    record.update(
        identity=group,
        spread=spreads,
        samples=raw,
        order_positions=[s["order"] for s in samples],
        errors=[m.get("result", {}).get("error") for m in failed],
    )
    return record


def _ratio(a, b):
    return a / b if a is not None and b else None


def _speedups(record: dict, base: dict | None) -> None:
    """Ideal and measured speed-ups over the series' unpruned model on the same workload."""
    b = base or {}
    record["ideal_speedup"] = _ratio(b.get("decode_bytes_per_step"), record["decode_bytes_per_step"])
    record["ideal_speedup_flops"] = _ratio(b.get("decode_flops_per_token"), record["decode_flops_per_token"])
    record["ideal_speedup_prefill_flops"] = _ratio(b.get("prefill_flops"), record["prefill_flops"])
    # decode time per step (one computed token per row, EOS or not): the same work at every level
    record["measured_speedup"] = _ratio(b.get("tpot_ms"), record["tpot_ms"])
    record["measured_speedup_ttft"] = _ratio(b.get("ttft_ms"), record["ttft_ms"])
    record["measured_vs_ideal"] = _ratio(record["measured_speedup"], record["ideal_speedup"])


def record_keys(records) -> set[str]:
    """The identity keys of records, for `consolidate_profiles(select=...)`."""
    return {identity_key(r["identity"]) for r in records}


def _read_runs(directory: Path) -> list[dict]:
    runs = []
    for path in sorted((directory / "runs").glob("*.json")):
        try:
            runs.append(json.loads(path.read_text(encoding="utf-8")))
        except ValueError as exc:
            warnings.warn(
                f"run record {path} is unreadable ({exc}); left out of the complete JSON", stacklevel=2
            )
    return runs


def _groups(directory: Path) -> dict[str, tuple[dict, list]]:
    """Profile measurements under `directory`, grouped by record (identity without the repeat)."""
    groups: dict[str, tuple[dict, list]] = {}
    for rec in CheckpointStore(directory / "checkpoints").records():
        ident = rec.get("identity") if isinstance(rec, dict) else None
        if not isinstance(ident, dict) or ident.get("kind") != KIND:
            continue
        group = group_identity(ident)
        groups.setdefault(identity_key(group), (group, []))[1].append(rec)
    return groups


def _write(dest: Path, prefix: str, recs: list[dict], groups: dict, runs: list[dict]) -> None:
    """<prefix>_results.csv (tidy scalars) and <prefix>_complete.json (records, their measurements
    and the runs that measured them)."""
    import pandas as pd

    nested = {"identity", "spread", "samples", "order_positions", "errors"}
    table = pd.DataFrame([{k: v for k, v in r.items() if k not in nested} for r in recs])
    atomic_write_text(dest / f"{prefix}_results.csv", table.to_csv(index=False))
    mine = (recs[0]["model"], recs[0]["random_weights"])
    measurements = [m for g, ms in groups.values() if (g["model"], g["random_weights"]) == mine for m in ms]
    measured_by = {(m.get("result") or {}).get("run_id") for m in measurements}
    atomic_write_json(
        dest / f"{prefix}_complete.json",
        {
            "about": __doc__.splitlines()[0],
            "runs": [run for run in runs if run.get("run_id") in measured_by],
            "records": recs,
            "measurements": measurements,
        },
    )


def consolidate_profiles(directory, dest=None, select=None) -> list[dict]:
    """Records from the measurements under `directory`; writes per model and weights kind
    `<model>_profile_results.csv` (tidy, scalars) and `<model>_profile_complete.json` (records
    with raw samples, their measurements, and the runs that measured them with their provenance
    and hardware as read) into `dest` (default: `directory`). Returns the records.

    `select`: identity keys (`record_keys`) of the records to keep, e.g. those of one invocation;
    by default every record in the directory, including those of earlier runs with other settings."""
    directory = Path(directory)
    dest = Path(dest) if dest is not None else directory
    groups = _groups(directory)
    records = [_aggregate(g, members) for g, members in groups.values()]
    by_key = {identity_key(r["identity"]): r for r in records}
    for r in records:  # a pruned dir has no unpruned model in its series (level 0 is itself)
        base = (
            None
            if "pruned_dir" in r["identity"]
            else by_key.get(identity_key({**r["identity"], "level": 0.0}))
        )
        _speedups(r, base)
    if select is not None:  # after the speed-ups: a baseline measured by an earlier run still counts
        select = set(select)
        records = [r for r in records if identity_key(r["identity"]) in select]
        groups = {k: v for k, v in groups.items() if k in select}
    order = ("model", "random_weights", "dtype", "divisor", "workload", "batch_size", "pruning_pct")
    records.sort(key=lambda r: tuple(str(r[k]) if k == "divisor" else r[k] for k in order))
    runs = _read_runs(directory)
    files: dict[str, list[dict]] = {}
    for r in records:
        files.setdefault(
            f"{slug(r['model'])}{'-random-weights' if r['random_weights'] else ''}_profile", []
        ).append(r)
    for prefix, recs in files.items():
        _write(dest, prefix, recs, groups, runs)
    return records
