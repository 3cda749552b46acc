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

from pathlib import Path

from ..store import (
    NUMBER,
    CheckpointStore,
    atomic_write_json,
    atomic_write_text,
    damaged_files,
    identity_key,
    shape_problem,
    slug,
)
from .measure import spread
from .runlog import read_runs

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
    "cuda_graph",
)


# what a measurement's identity and result must hold to be consolidated (and reused)
IDENTITY_SHAPE = {
    "model": str,
    "random_weights": bool,
    "dtype": str,
    "device": str,
    "hardware": str,
    "series": dict,
    "level": NUMBER,
    "workload": str,
    "batch_size": int,
    "new_tokens": int,
    "batches": int,
    "repeats": int,
    "repeat": int,
    "order": str,
}
RESULT_SHAPE = {
    "prompt_ids": list,
    "prune_record": dict,
    "order": dict,
    "loadavg_start": list,
    "loadavg_end": list,
    "run_id": str,
}


def measurement_problem(record: dict) -> str | None:
    """What keeps a measurement checkpoint from being reused or consolidated (None: nothing)."""
    identity, result = record["identity"], record.get("result")
    problem = shape_problem(identity, IDENTITY_SHAPE, "identity") or shape_problem(
        identity["series"], {"method": str}, "series"
    )
    if problem is None and "pruned_dir" in identity:
        problem = shape_problem(identity["pruned_dir"], {"pruning_pct": NUMBER}, "pruned dir record")
    if problem is None and record["status"] == "failed":
        problem = shape_problem(result, {"error": str}, "failure record")
    elif problem is None:
        problem = shape_problem(result, RESULT_SHAPE)
    if problem is None and record["status"] == "done":
        bad = [m for m in METRICS if result.get(m) is not None and _number(result[m]) is None]
        bad += [k for k in ("loadavg_start", "loadavg_end") if not _loads(result[k])]
        problem = f"its result's {bad[0]!r} is not a number" if bad else None
    return problem


def _number(value) -> float | int | None:
    """A stored metric as a number (JSON keeps a non-finite float as "nan" or "inf"); None if it is none."""
    if isinstance(value, NUMBER) and not isinstance(value, bool):
        return value
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _loads(values) -> bool:
    return isinstance(values, list) and bool(values) and all(_number(v) is not None for v in values)


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
        "decode": group.get("decode", "dynamic"),
    }


def _medians(samples: list[dict]) -> tuple[dict, dict, dict]:
    """(columns: median, and min/max of SPREAD_SHOWN; spread per metric; raw values per metric)."""
    columns, spreads, raw = {}, {}, {}
    for metric in METRICS:
        raw[metric] = [_number(s.get(metric)) for s in samples]
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


def _groups(directory: Path) -> dict[str, tuple[dict, list]]:
    """Profile measurements under `directory`, grouped by record (identity without the repeat)."""
    groups: dict[str, tuple[dict, list]] = {}
    for rec in CheckpointStore(directory / "checkpoints", KIND, measurement_problem).records():
        group = group_identity(rec["identity"])
        groups.setdefault(identity_key(group), (group, []))[1].append(rec)
    return groups


def _write(dest: Path, prefix: str, recs: list[dict], groups: dict, runs: list[dict], damaged: list) -> None:
    """<prefix>_results.csv (tidy scalars) and <prefix>_complete.json (records, their measurements,
    the runs that measured them, and the files of the run dir that were set aside as damaged)."""
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
            "damaged": damaged,
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
    runs = read_runs(directory)
    files: dict[str, list[dict]] = {}
    for r in records:
        files.setdefault(
            f"{slug(r['model'])}{'-random-weights' if r['random_weights'] else ''}_profile", []
        ).append(r)
    for prefix, recs in files.items():
        _write(dest, prefix, recs, groups, runs, damaged_files(directory / "checkpoints", directory / "runs"))
    return records
