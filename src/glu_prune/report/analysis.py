"""Reading measured results and turning them into comparable numbers: which metric speaks for each
task, normalisation to the unpruned model, capability groups, and speed-ups over the unpruned model
(the upload decision matrix built from them is in decision.py).

Plain pandas over the tidy CSVs written by `consolidate_results` (capability) and
`consolidate_profiles` (performance). Two rows are only ever compared when they measured the same
thing: same model, task, subtask, metric, lm-eval filter, few-shot count, data source, limit and
chat template (pitfall 13: the original compared `acc` of the baseline with `acc_norm` of pruned
models).
"""

from __future__ import annotations

import math

from ..errors import UserError
from .metrics import CONFIG_KEYS, LIKE_KEYS, NO_STDERR, PRIMARY_METRICS, group_of, headline
from .results import join_key


def _direction(row) -> bool | None:
    known = {(m.name, m.filter): m.higher_is_better for m in PRIMARY_METRICS.get(row["task"], ())}
    from_table = row.get("higher_is_better")
    if isinstance(from_table, str):
        from_table = {"true": True, "false": False}.get(from_table.lower())
    from_table = None if from_table is None or from_table != from_table else bool(from_table)
    mine = known.get((row["metric"], row.get("filter", "none")))
    if mine is not None and from_table is not None and mine != from_table:
        raise UserError(
            f"{row['task']}/{row['metric']}: lm-eval says higher_is_better={from_table}, "
            f"PRIMARY_METRICS says {mine}"
        )
    return mine if mine is not None else from_table


def ratio_with_stderr(value, stderr, base, base_stderr, higher_is_better: bool):
    """(normalised, stderr): value/base, or base/value when lower is better, so > 1 is better.

    First-order (delta method) propagation treating the two estimates as independent:
    var(a/b) ~= (s_a/b)^2 + (a s_b/b^2)^2. The pruned and unpruned models answer the same
    documents, so their errors are positively correlated and this errs on the wide side; a paired
    estimate needs per-document scores, which the tidy results do not keep. A missing stderr gives
    NaN (unknown), never 0.
    """
    num, num_se, den, den_se = (
        (value, stderr, base, base_stderr) if higher_is_better else (base, base_stderr, value, stderr)
    )
    if den is None or den != den or den == 0 or num is None or num != num:
        return math.nan, math.nan
    ratio = num / den
    if any(s is None or s != s for s in (num_se, den_se)):
        return ratio, math.nan
    return ratio, math.sqrt((num_se / den) ** 2 + (num * den_se / den**2) ** 2)


DEFAULTS = (  # columns an in-memory or older table may lack, and what they mean when absent
    ("filter", "none"),
    ("num_fewshot", 0),
    ("data_source", "unknown"),
    ("limit", None),
    ("chat_template", None),
    ("divisor", None),
    ("seed", None),
)


def _task_rows(evaluation, primary_only: bool):
    """The tasks' own rows (not subtasks'), typed, with direction, capability group and headline."""
    import pandas as pd

    table = evaluation.copy()
    if "subtask" not in table:
        table["subtask"] = table["task"]
    for col, default in DEFAULTS:
        if col not in table:
            table[col] = default
    table["filter"] = table["filter"].fillna("none")
    for col in ("value", "stderr"):  # in-memory tables hold None where a CSV holds NaN
        table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
    table = table[table["subtask"] == table["task"]]
    if primary_only:
        keep = [
            row.task not in PRIMARY_METRICS
            or any((m.name, m.filter) == (row.metric, row.filter) for m in PRIMARY_METRICS[row.task])
            for row in table.itertuples()
        ]
        table = table[keep]
    return table.assign(
        higher_is_better=[_direction(r) for r in table.to_dict("records")],
        group=table["task"].map(group_of),
        headline=[
            (h := headline(r.task)) is None or (h.name, h.filter) == (r.metric, r.filter)
            for r in table.itertuples()
        ],
    )


def _baselines(table, is_base):
    """The unpruned rows by LIKE_KEYS; two that measured the same thing differently raise."""
    base = table[is_base].assign(_k=lambda f: join_key(f, LIKE_KEYS))
    clash = base.groupby("_k").filter(lambda g: g["value"].nunique(dropna=False) > 1)
    if not clash.empty:
        r = clash.iloc[0]
        raise UserError(
            f"ambiguous baseline: {clash['_k'].nunique()} settings have several unpruned results "
            f"that differ (e.g. {r['model']} {r['task']}/{r['metric']}); load one run's results"
        )
    return base.drop_duplicates("_k").set_index("_k")


