"""Reading measured results and turning them into comparable numbers: which metric speaks for each
task, normalisation to the unpruned model, capability groups, and the upload decision matrix.

Plain pandas over the tidy CSVs written by `consolidate_results` (capability) and
`consolidate_profiles` (performance). Two rows are only ever compared when they measured the same
thing: same model, task, subtask, metric, lm-eval filter, few-shot count, data source, limit and
chat template (pitfall 13: the original compared `acc` of the baseline with `acc_norm` of pruned
models).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import UserError


@dataclass(frozen=True)
class Metric:
    """One lm-eval metric of a task: its name, lm-eval filter, and direction."""

    name: str
    filter: str = "none"
    higher_is_better: bool = True


# The metric(s) that speak for each task. The FIRST is the task's headline (used in group means
# and the decision matrix); the others are drawn too. Names, filters and directions checked
# against lm-eval 0.4.13's task YAMLs (and this project's offline YAMLs, which keep them).
PRIMARY_METRICS: dict[str, tuple[Metric, ...]] = {
    "wikitext": (Metric("word_perplexity", higher_is_better=False),),
    "wikipedia_ppl": (Metric("word_perplexity", higher_is_better=False),),
    # headline acc: a perplexity ratio is heavy-tailed; the perplexity task above covers it
    "lambada_openai": (Metric("acc"), Metric("perplexity", higher_is_better=False)),
    "mmlu": (Metric("acc"),),
    "arc_challenge": (Metric("acc_norm"),),
    "hellaswag": (Metric("acc_norm"),),
    "winogrande": (Metric("acc"),),
    "piqa": (Metric("acc_norm"),),
    "boolq": (Metric("acc"),),
    "truthfulqa_mc1": (Metric("acc"),),
    "truthfulqa_mc2": (Metric("acc"),),
    "gsm8k": (Metric("exact_match", "flexible-extract"), Metric("exact_match", "strict-match")),
    "ifeval": (Metric("prompt_level_strict_acc"),),
    "leaderboard_musr": (Metric("acc_norm"),),
}

# Score of uniform guessing over the answer choices, where that is well defined (drawn as a guide:
# a retention near chance/baseline means the task no longer separates the models).
CHANCE = {"mmlu": 0.25, "arc_challenge": 0.25, "hellaswag": 0.25, "winogrande": 0.5, "piqa": 0.5, "boolq": 0.5}

CAPABILITY_GROUPS: dict[str, tuple[str, ...]] = {
    "fragile": ("mmlu", "gsm8k", "wikitext", "wikipedia_ppl", "lambada_openai"),
    "robust": ("ifeval", "leaderboard_musr", "truthfulqa_mc1", "truthfulqa_mc2"),
}
CAPABILITY_GROUPS_NOTE = (
    "The original study's hypothesis, to be tested here, not assumed: knowledge and perplexity "
    "tasks ('fragile') degrade under GLU width pruning while instruction following and "
    "truthfulness ('robust') hold up. Every other task is 'other'."
)
GROUP_ORDER = ("fragile", "robust", "other")

# Two rows measure the same thing only when all of these agree (besides the pruning config).
LIKE_KEYS = ("model", "task", "subtask", "metric", "filter", "num_fewshot", "data_source", "limit", "chat_template")
# A pruned configuration, as it appears in the tidy evaluation CSV.
CONFIG_KEYS = ("model", "method", "pruning_pct", "divisor", "seed")
EVAL_COLUMNS = {"model", "method", "pruning_pct", "task", "metric", "value", "stderr"}
PROFILE_COLUMNS = {"model", "pruning_pct", "workload", "batch_size", "ttft_ms", "tpot_ms"}
NO_STDERR = "lm-eval gives no stderr for this metric: uncertainty unknown, not zero"


def group_of(task: str) -> str:
    """'fragile', 'robust' or 'other' (see CAPABILITY_GROUPS_NOTE)."""
    return next((g for g, tasks in CAPABILITY_GROUPS.items() if task in tasks), "other")


def headline(task: str) -> Metric | None:
    return PRIMARY_METRICS[task][0] if task in PRIMARY_METRICS else None


# ----------------------------------------------------------------------------- loading


@dataclass
class ResultSet:
    """The tidy tables found under a directory, with where each came from."""

    evaluation: "object"  # pandas DataFrame (empty when none was found)
    profiles: "object"
    sources: dict = field(default_factory=dict)  # {"evaluation": [csv...], "profiles": [csv...], "ignored": [...]}


def _complete_json(csv: Path) -> Path:
    """The complete JSON written beside a tidy CSV (results.csv -> complete.json, X_results -> X_complete)."""
    return csv.with_name(csv.name.replace("results", "complete")).with_suffix(".json")


def _commit(prov: dict) -> str | None:
    project = prov.get("project") or {}
    if not project.get("commit"):
        return None
    return project["commit"][:10] + ("+local changes" if project.get("dirty") else "")


def read_eval_csv(csv: Path):
    """An evaluation CSV, with each row's hardware and project commit from its complete JSON."""
    import pandas as pd

    from .provenance import hardware_label

    table = pd.read_csv(csv)
    table["hardware"], table["project_commit"] = "unknown (no complete JSON beside the CSV)", None
    complete = _complete_json(csv)
    if complete.is_file():
        runs = json.loads(complete.read_text(encoding="utf-8")).get("runs", [])
        by_checkpoint = {r.get("checkpoint"): r.get("provenance", {}) for r in runs}
        if "checkpoint" in table:
            prov = table["checkpoint"].map(lambda c: by_checkpoint.get(c, {}))
            table["hardware"] = prov.map(lambda p: hardware_label(p["hardware"]) if p.get("hardware") else "unknown")
            table["project_commit"] = prov.map(_commit)
    table["source_csv"] = str(csv)
    return table


