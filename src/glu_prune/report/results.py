"""Reading measured results: every tidy evaluation, fidelity and profile CSV under a path, told apart
by their columns (fidelity rows by their task), each evaluation row with its hardware and project
commit from the complete JSON beside it."""

from __future__ import annotations

import csv as csv_module
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..fidelity import TASK as FIDELITY_TASK
from ..provenance import hardware_label

EVAL_COLUMNS = {"model", "method", "pruning_pct", "task", "metric", "value", "stderr"}
PROFILE_COLUMNS = {"model", "pruning_pct", "workload", "batch_size", "ttft_ms", "tpot_ms"}
CONTRAST_COLUMNS = {"model", "method", "pruning_pct", "task", "metric", "reference_method", "delta"}
KINDS_COLUMNS = {"model", "method", "pruning_pct", "metric", "kind", "instructions", "followed", "value"}
MODELS_COLUMNS = {"model_a", "model_b", "matched_on", "task", "metric", "method", "share_a", "difference"}
BIAS_COLUMNS = {"model", "method", "pruning_pct", "task", "metric", "answer_share_1", "balanced_accuracy"}
# cells every row of a whole table has (a value or stderr may be missing; these never are)
EVAL_KEYS = ("model", "method", "pruning_pct", "task", "metric")
PROFILE_ROW_KEYS = ("model", "pruning_pct", "workload", "batch_size")


@dataclass
class ResultSet:
    """The tidy tables found under a directory, with where each came from."""

    evaluation: object  # pandas DataFrame (empty when none was found)
    profiles: object
    fidelity: object = None  # the rows of fidelity_results.csv files (task "fidelity"), apart
    ifeval_kinds: object = None  # the rows of *ifeval_kinds.csv files (evaluate/ifeval_kinds.py)
    contrasts: object = None  # the rows of *contrasts.csv files (evaluate/contrasts.py)
    answer_bias: object = None  # the rows of *answer_bias.csv files (evaluate/answer_bias.py)
    models_compared: object = None  # the rows of models_compared.csv files (evaluate/across_models.py)
    sources: dict = field(
        default_factory=dict
    )  # {"evaluation": [csv...], "profiles": [csv...], "ignored": [...]}


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

    table = read_table(csv, EVAL_KEYS)
    table["hardware"], table["project_commit"] = "unknown (no complete JSON beside the CSV)", None
    complete = _complete_json(csv)
    if complete.is_file():
        runs = _runs(complete)
        by_checkpoint = {r.get("checkpoint"): r.get("provenance", {}) for r in runs}
        if "checkpoint" in table:
            prov = table["checkpoint"].map(lambda c: by_checkpoint.get(c, {}))
            table["hardware"] = prov.map(
                lambda p: hardware_label(p["hardware"]) if p.get("hardware") else "unknown"
            )
            table["project_commit"] = prov.map(_commit)
    table["source_csv"] = str(csv)
    return table