def _notes(table, base_rows):
    """Why a row has no ratio or no stderr, in words."""
    table["note"] = ""
    table.loc[table["baseline_value"].isna(), "note"] = (
        "no unpruned result with the same settings (few-shot, data source, limit, chat template)"
    )
    table.loc[table["higher_is_better"].isna(), "note"] = "direction of this metric unknown"
    zero = table["baseline_value"].eq(0) & table["higher_is_better"].eq(True)
    table.loc[zero, "note"] = "baseline scored 0: ratio undefined (see delta)"
    unknown = table["normalised"].notna() & table["normalised_stderr"].isna() & ~base_rows
    table.loc[unknown, "note"] = NO_STDERR
    return table


def normalise_to_baseline(evaluation, primary_only: bool = True):
    """Each row of the tidy evaluation table next to the unpruned model's row that measured the
    same thing (LIKE_KEYS), with:

    - normalised, normalised_stderr: ratio to the baseline, > 1 better (see ratio_with_stderr);
    - delta, delta_stderr: the difference in the metric's own units, > 0 better;
    - baseline_value, baseline_stderr, higher_is_better, group, headline, note.

    The baseline's own rows are kept (normalised exactly 1). primary_only keeps the metrics of
    PRIMARY_METRICS (tasks not listed there keep every metric). Raises UserError when two unpruned
    rows measured the same thing with different results (ambiguous baseline) or the table is empty.
    """
    import numpy as np

    if evaluation is None or evaluation.empty:
        raise UserError("no evaluation results to normalise")
    table = _task_rows(evaluation, primary_only)
    is_base = (table["method"] == "none") & (table["pruning_pct"] == 0)
    base = _baselines(table, is_base)
    keys = join_key(table, LIKE_KEYS)
    table["baseline_value"] = keys.map(base["value"]).astype(float)
    table["baseline_stderr"] = keys.map(base["stderr"]).astype(float)
    out = [
        ratio_with_stderr(r.value, r.stderr, r.baseline_value, r.baseline_stderr, r.higher_is_better)
        if r.higher_is_better is not None
        else (math.nan, math.nan)
        for r in table.itertuples()
    ]
    table["normalised"], table["normalised_stderr"] = [o[0] for o in out], [o[1] for o in out]
    sign = table["higher_is_better"].map({True: 1.0, False: -1.0}).astype(float)
    table["delta"] = sign * (table["value"] - table["baseline_value"])
    table["delta_stderr"] = np.sqrt(table["stderr"] ** 2 + table["baseline_stderr"] ** 2)
    base_rows = is_base[table.index]
    table.loc[base_rows, ["normalised", "delta"]] = [1.0, 0.0]
    table.loc[base_rows, ["normalised_stderr", "delta_stderr"]] = 0.0
    return _notes(table, base_rows).reset_index(drop=True)


# ----------------------------------------------------------------------------- group retention


def _mean_with_stderr(values, stderrs) -> tuple[float, float]:
    """Unweighted mean of task retentions; stderr sqrt(sum s^2)/k (tasks independent), NaN if one is
    unknown."""
    vals = [v for v in values if v == v]
    if not vals:
        return math.nan, math.nan
    ses = [s for v, s in zip(values, stderrs, strict=False) if v == v]
    se = math.sqrt(sum(s * s for s in ses)) / len(ses) if all(s == s for s in ses) else math.nan
    return sum(vals) / len(vals), se


def group_retention(normalised):
    """Per pruned config and capability group: mean headline retention over the group's tasks,
    its stderr, and the tasks it covers. Input: normalise_to_baseline's output."""
    import pandas as pd

    rows = normalised[
        normalised["headline"] & ~((normalised["method"] == "none") & (normalised["pruning_pct"] == 0))
    ]
    keys = [*CONFIG_KEYS, "intermediate_size", "expansion_ratio", "data_source"]
    keys = [k for k in keys if k in rows]
    out = []
    for cfg, g in rows.groupby(keys, dropna=False, sort=True):
        for group, gg in g.groupby("group"):
            valid = gg[gg["normalised"].notna()]  # a setting with no baseline to compare with does not count
            twice = valid.loc[valid.duplicated(["task", "metric", "filter"]), "task"]
            if len(twice):
                raise UserError(
                    f"{', '.join(sorted(set(twice)))} appears more than once for one pruned model "
                    "(different limits or settings?): keep one setting per results dir"
                )
            mean, se = _mean_with_stderr(list(gg["normalised"]), list(gg["normalised_stderr"]))
            out.append(
                {
                    **dict(zip(keys, cfg, strict=False)),
                    "group": group,
                    "retention": mean,
                    "retention_stderr": se,
                    "tasks": ",".join(sorted(gg.loc[gg["normalised"].notna(), "task"])),
                    "n_tasks": int(gg["normalised"].notna().sum()),
                }
            )
    return pd.DataFrame(out)