def load_results(*paths) -> ResultSet:
    """Every tidy evaluation and profile CSV in the given files or directories (searched
    recursively), told apart by their columns, duplicates (the same checkpoint consolidated twice)
    dropped. Raises UserError for a path that does not exist, and for profile rows of one setting
    that differ (`_one_row_per_profile`)."""
    import pandas as pd

    csvs = []
    for p in map(Path, paths):
        if not p.exists():
            raise UserError(f"{p} does not exist")
        csvs += [p] if p.is_file() else sorted(
            c for c in p.rglob("*.csv") if not {"figures", "checkpoints", "damaged"} & set(c.relative_to(p).parts[:-1])
        )  # fmt: skip
    evals, profiles, sources = [], [], {"evaluation": [], "profiles": [], "ignored": []}
    for csv in csvs:
        try:
            columns = set(pd.read_csv(csv, nrows=0).columns)
        except (ValueError, OSError) as exc:
            sources["ignored"].append(f"{csv} (unreadable: {exc})")
            continue
        if EVAL_COLUMNS <= columns:
            evals.append(read_eval_csv(csv))
            sources["evaluation"].append(str(csv))
        elif PROFILE_COLUMNS <= columns:
            profiles.append(pd.read_csv(csv).assign(source_csv=str(csv)))
            sources["profiles"].append(str(csv))
        else:
            sources["ignored"].append(f"{csv} (neither an evaluation nor a profile table)")
    evaluation = pd.concat(evals, ignore_index=True) if evals else pd.DataFrame()
    if not evaluation.empty and "checkpoint" in evaluation:
        evaluation = evaluation.drop_duplicates(["checkpoint", "subtask", "metric", "filter"])
    prof = pd.concat(profiles, ignore_index=True) if profiles else pd.DataFrame()
    if not prof.empty:
        prof = _one_row_per_profile(prof)
    return ResultSet(evaluation, prof, sources)


PROFILE_KEYS = ("model", "random_weights", "dtype", "hardware", "prune_method", "divisor", "pruning_pct", "workload",
                "batch_size", "new_tokens")  # fmt: skip


def _one_row_per_profile(prof):
    """One row per PROFILE_KEYS (what the figures and the decision matrix tell apart). Copies of a
    row (the same record consolidated into two files) are dropped; rows that share the keys but
    differ (other batches, threads, repeats, or another run) raise UserError naming them."""
    keys = [k for k in PROFILE_KEYS if k in prof]
    twice = prof[prof.duplicated(keys, keep=False)]
    conflicts = []
    for key, g in twice.groupby(keys, dropna=False, sort=True):
        rows = g.drop(columns="source_csv").to_dict("records")
        differ = sorted({c for r in rows[1:] for c, v in r.items()
                         if v == v and rows[0].get(c) == rows[0].get(c) and v != rows[0].get(c)})  # fmt: skip
        if differ:
            conflicts.append(f"{' '.join(map(key_cell, key))} in {', '.join(sorted(set(g['source_csv'])))} "
                             f"(differing: {', '.join(differ[:5])})")  # fmt: skip
    if conflicts:
        raise UserError(f"{len(conflicts)} profile settings appear more than once with different results, e.g. "
                        f"{conflicts[0]}; load one run's results (or one setting per results dir)")  # fmt: skip
    return prof.drop_duplicates(keys)


# ----------------------------------------------------------------------------- normalisation