def _short_row(path: Path) -> tuple[int, int, int] | None:
    """(line, fields, header fields) of the first row with fewer fields than the header, or None."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv_module.reader(f)
        width = len(next(rows, []))
        for row in rows:
            if row and len(row) < width:
                return rows.line_num, len(row), width
    return None


def read_table(csv: Path, keys):
    """A tidy table the user pointed at, whole, or a UserError naming the file and what is wrong."""
    import pandas as pd

    try:
        table = pd.read_csv(csv)
        short = _short_row(csv)
    except (ValueError, OSError, csv_module.Error) as exc:  # a torn quote, bad encoding, unreadable file
        raise UserError(f"{csv} is not a readable table ({str(exc).strip().splitlines()[0]})") from None
    if short:  # pandas fills a row cut short with empty values: a truncated file would pass
        raise UserError(
            f"{csv}: line {short[0]} has {short[1]} of {short[2]} fields (a truncated or damaged table)"
        )
    incomplete = table[list(keys)].isna()
    if incomplete.any(axis=None):
        row = int(incomplete.any(axis=1).idxmax())
        lacking = ", ".join(k for k in keys if incomplete.at[row, k])
        raise UserError(f"{csv}: line {row + 2} has no {lacking} (a truncated or damaged table)")
    return table


def _runs(complete: Path) -> list[dict]:
    try:
        runs = json.loads(complete.read_text(encoding="utf-8")).get("runs", [])
    except (ValueError, OSError, AttributeError) as exc:
        raise UserError(f"{complete} is not the complete JSON of a run ({exc})") from None
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise UserError(f"{complete}: its 'runs' are not a list of records")
    return runs


# derived tables: (name, the columns that tell it apart, its row keys, the keys of a row once)
DERIVED = (
    ("ifeval_kinds", KINDS_COLUMNS, ("model", "method", "pruning_pct", "metric", "kind"),
     ["checkpoint", "metric", "filter", "kind"]),
    ("contrasts", CONTRAST_COLUMNS, ("model", "method", "pruning_pct", "task", "metric"),
     ["checkpoint", "reference_checkpoint", "task", "metric", "filter"]),
    ("answer_bias", BIAS_COLUMNS, ("model", "method", "pruning_pct", "task", "metric"),
     ["checkpoint", "metric", "filter"]),
    ("models_compared", MODELS_COLUMNS, ("model_a", "model_b", "matched_on", "task", "metric", "method"),
     ["checkpoint_a", "checkpoint_b", "metric", "filter"]),
)  # fmt: skip


def load_results(*paths) -> ResultSet:
    """Every tidy evaluation and profile CSV in the given files or directories (searched
    recursively), and the tables derived from them, told apart by their columns, duplicates (the
    same checkpoint consolidated twice) dropped. Raises UserError for a path that does not exist,
    and for profile rows of one setting that differ (`_one_row_per_profile`)."""
    import pandas as pd

    tables = {name: [] for name in ("evaluation", "profiles", *(d[0] for d in DERIVED))}
    sources = {name: [] for name in tables} | {"ignored": []}
    for csv in _csv_files(paths):
        try:
            columns = set(pd.read_csv(csv, nrows=0).columns)
        except (ValueError, OSError) as exc:
            sources["ignored"].append(f"{csv} (unreadable: {exc})")
            continue
        name, table = _read_kind(csv, columns)
        if name is None:
            sources["ignored"].append(f"{csv} (neither an evaluation nor a profile table)")
        else:
            tables[name].append(table)
            sources[name].append(str(csv))
    evals, profiles = tables["evaluation"], tables["profiles"]
    evaluation = pd.concat(evals, ignore_index=True) if evals else pd.DataFrame()
    if not evaluation.empty and "checkpoint" in evaluation:
        evaluation = evaluation.drop_duplicates(["checkpoint", "subtask", "metric", "filter"])
    fidelity = evaluation[evaluation["task"] == FIDELITY_TASK] if not evaluation.empty else pd.DataFrame()
    if not fidelity.empty:
        evaluation = evaluation[evaluation["task"] != FIDELITY_TASK].reset_index(drop=True)
    prof = pd.concat(profiles, ignore_index=True) if profiles else pd.DataFrame()
    if not prof.empty:
        prof = _one_row_per_profile(prof)
    # views of one study share runs (a sweep reuses the comparison's): each row once
    derived = {name: _once(tables[name], once) for name, _, _, once in DERIVED}
    return ResultSet(evaluation, prof, fidelity.reset_index(drop=True), **derived, sources=sources)


def _csv_files(paths) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if not p.exists():
            raise UserError(f"{p} does not exist")
        out += (
            [p]
            if p.is_file()
            else sorted(
                c
                for c in p.rglob("*.csv")
                if not {"figures", "checkpoints", "damaged"} & set(c.relative_to(p).parts[:-1])
            )
        )
    return out


def _read_kind(csv: Path, columns: set) -> tuple[str | None, object]:
    """(which table the CSV is, its rows), by its columns; (None, None) for none of them."""
    if EVAL_COLUMNS <= columns:
        return "evaluation", read_eval_csv(csv)
    if PROFILE_COLUMNS <= columns:
        return "profiles", read_table(csv, PROFILE_ROW_KEYS).assign(source_csv=str(csv))
    for name, needed, row_keys, _ in DERIVED:
        if needed <= columns:
            return name, read_table(csv, row_keys)
    return None, None


def _once(tables: list, keys: list[str]):
    """The tables as one, each row once by `keys` (where it has them)."""
    import pandas as pd

    if not tables:
        return pd.DataFrame()
    table = pd.concat(tables, ignore_index=True)
    return table.drop_duplicates(keys).reset_index(drop=True) if set(keys) <= set(table) else table


PROFILE_KEYS = (
    "model",
    "random_weights",
    "dtype",
    "hardware",
    "prune_method",
    "divisor",
    "pruning_pct",
    "workload",
    "batch_size",
    "new_tokens",
)


def _one_row_per_profile(prof):
    """One row per PROFILE_KEYS (what the figures and the decision matrix tell apart). Copies of a
    row (the same record consolidated into two files) are dropped; rows that share the keys but
    differ (other batches, threads, repeats, or another run) raise UserError naming them."""
    keys = [k for k in PROFILE_KEYS if k in prof]
    twice = prof[prof.duplicated(keys, keep=False)]
    conflicts = []
    for key, g in twice.groupby(keys, dropna=False, sort=True):
        rows = g.drop(columns="source_csv").to_dict("records")
        differ = sorted(
            {
                c
                for r in rows[1:]
                for c, v in r.items()
                if v == v and rows[0].get(c) == rows[0].get(c) and v != rows[0].get(c)
            }
        )
        if differ:
            conflicts.append(
                f"{' '.join(map(key_cell, key))} in {', '.join(sorted(set(g['source_csv'])))} "
                f"(differing: {', '.join(differ[:5])})"
            )
    if conflicts:
        raise UserError(
            f"{len(conflicts)} profile settings appear more than once with different results, e.g. "
            f"{conflicts[0]}; load one run's results (or one setting per results dir)"
        )
    return prof.drop_duplicates(keys)


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