def _geomean(values) -> float:
    vals = [v for v in values if v == v and v is not None and v > 0]
    return math.exp(sum(map(math.log, vals)) / len(vals)) if vals else math.nan


RATIOS = {  # pruned / unpruned, same series, workload and batch size
    "throughput_gain": "fixed_length_tokens_per_s",
    "throughput_gain_real_tokens": "tokens_per_s",
    "energy_ratio": "energy_j_per_computed_token",
    "energy_ratio_real_tokens": "energy_j_per_token",
    "memory_ratio": "peak_memory_bytes",
}
CONTEXT = ["model", "hardware", "dtype", "random_weights", "new_tokens"]


def _against_baseline(profiles):
    """Pruned rows with their RATIOS to the unpruned row of the same series, workload and batch."""
    p = profiles.copy()
    for col in (
        "hardware",
        "dtype",
        "random_weights",
        "divisor",
        "prune_method",
        "energy_source",
        "new_tokens",
    ):
        if col not in p:
            p[col] = None
    series = [*CONTEXT, "prune_method", "divisor", "workload", "batch_size"]
    base = (
        p[p["pruning_pct"] == 0]
        .assign(_k=lambda f: join_key(f, series))
        .drop_duplicates("_k")
        .set_index("_k")
    )
    p = p[p["pruning_pct"] > 0].copy()
    k = join_key(p, series)
    for name, col in RATIOS.items():
        p[name] = (p[col] / k.map(base[col])).astype(float) if col in p and col in base else math.nan
    p["memory_saving"] = 1 - p["memory_ratio"]
    return p


def _summary_row(key, g) -> dict:
    """Speed-ups at the smallest batch (latency), throughput at the largest; geomeans over workloads."""
    lo, hi = g["batch_size"].min(), g["batch_size"].max()
    small, large = g[g["batch_size"] == lo], g[g["batch_size"] == hi]
    return {
        **dict(zip([*CONTEXT, "intermediate_size"], key, strict=False)),
        "latency_batch": int(lo),
        "throughput_batch": int(hi),
        "decode_speedup": _geomean(small["measured_speedup"]),
        "ideal_speedup": _geomean(small["ideal_speedup"]),
        "ttft_speedup": _geomean(small.get("measured_speedup_ttft", [])),
        "throughput_gain": _geomean(large["throughput_gain"]),
        "throughput_gain_real_tokens": _geomean(large["throughput_gain_real_tokens"]),
        "memory_saving": float(small["memory_saving"].median()),
        "energy_per_token_ratio": _geomean(small["energy_ratio"]),
        "energy_per_real_token_ratio": _geomean(small["energy_ratio_real_tokens"]),
        "energy_source": ",".join(sorted(set(map(str, small["energy_source"].dropna())))) or None,
        "workloads": ",".join(sorted(set(g["workload"]))),
    }


def performance_summary(profiles):
    """Per (model, intermediate_size, hardware, dtype, weights kind): measured and ideal speed-ups,
    throughput gain, memory saving and energy per token against the unpruned model of the same
    series, workload and batch size; geometric means over workloads.

    throughput_gain and energy_per_token_ratio compare the same work (computed tokens, batch x
    new_tokens: fixed_length_tokens_per_s, energy_j_per_computed_token), so when a model emits EOS
    does not enter; the real-token ratios (tokens_per_s, energy_j_per_token) are kept apart as
    throughput_gain_real_tokens and energy_per_real_token_ratio."""
    import pandas as pd

    if profiles is None or profiles.empty:
        return pd.DataFrame()
    p = _against_baseline(profiles)
    groups = p.groupby([*CONTEXT, "intermediate_size"], dropna=False)
    return pd.DataFrame([_summary_row(key, g) for key, g in groups])
