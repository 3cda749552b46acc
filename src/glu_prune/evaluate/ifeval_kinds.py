"""IFEval by kind of instruction, recomputed from the per-document values.

A prompt-level IFEval score cannot tell a model that follows instructions from one whose degenerate
text happens to meet them: "use no commas" is met by a text without commas, whatever it says. So
the instructions are grouped by what they ask (`KINDS`) and each group's instruction-level accuracy
is compared with the unpruned model's on the same prompts: the paired statistics of
`evaluate.paired` over prompts (a prompt's instructions stay together in every resample), with
Benjamini-Hochberg adjusted p-values over the rows of one model, data source and metric.

lm-eval's per-document values hold one 0/1 per instruction, in the order of the prompt's
`instruction_id_list`; which prompt a row is, is found by lm-eval's document hash, recomputed from
the IFEval data (by default the offline copy the runs read), so a row is never matched by position.
"""

from __future__ import annotations

from ..errors import UserError
from ..prune.record import TABLE_COLUMNS, table_columns
from ..tasks.sources import ifeval
from .documents import document_hash
from .paired import DEFAULT_PAIRED, PairedSettings, adjust_within_families, paired_statistics
from .pairing import complete_runs, document_loader, is_unpruned, pair_key, same_row

TASK = "ifeval"
METRICS = ("inst_level_strict_acc", "inst_level_loose_acc")
KINDS = {  # kind -> (what its instructions ask, lm-eval's instruction ids)
    "action": (
        "do something: include a keyword, highlight sections, a title, a postscript, sections, JSON, "
        "placeholders, an end phrase, a language, a case, a quotation, repeat the prompt, two "
        "responses, bullet lists, paragraphs, one of the given answers",
        (
            "keywords:existence",
            "detectable_format:number_highlighted_sections",
            "detectable_format:title",
            "detectable_content:postscript",
            "detectable_format:multiple_sections",
            "detectable_format:json_format",
            "detectable_content:number_placeholders",
            "startend:end_checker",
            "language:response_language",
            "change_case:english_lowercase",
            "change_case:english_capital",
            "startend:quotation",
            "combination:repeat_prompt",
            "combination:two_responses",
            "detectable_format:number_bullet_lists",
            "length_constraints:number_paragraphs",
            "length_constraints:nth_paragraph_first_word",
            "detectable_format:constrained_response",
        ),
    ),
    "omission": (
        "leave something out: no commas, no forbidden words",
        ("punctuation:no_comma", "keywords:forbidden_words"),
    ),
    "count": (
        "stay within a count: words, sentences, a keyword's, a letter's or capital words' frequency",
        (
            "length_constraints:number_words",
            "length_constraints:number_sentences",
            "keywords:frequency",
            "keywords:letter_frequency",
            "change_case:capital_word_frequency",
        ),
    ),
}
KIND_OF = {i: kind for kind, (_, ids) in KINDS.items() for i in ids}
COLUMNS = (
    *TABLE_COLUMNS,
    "data_source",
    "task",
    "metric",
    "filter",
    "kind",
    "prompts",
    "instructions",
    "followed",
    "value",
    "baseline_value",
    "delta",
    "delta_stderr",
    "delta_ci_low",
    "delta_ci_high",
    "p_value",
    "p_test",
    "p_adjusted",
    "checkpoint",
    "baseline_checkpoint",
)


def kind_of(instruction_id: str) -> str:
    if instruction_id not in KIND_OF:
        raise UserError(f"IFEval instruction {instruction_id!r} has no kind in evaluate.ifeval_kinds.KINDS")
    return KIND_OF[instruction_id]


def instruction_ids(source: str = "offline", docs=None) -> dict[str, list[str]]:
    """{document hash: its instruction ids} of `docs`, or of the IFEval data a run of that data
    source read: the offline copy, or lm-eval's own (google/IFEval from the hub)."""
    if docs is None and source == "offline":
        docs = ifeval()["train"]
    elif docs is None:
        import datasets

        try:
            docs = datasets.load_dataset("google/IFEval", split="train")
        except Exception as exc:  # no hub, no token, no cache: say which data is missing
            raise UserError(f"google/IFEval (the hub runs' data) could not be loaded: {exc}") from None
    return {document_hash(d): list(d["instruction_id_list"]) for d in docs}