def key_cell(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"  # NaN limit, None divisor: missing values match each other
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # 922 and 922.0 (a column that once held a NaN) are the same width
    return str(v)


def join_key(frame, keys):
    """One string per row from its join keys."""
    cells = [frame[k].map(key_cell) for k in keys]
    return cells[0].str.cat(cells[1:], sep="\x1f") if len(cells) > 1 else cells[0]


def _direction(row) -> bool | None:
    known = {(m.name, m.filter): m.higher_is_better for m in PRIMARY_METRICS.get(row["task"], ())}
    from_table = row.get("higher_is_better")
    if isinstance(from_table, str):
        from_table = {"true": True, "false": False}.get(from_table.lower())
    from_table = None if from_table is None or from_table != from_table else bool(from_table)
    mine = known.get((row["metric"], row.get("filter", "none")))
    if mine is not None and from_table is not None and mine != from_table:
        raise UserError(f"{row['task']}/{row['metric']}: lm-eval says higher_is_better={from_table}, "
                        f"PRIMARY_METRICS says {mine}")  # fmt: skip
    return mine if mine is not None else from_table


def ratio_with_stderr(value, stderr, base, base_stderr, higher_is_better: bool):
    """(normalised, stderr): value/base, or base/value when lower is better, so > 1 is better.

    First-order (delta method) propagation treating the two estimates as independent:
    var(a/b) ~= (s_a/b)^2 + (a s_b/b^2)^2. The pruned and unpruned models answer the same
    documents, so their errors are positively correlated and this errs on the wide side; a paired
    estimate needs per-document scores, which the tidy results do not keep. A missing stderr gives
    NaN (unknown), never 0.
    """
    num, num_se, den, den_se = (value, stderr, base, base_stderr) if higher_is_better else (base, base_stderr, value, stderr)
    if den is None or den != den or den == 0 or num is None or num != num:
        return math.nan, math.nan
    ratio = num / den
    if any(s is None or s != s for s in (num_se, den_se)):
        return ratio, math.nan
    return ratio, math.sqrt((num_se / den) ** 2 + (num * den_se / den**2) ** 2)


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
    import pandas as pd

    if evaluation is None or evaluation.empty:
        raise UserError("no evaluation results to normalise")
    table = evaluation.copy()
    if "subtask" not in table:
        table["subtask"] = table["task"]
    for col, default in (("filter", "none"), ("num_fewshot", 0), ("data_source", "unknown"), ("limit", None),
                         ("chat_template", None), ("divisor", None), ("seed", None)):  # fmt: skip
        if col not in table:
            table[col] = default
    table["filter"] = table["filter"].fillna("none")
    for col in ("value", "stderr"):  # in-memory tables hold None where a CSV holds NaN
        table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
    table = table[table["subtask"] == table["task"]]  # the task's own numbers, not its subtasks'
    if primary_only:
        keep = [
            row.task not in PRIMARY_METRICS
            or any((m.name, m.filter) == (row.metric, row.filter) for m in PRIMARY_METRICS[row.task])
            for row in table.itertuples()
        ]  # fmt: skip
        table = table[keep]
    table = table.assign(
        higher_is_better=[_direction(r) for r in table.to_dict("records")],
        group=table["task"].map(group_of),
        headline=[(h := headline(r.task)) is None or (h.name, h.filter) == (r.metric, r.filter) for r in table.itertuples()],
    )  # fmt: skip
    is_base = (table["method"] == "none") & (table["pruning_pct"] == 0)
    base = table[is_base].assign(_k=lambda f: join_key(f, LIKE_KEYS))
    clash = base.groupby("_k").filter(lambda g: g["value"].nunique(dropna=False) > 1)
    if not clash.empty:
        r = clash.iloc[0]
        raise UserError(f"ambiguous baseline: {clash['_k'].nunique()} settings have several unpruned results "
                        f"that differ (e.g. {r['model']} {r['task']}/{r['metric']}); load one run's results")  # fmt: skip
    base = base.drop_duplicates("_k").set_index("_k")
    keys = join_key(table, LIKE_KEYS)
    table["baseline_value"] = keys.map(base["value"]).astype(float)
    table["baseline_stderr"] = keys.map(base["stderr"]).astype(float)
    out = [ratio_with_stderr(r.value, r.stderr, r.baseline_value, r.baseline_stderr, r.higher_is_better)
           if r.higher_is_better is not None else (math.nan, math.nan) for r in table.itertuples()]  # fmt: skip
    table["normalised"], table["normalised_stderr"] = [o[0] for o in out], [o[1] for o in out]
    sign = table["higher_is_better"].map({True: 1.0, False: -1.0}).astype(float)
    table["delta"] = sign * (table["value"] - table["baseline_value"])
    table["delta_stderr"] = np.sqrt(table["stderr"] ** 2 + table["baseline_stderr"] ** 2)
    base_rows = is_base[table.index]
    table.loc[base_rows, ["normalised", "delta"]] = [1.0, 0.0]
    table.loc[base_rows, ["normalised_stderr", "delta_stderr"]] = 0.0
    table["note"] = ""
    table.loc[table["baseline_value"].isna(), "note"] = (
        "no unpruned result with the same settings (few-shot, data source, limit, chat template)")
    table.loc[table["higher_is_better"].isna(), "note"] = "direction of this metric unknown"
    zero = table["baseline_value"].eq(0) & table["higher_is_better"].eq(True)
    table.loc[zero, "note"] = "baseline scored 0: ratio undefined (see delta)"
    unknown = table["normalised"].notna() & table["normalised_stderr"].isna() & ~base_rows
    table.loc[unknown, "note"] = NO_STDERR
    return table.reset_index(drop=True)


# ----------------------------------------------------------------------------- group retention


def _mean_with_stderr(values, stderrs) -> tuple[float, float]:
    """Unweighted mean of task retentions; stderr sqrt(sum s^2)/k (tasks independent), NaN if any is unknown."""
    vals = [v for v in values if v == v]
    if not vals:
        return math.nan, math.nan
    ses = [s for v, s in zip(values, stderrs) if v == v]
    se = math.sqrt(sum(s * s for s in ses)) / len(ses) if all(s == s for s in ses) else math.nan
    return sum(vals) / len(vals), se


def group_retention(normalised):
    """Per pruned config and capability group: mean headline retention over the group's tasks,
    its stderr, and the tasks it covers. Input: normalise_to_baseline's output."""
    import pandas as pd

    rows = normalised[normalised["headline"] & ~((normalised["method"] == "none") & (normalised["pruning_pct"] == 0))]
    keys = [*CONFIG_KEYS, "intermediate_size", "expansion_ratio", "data_source"]
    keys = [k for k in keys if k in rows]
    out = []
    for cfg, g in rows.groupby(keys, dropna=False, sort=True):
        for group, gg in g.groupby("group"):
            valid = gg[gg["normalised"].notna()]  # a setting with no baseline to compare with does not count
            twice = valid.loc[valid.duplicated(["task", "metric", "filter"]), "task"]
            if len(twice):
                raise UserError(f"{', '.join(sorted(set(twice)))} appears more than once for one pruned model "
                                "(different limits or settings?): keep one setting per results dir")  # fmt: skip
            mean, se = _mean_with_stderr(list(gg["normalised"]), list(gg["normalised_stderr"]))
            out.append({**dict(zip(keys, cfg)), "group": group, "retention": mean, "retention_stderr": se,
                        "tasks": ",".join(sorted(gg.loc[gg["normalised"].notna(), "task"])),
                        "n_tasks": int(gg["normalised"].notna().sum())})  # fmt: skip
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------- decision matrix


@dataclass(frozen=True)
class Thresholds:
    """When a pruned model is worth uploading. Recorded in every row of the decision matrix."""

    min_retention: float = 0.90  # every capability group with results keeps at least this (1 = baseline)
    min_speedup: float = 1.10  # measured decode speed-up (TPOT ratio) at the smallest batch size
    min_memory_saving: float = 0.10  # fraction of the baseline's peak memory saved at the smallest batch
    z: float = 1.96  # a retention within z * stderr of min_retention is 'borderline'


def _geomean(values) -> float:
    vals = [v for v in values if v == v and v is not None and v > 0]
    return math.exp(sum(map(math.log, vals)) / len(vals)) if vals else math.nan


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
    p = profiles.copy()
    for col in ("hardware", "dtype", "random_weights", "divisor", "prune_method", "energy_source", "new_tokens"):
        if col not in p:
            p[col] = None
    context = ["model", "hardware", "dtype", "random_weights", "new_tokens"]
    series = [*context, "prune_method", "divisor", "workload", "batch_size"]
    base = p[p["pruning_pct"] == 0].assign(_k=lambda f: join_key(f, series)).drop_duplicates("_k").set_index("_k")
    p = p[p["pruning_pct"] > 0].copy()
    k = join_key(p, series)
    ratios = {"throughput_gain": "fixed_length_tokens_per_s", "throughput_gain_real_tokens": "tokens_per_s",
              "energy_ratio": "energy_j_per_computed_token", "energy_ratio_real_tokens": "energy_j_per_token",
              "memory_ratio": "peak_memory_bytes"}  # fmt: skip
    for name, col in ratios.items():  # pruned / unpruned
        p[name] = (p[col] / k.map(base[col])).astype(float) if col in p and col in base else math.nan
    p["memory_saving"] = 1 - p["memory_ratio"]
    out = []
    for key, g in p.groupby([*context, "intermediate_size"], dropna=False):
        lo, hi = g["batch_size"].min(), g["batch_size"].max()
        small, large = g[g["batch_size"] == lo], g[g["batch_size"] == hi]
        out.append({
            **dict(zip([*context, "intermediate_size"], key)),
            "latency_batch": int(lo), "throughput_batch": int(hi),
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
        })  # fmt: skip
    return pd.DataFrame(out)


def _verdict(row: dict, groups: list[str], t: Thresholds) -> tuple[str, str]:
    reasons, borderline = [], []
    for g in groups:
        r, se = row.get(f"retention_{g}"), row.get(f"retention_{g}_stderr")
        if r is None or r != r:
            continue
        if se == se and abs(r - t.min_retention) < t.z * se:
            borderline.append(f"{g} retention {r:.3f}±{se:.3f} is within {t.z:g} s.e. of {t.min_retention:g}")
        elif r < t.min_retention:
            reasons.append(f"{g} retention {r:.3f} < {t.min_retention:g}")
    if not any(row.get(f"retention_{g}") == row.get(f"retention_{g}") for g in groups):
        return "undecided", "no capability results with a baseline"
    speed, mem = row.get("decode_speedup", math.nan), row.get("memory_saving", math.nan)
    if speed != speed and mem != mem:
        return "undecided", "no profile measurements for this width"
    if not (speed >= t.min_speedup or mem >= t.min_memory_saving):
        reasons.append(f"gain too small: decode speed-up {speed:.3f} < {t.min_speedup:g} "
                       f"and memory saving {mem:.3f} < {t.min_memory_saving:g}")  # fmt: skip
    if reasons:
        return "do not upload", "; ".join(reasons + borderline)
    if borderline:
        return "borderline", "; ".join(borderline)
    return "upload", f"retention >= {t.min_retention:g} in {', '.join(groups)}; decode speed-up {speed:.3f}, memory saving {mem:.3f}"


def decision_matrix(evaluation, profiles=None, thresholds: Thresholds = Thresholds()):
    """One row per pruned config (x profiling hardware/dtype/weights kind): capability retention per
    group (mean headline retention, stderr, tasks), the worst task, measured speed-up, throughput
    gain, memory saving and energy per token, and a recommendation with its reason. Speed is
    matched by model and intermediate_size: it depends on the shapes, not on which neurons were
    kept. The thresholds are recorded in columns threshold_*."""
    import pandas as pd

    norm = normalise_to_baseline(evaluation)
    retention = group_retention(norm)
    if retention.empty:
        raise UserError("no pruned configuration has capability results next to an unpruned baseline")
    keys = [k for k in retention.columns if k not in ("group", "retention", "retention_stderr", "tasks", "n_tasks")]
    groups = [g for g in GROUP_ORDER if g in set(retention["group"])]
    wide = None
    for g in groups:
        part = retention[retention["group"] == g].drop(columns="group").rename(columns={
            "retention": f"retention_{g}", "retention_stderr": f"retention_{g}_stderr", "tasks": f"tasks_{g}",
            "n_tasks": f"n_tasks_{g}"})  # fmt: skip
        wide = part if wide is None else wide.merge(part, on=keys, how="outer")
    pruned = norm[norm["headline"] & (norm["method"] != "none") & norm["normalised"].notna()]
    worst = pruned.loc[pruned.groupby(join_key(pruned, keys))["normalised"].idxmin()]
    wide["_k"] = join_key(wide, keys)
    worst = worst.assign(_k=join_key(worst, keys)).set_index("_k")
    wide["worst_task"] = wide["_k"].map(worst["task"])
    wide["worst_retention"] = wide["_k"].map(worst["normalised"])
    perf = performance_summary(profiles)
    if not perf.empty:
        wide = wide.merge(perf, on=["model", "intermediate_size"], how="left")
    rows = []
    for row in wide.drop(columns="_k").to_dict("records"):
        verdict, reason = _verdict(row, groups, thresholds)
        rows.append({**row, "recommendation": verdict, "reason": reason,
                     **{f"threshold_{k}": v for k, v in asdict(thresholds).items()}})  # fmt: skip
    return pd.DataFrame(rows)