def _kind_values(rows: list[dict], ids: dict, metric: str, where: str) -> dict[str, dict]:
    """{kind: {(filter, doc_id): the prompt's 0/1 of that kind's instructions}}, prompts without one
    left out; every row's list checked against its prompt's instructions."""
    out: dict[str, dict] = {kind: {} for kind in KINDS}
    for r in rows:
        if r["task"] != TASK or metric not in r["values"]:
            continue
        if r["doc_hash"] not in ids:
            raise UserError(f"{where}: IFEval document #{r['doc_id']} is not in the given IFEval data")
        kinds, values = [kind_of(i) for i in ids[r["doc_hash"]]], r["values"][metric]
        if len(values) != len(kinds):
            raise UserError(
                f"{where}: IFEval document #{r['doc_id']} has {len(values)} {metric} values for "
                f"{len(kinds)} instructions"
            )
        for kind in KINDS:
            mine = [v for v, k in zip(values, kinds, strict=True) if k == kind]
            if mine:
                out[kind][(r["filter"], r["doc_id"])] = mine
    return out


def _rows_of_run(run, kinds, base, base_kinds, metric, settings) -> list[dict]:
    """One row per (filter, kind) of a run; paired columns when it has an unpruned partner."""
    head = {**table_columns(run["model"], run["pruning"]), "data_source": run["data_source"], "task": TASK}
    rows, totals = [], {}
    for kind, docs in kinds.items():
        for flt in sorted({f for f, _ in docs}):
            keys = sorted(k for k in docs if k[0] == flt)
            values = [docs[k] for k in keys]
            followed, count = sum(map(sum, values)), sum(map(len, values))
            got, n = totals.get(flt, (0, 0))
            totals[flt] = (got + followed, n + count)
            row = {**head, "metric": metric, "filter": flt, "kind": kind, "prompts": len(keys)}
            row |= {"instructions": count, "followed": followed, "value": followed / count}
            row |= {"checkpoint": run["checkpoint"]}
            if base is not None:
                theirs = base_kinds[kind]
                if sorted(k for k in theirs if k[0] == flt) != keys:
                    raise UserError(
                        f"cannot pair IFEval run {run['checkpoint']} with {base['checkpoint']}: "
                        f"other prompts hold {kind} instructions"
                    )
                stats = paired_statistics(values, [theirs[k] for k in keys], "agg_inst_level_acc", settings)
                row |= {c: stats[c] for c in COLUMNS if c in stats and c not in row}
                row["baseline_checkpoint"] = base["checkpoint"]
            rows.append(row)
    for flt, (followed, count) in totals.items():  # the kinds partition the run's own score
        row = same_row(run, {"subtask": TASK, "metric": metric, "filter": flt})
        stored = None if row is None else row["value"]
        if stored is not None and abs(followed / count - stored) > 1e-9:
            raise UserError(
                f"IFEval run {run['checkpoint']}: its per-document {metric} ({followed}/{count}) is not "
                f"its stored score {stored!r}: a damaged or foreign per-document file"
            )
    return rows


def kinds_table(runs: list[dict], documents_of, docs=None, settings: PairedSettings = DEFAULT_PAIRED):
    """The tidy table (COLUMNS) of the IFEval runs among `runs`: per instruction metric, filter and
    kind, the instructions followed, and against the unpruned run of the same settings the paired
    difference with its interval and p-value. Empty when there is no IFEval run. Runs without usable
    per-document values are left out (consolidation lists them with the reason); `docs` (rows with
    `instruction_id_list`) replaces the IFEval data the runs' source names.

    Raises:
        UserError: a document not in the IFEval data, an instruction with no kind, or per-document
            values that do not give the stored score.
    """
    import pandas as pd

    load = document_loader(documents_of)
    runs = [r for r in runs if r.get("task") == TASK and not isinstance(load(r), str)]
    ids = {
        k: v for source in {r["data_source"] for r in runs} for k, v in instruction_ids(source, docs).items()
    }
    bases = {pair_key(r["identity"]): r for r in runs if is_unpruned(r["identity"])}
    rows = []
    for metric in METRICS:
        kinds = {
            r["checkpoint"]: _kind_values(load(r).values(), ids, metric, f"run {r['checkpoint']}")
            for r in runs
        }
        for run in runs:
            base = None if is_unpruned(run["identity"]) else bases.get(pair_key(run["identity"]))
            base_kinds = kinds[base["checkpoint"]] if base is not None else None
            rows += _rows_of_run(run, kinds[run["checkpoint"]], base, base_kinds, metric, settings)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    if table.empty:
        return table
    families = list(zip(table["model"], table["data_source"], table["metric"], strict=True))
    table["p_adjusted"] = adjust_within_families(table["p_value"], families, settings.correction)
    order = ["model", "metric", "filter", "kind", "pruning_pct", "method", "seed"]
    return table.sort_values(order, kind="stable").reset_index(drop=True)


def instruction_kinds(complete_json, docs=None, settings: PairedSettings = DEFAULT_PAIRED):
    """kinds_table of the runs of a consolidated complete JSON (its `*_documents/` beside it)."""
    return kinds_table(*complete_runs(complete_json), docs, settings)
