"""Robust evaluation runs: SIGKILL resume, identity-checked reuse, damaged and failed checkpoints,
needs-hub handling, the tidy CSV / complete JSON schema, and pure-JSON stdout.

Real embedded model and real offline tasks, at tiny limits (a few documents per task).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glu_prune.cli import main
from glu_prune.errors import UserError
from glu_prune.evaluate import (
    BENCHMARKS_BASE,
    BENCHMARKS_INSTRUCT,
    CSV_COLUMNS,
    EvalSettings,
    TaskSpec,
    consolidate_results,
    run_robust_evaluation,
    suite_tasks,
)
from glu_prune.models import ModelSpec
from glu_prune.prune import PruneConfig

pytestmark = pytest.mark.slow

GLU_PRUNE = os.path.join(os.path.dirname(sys.executable), "glu-prune")
SPEC = ModelSpec("default")
PIQA = [TaskSpec("piqa")]
TINY = EvalSettings(offline=True, limit=2)


class Computed(Exception):
    """Raised by a patched model loader: the run wanted to compute instead of reusing."""


@pytest.fixture
def no_compute(monkeypatch):
    def refuse(*_a, **_k):
        raise Computed

    monkeypatch.setattr("glu_prune.evaluate.runner.load_pruned", refuse)


@pytest.fixture(scope="module")
def piqa_run(tmp_path_factory, embedded_dir):
    """piqa (2 documents) on the unpruned model and at MAW 10 %, computed once."""
    out = tmp_path_factory.mktemp("piqa")
    status = run_robust_evaluation(SPEC, [None, PruneConfig("maw", 10)], PIQA, out, TINY, progress=False)
    assert status.complete and len(status.done) == 2 and not any(d["reused"] for d in status.done)
    return out, status


def metric_values(records) -> dict:
    return {
        (
            r["pruning"]["method"],
            r["pruning"]["pruning_pct"],
            r["task"],
            m["subtask"],
            m["metric"],
            m["filter"],
        ): (m["value"], m["stderr"], m["n_samples"])
        for r in records
        for m in r["metrics"]
    }


def test_suites_are_the_issue_lists_with_per_task_fewshot():
    base = {t.name: t.num_fewshot for t in BENCHMARKS_BASE}
    assert list(base) == [
        "wikitext",
        "mmlu",
        "arc_challenge",
        "hellaswag",
        "winogrande",
        "piqa",
        "boolq",
        "lambada_openai",
        "truthfulqa_mc1",
        "truthfulqa_mc2",
        "gsm8k",
        "ifeval",
        "leaderboard_musr",
    ]
    assert [t.name for t in BENCHMARKS_INSTRUCT] == [
        "leaderboard_musr",
        "truthfulqa_mc1",
        "truthfulqa_mc2",
        "lambada_openai",
        "mmlu",
        "gsm8k",
        "ifeval",
    ]
    for suite in (BENCHMARKS_BASE, BENCHMARKS_INSTRUCT):
        assert all(t.num_fewshot == (5 if t.name in ("mmlu", "gsm8k") else 0) for t in suite)
    offline = [t.name for t in suite_tasks("base", offline=True)]
    assert (
        "wikipedia_ppl" in offline and "wikitext" in offline
    )  # stand-in under its own name; wikitext reported


def test_chat_template_for_instruct_models_except_plain_text_tasks():
    from glu_prune.evaluate import task_identity

    ident = lambda task, chat=None: task_identity(SPEC, None, TaskSpec(task), EvalSettings(False, 2, chat))  # noqa: E731
    assert ident("piqa")["chat_template"] and ident("piqa")["fewshot_as_multiturn"]
    assert not ident("lambada_openai")["chat_template"] and not ident("wikipedia_ppl")["chat_template"]
    assert ident("lambada_openai", True)["chat_template"] and not ident("piqa", False)["chat_template"]


def test_hub_models_are_instruct_by_their_tokenizer_not_their_name(monkeypatch):
    from types import SimpleNamespace

    from glu_prune.models import loading as models

    templates = {"google/gemma-2-2b-it": "{{ messages }}", "someone/chat-base": None}
    monkeypatch.setattr(models, "load_tokenizer", lambda name: SimpleNamespace(chat_template=templates[name]))
    models._hub_tokenizer.cache_clear()
    assert models.is_instruct("google/gemma-2-2b-it") and not models.is_instruct("someone/chat-base")
    models._hub_tokenizer.cache_clear()


def test_sigkilled_run_resumes_without_loss_and_equals_an_uninterrupted_run(tmp_path, embedded_dir):
    # float32 on any CPU: in bfloat16 (auto where the CPU has it) the CLI's process and this one
    # computed different answers to one of these 3 near-tie documents, which is not resume's doing
    tasks, limit = ["piqa", "arc_challenge"], 3
    reference = run_robust_evaluation(
        ModelSpec("default", dtype="float32"),
        [None],
        [TaskSpec(t) for t in tasks],
        tmp_path / "ref",
        EvalSettings(offline=True, limit=limit),
        False,
    )
    cmd = [
        GLU_PRUNE,
        "evaluate",
        "--model",
        "default",
        "--dtype",
        "float32",
        "--tasks",
        ",".join(tasks),
        "--offline",
        "--limit",
        str(limit),
        "--out",
        str(tmp_path / "run"),
        "--json",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    ckpts = tmp_path / "run" / "checkpoints"
    deadline = time.monotonic() + 120
    while not list(ckpts.glob("*.json")):
        assert proc.poll() is None, "the run ended before its first checkpoint appeared"
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)  # mid-way through the second task
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    for path in ckpts.glob("*.json"):  # every file left behind is a whole, readable checkpoint
        assert json.loads(path.read_text())["status"] == "done"

    resumed = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "2 done (1 reused from checkpoints)" in resumed.stderr
    records = json.loads(resumed.stdout)  # stdout is the JSON list and nothing else
    assert sorted(r["task"] for r in records) == sorted(tasks)
    got, want = metric_values(records), metric_values(reference.records)
    assert got.keys() == want.keys() and len(got) == 4  # acc, acc_norm of each
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-9), key
    assert not (ckpts / "damaged").exists()


def test_rerun_reuses_only_identical_settings(piqa_run, no_compute):
    out, first = piqa_run
    again = run_robust_evaluation(SPEC, [None, PruneConfig("maw", 10)], PIQA, out, TINY, progress=False)
    assert all(d["reused"] for d in again.done) and len(again.done) == 2
    assert metric_values(again.records) == metric_values(first.records)
    changed = [
        ([PruneConfig("maw", 20)], PIQA, TINY),  # another level
        ([PruneConfig("random", 10)], PIQA, TINY),  # another method
        ([PruneConfig("maw", 10, divisor=128)], PIQA, TINY),  # a divisor
        ([None], PIQA, EvalSettings(offline=True, limit=3)),  # another limit
        ([None], [TaskSpec("piqa", num_fewshot=1)], TINY),  # another few-shot count
        ([None], PIQA, EvalSettings(offline=True, limit=2, chat_template=False)),  # no chat template
    ]
    for configs, tasks, settings in changed:
        with pytest.raises(Computed):
            run_robust_evaluation(SPEC, configs, tasks, out, settings, progress=False)


def test_damaged_checkpoint_is_set_aside_reported_and_redone(piqa_run):
    out, first = piqa_run
    victim = next((out / "checkpoints").glob("unpruned-piqa-*.json"))
    victim.write_text('{"identity": {"kind": "lm-ev')  # a torn file (what a non-atomic write leaves)
    with pytest.warns(UserWarning, match="damaged checkpoint"):
        status = run_robust_evaluation(SPEC, [None], PIQA, out, TINY, progress=False)
    assert status.done == [{"config": "unpruned", "task": "piqa", "reused": False}]
    assert len(status.damaged) == 1 and Path(status.damaged[0]).parent.name == "damaged"
    assert "damaged files set aside and redone" in status.summary()
    assert json.loads(victim.read_text())["status"] == "done"
    assert metric_values(status.records) == {
        k: v for k, v in metric_values(first.records).items() if k[0] == "none"
    }


def damage_result(record, **changes):
    return {**record, "result": {**record["result"], **changes}}


OWNED_DAMAGE = {
    "a result of the wrong type": lambda record: {**record, "result": "0.62"},
    "metrics that are no list": lambda record: damage_result(record, metrics={"acc": 0.5}),
    "a value that is no number": lambda record: damage_result(
        record, metrics=[{**m, "value": [0.5]} for m in record["result"]["metrics"]]
    ),
    "a pruning record without its width": lambda record: damage_result(
        record, pruning={k: v for k, v in record["result"]["pruning"].items() if k != "intermediate_size"}
    ),
    "the result of another identity": lambda record: damage_result(
        record, identity={**record["identity"], "limit": 99}
    ),
}


@pytest.mark.parametrize("case", OWNED_DAMAGE)
def test_checkpoint_that_parses_but_is_no_valid_record_is_redone_identically(piqa_run, case):
    out, first = piqa_run
    victim = next((out / "checkpoints").glob("unpruned-piqa-*.json"))
    victim.write_text(json.dumps(OWNED_DAMAGE[case](json.loads(victim.read_text()))))
    stray = out / "checkpoints" / "notes.json"
    stray.write_text('["a stray JSON list in the checkpoint folder"]')
    with pytest.warns(UserWarning, match="damaged checkpoint") as caught:
        status = run_robust_evaluation(SPEC, [None], PIQA, out, TINY, progress=False)
        table, complete = consolidate_results(out)
    assert status.done == [{"config": "unpruned", "task": "piqa", "reused": False}]
    assert metric_values(status.records) == {
        k: v for k, v in metric_values(first.records).items() if k[0] == "none"
    }
    assert {str(w.message).split(" (")[0] for w in caught} == {
        f"damaged checkpoint {victim.name}",
        "damaged checkpoint notes.json",
    }
    assert not stray.exists() and len(complete["runs"]) == 2
    assert {victim.name, "notes.json"} <= {Path(p).name.rsplit(".", 1)[0] for p in complete["damaged"]}


def test_damaged_request_cache_is_set_aside_and_its_requests_recomputed(piqa_run):
    from glu_prune.evaluate.cache import database_problem

    out, first = piqa_run
    next((out / "checkpoints").glob("unpruned-piqa-*.json")).unlink()  # killed before its checkpoint
    [db] = (out / "request-cache").glob("unpruned-piqa-*_rank0.db")
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])  # a truncated database
    with pytest.warns(UserWarning, match="damaged request cache"):
        status = run_robust_evaluation(SPEC, [None], PIQA, out, TINY, progress=False)
    assert status.complete and [Path(p).parent.name for p in status.damaged] == ["damaged"]
    assert "damaged files set aside and redone" in status.summary()
    assert metric_values(status.records) == {
        k: v for k, v in metric_values(first.records).items() if k[0] == "none"
    }
    assert database_problem(db) is None  # rebuilt whole


@pytest.mark.parametrize("folder", ["checkpoints", "request-cache"])
def test_read_only_run_folder_is_refused_before_the_model_loads(
    folder, tmp_path, read_only, capsys, no_compute
):
    out = tmp_path / "run"
    read_only(out / folder)
    code = main(["evaluate", "--tasks", "piqa", "--offline", "--limit", "1", "--out", str(out)])
    stdout, err = capsys.readouterr()
    assert code == 2 and stdout == "" and err.count("\n") == 1, err
    assert f"folder {out / folder} is not writable" in err


def test_request_cache_spares_a_resumed_task_its_finished_requests(piqa_run, monkeypatch):
    """A task killed after its requests ran but before its checkpoint: the rerun loads the model,
    but lm-eval's request cache answers every request (the model is never called)."""
    from lm_eval.models.huggingface import HFLM

    out, first = piqa_run
    next((out / "checkpoints").glob("maw-10pct-piqa-*.json")).unlink()

    def no_forward(*_a, **_k):
        raise AssertionError("a cached request was recomputed")

    monkeypatch.setattr(HFLM, "_loglikelihood_tokens", no_forward)
    status = run_robust_evaluation(SPEC, [PruneConfig("maw", 10)], PIQA, out, TINY, progress=False)
    assert status.done == [{"config": "maw-10pct", "task": "piqa", "reused": False}]
    assert metric_values(status.records) == {
        k: v for k, v in metric_values(first.records).items() if k[0] == "maw"
    }


def test_perplexities_get_a_bootstrap_stderr_where_lm_eval_gives_none(tmp_path, embedded_dir):
    settings = EvalSettings(offline=True, limit=3, bootstrap_iters=1000)
    status = run_robust_evaluation(
        SPEC, [None], [TaskSpec("wikipedia_ppl")], tmp_path, settings, progress=False
    )
    rows = {m["metric"]: m for m in status.records[0]["metrics"]}
    assert {"word_perplexity", "byte_perplexity", "bits_per_byte"} <= set(rows)
    for m in rows.values():
        assert 0 < m["stderr"] < m["value"] and m["stderr_source"] == "bootstrap" and m["n_samples"] == 3
    # seeded: redone (from the request cache) it gives the same intervals
    next((tmp_path / "checkpoints").glob("*.json")).unlink()
    again = run_robust_evaluation(
        SPEC, [None], [TaskSpec("wikipedia_ppl")], tmp_path, settings, progress=False
    )
    assert again.records[0]["metrics"] == status.records[0]["metrics"]


def test_batch_size_changes_no_score(tmp_path, embedded_dir):
    """Why batch size is no part of a checkpoint's identity: padding changes no log-likelihood
    beyond float noise, and no score at all."""
    import sqlitedict

    runs = {}
    for batch in (1, 4):
        settings = EvalSettings(offline=True, limit=3, batch_size=batch)
        status = run_robust_evaluation(SPEC, [None], PIQA, tmp_path / str(batch), settings, progress=False)
        (db,) = (tmp_path / str(batch) / "request-cache").glob("*.db")
        with sqlitedict.SqliteDict(str(db)) as cache:
            runs[batch] = (metric_values(status.records), dict(cache))
    (scores1, lls1), (scores4, lls4) = runs[1], runs[4]
    assert scores1 == scores4 and lls1.keys() == lls4.keys() and len(lls1) == 6
    for key, (ll, greedy) in lls1.items():
        assert lls4[key][0] == pytest.approx(ll, abs=1e-3) and lls4[key][1] == greedy


def test_failed_task_is_recorded_reported_and_retried(tmp_path, embedded_dir, monkeypatch):
    import glu_prune.evaluate.runner as ev

    real = ev.evaluate_task

    def flaky(lm, task, *a):
        if task.name == "arc_challenge":
            raise RuntimeError("simulated failure")
        return real(lm, task, *a)

    monkeypatch.setattr(ev, "evaluate_task", flaky)
    tasks = [TaskSpec("arc_challenge"), TaskSpec("piqa")]
    status = run_robust_evaluation(SPEC, [None], tasks, tmp_path, TINY, progress=False)
    assert not status.complete and [d["task"] for d in status.done] == ["piqa"]
    assert status.failed == [
        {"config": "unpruned", "task": "arc_challenge", "error": "RuntimeError: simulated failure"}
    ]
    stored = json.loads(next((tmp_path / "checkpoints").glob("unpruned-arc_challenge-*.json")).read_text())
    assert stored["status"] == "failed" and stored["error"] == "RuntimeError: simulated failure"

    monkeypatch.setattr(ev, "evaluate_task", real)
    retry = run_robust_evaluation(SPEC, [None], tasks, tmp_path, TINY, progress=False)
    assert retry.complete
    assert {(d["task"], d["reused"]) for d in retry.done} == {("arc_challenge", False), ("piqa", True)}


def test_needs_hub_tasks_offline(piqa_run, capsys, tmp_path):
    out, _ = piqa_run
    code = main(["evaluate", "--tasks", "piqa,truthfulqa_mc1", "--offline", "--out", str(tmp_path / "x")])
    _, err = capsys.readouterr()
    assert (
        code == 2 and err.count("\n") == 1 and "truthfulqa_mc1" in err and "needs the Hugging Face hub" in err
    )
    assert not (tmp_path / "x").exists()
    # within a suite they are reported, not run, and the status says so
    status = run_robust_evaluation(
        SPEC, [None], [TaskSpec("truthfulqa_mc1"), *PIQA], out, TINY, progress=False
    )
    assert status.needs_hub == ["truthfulqa_mc1"] and not status.complete
    assert "need the Hugging Face hub: truthfulqa_mc1" in status.summary()


def test_hub_tasks_without_hub_fail_fast_before_loading(capsys, tmp_path, monkeypatch, no_compute):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("glu_prune.evaluate.runner.hub_reachable", lambda: False)
    code = main(["evaluate", "--tasks", "piqa", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "hub, which is unreachable" in err and "--offline" in err


BAD_EVALUATE = [
    (["--tasks", "piqa", "--pct", "10", "--levels", "0,10"], "either --levels or --pct"),
    (["--tasks", "piqa", "--limit", "0"], "--limit must be a positive integer"),
    (["--tasks", "piqa", "--batch-size", "big"], "--batch-size must be an integer or 'auto'"),
    (["--tasks", "piqa", "--backend", "vllm"], "invalid choice"),
    (["--tasks", "piqa", "--max-batch-tokens", "8"], "--max-batch-tokens must be at least 16"),
    (["--tasks", "piqa", "--dtype", "int8"], "invalid choice"),
    (["--tasks", "nosuchtask"], "unknown task 'nosuchtask'"),
    (["--tasks", "piqa,piqa"], "listed twice"),
    (["--tasks", "piqa", "--levels", "10,10"], "listed twice"),
    (["--tasks", "piqa", "--pct", "10", "--method", "magic"], "unknown method"),
    (["--suite", "nope"], "invalid choice"),
    (["--tasks", "piqa", "--suite", "base"], "not allowed with"),
    # how to prune, with nothing to prune: an error, not silently ignored
    (["--tasks", "piqa", "--method", "random"], "--method given, but nothing is pruned"),
    (["--tasks", "piqa", "--layers", "0,1", "--divisor", "64"], "--divisor, --layers given, but nothing"),
    (["--tasks", "piqa", "--calibration-samples", "8"], "--calibration-samples given, but nothing"),
    (["--tasks", "piqa", "--seed", "3"], "--seed given, but nothing is pruned"),
    (["--tasks", "piqa", "--levels", "0", "--method", "vow"], "--method given, but nothing is pruned"),
    (["--tasks", "piqa", "--pct", "10", "--calibration-seq-len", "8"], "only apply to data-driven"),
    (
        ["--tasks", "piqa", "--pct", "10", "--method", "data-optipfair", "--calibration-samples", "0"],
        "must be",
    ),
    (["--tasks", "piqa", "--levels", "0,10", "--method", "data", "--calibration-seq-len", "0"], "must be"),
    (["--tasks", "piqa", "--levels", "0,150"], "pruning levels must be in [0, 100)"),
    (["--tasks", "piqa", "--pct", "10", "--layers", ","], "expected at least one integer"),
    (["--tasks", "piqa", "--threads", "0"], "--threads must be a positive integer"),
    (["--tasks", "piqa", "--threads", "two"], "invalid int value"),
]


@pytest.mark.parametrize("args,match", BAD_EVALUATE)
def test_bad_input_is_one_line_exit_2_before_loading(args, match, capsys, tmp_path, no_compute):
    code = main(["evaluate", "--offline", "--out", str(tmp_path / "o"), *args])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and match in err, err


def test_compare_rejects_bad_methods_and_levels(capsys, tmp_path, no_compute):
    bad = (
        (["--methods", "maw,magic"], "unknown method"),
        (["--levels", "0,10"], "above 0"),
        (["--methods", "data-optipfair", "--calibration-samples", "0"], "--calibration-samples must"),
        (["--methods", "maw,data", "--calibration-seq-len", "0"], "--calibration-seq-len must"),
    )
    for args, match in bad:
        argv = ["compare", "--tasks", "piqa", "--offline", "--out", str(tmp_path), "--levels", "10", *args]
        assert main(argv) == 2 and match in capsys.readouterr().err


def test_consolidated_csv_and_json_schema(piqa_run, tmp_path):
    import pandas as pd

    out, first = piqa_run
    table, complete = consolidate_results(out, tmp_path / "r.csv", tmp_path / "r.json")
    csv = pd.read_csv(tmp_path / "r.csv")
    assert list(csv.columns) == list(CSV_COLUMNS)
    assert set(csv["method"]) == {"none", "maw"} and set(csv["pruning_pct"]) == {0, 10}
    assert set(csv["metric"]) == {"acc", "acc_norm"} and (csv["n_samples"] == 2).all()
    assert (
        csv["value"].dtype == float
        and csv["stderr"].notna().all()
        and (csv["data_source"] == "offline").all()
    )
    maw = csv[csv["method"] == "maw"]
    assert (maw["intermediate_size"] == 1536 - 153).all() and (maw["num_fewshot"] == 0).all()
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["csv_columns"] == list(CSV_COLUMNS) and len(saved["runs"]) == len(complete["runs"]) == 2
    assert {"packages", "project", "hardware"} <= set(saved["provenance"])
    run = saved["runs"][0]
    for key in ("identity", "pruning", "metrics", "lm_eval", "provenance", "run"):
        assert key in run
    ident = run["identity"]
    for key in (
        "model",
        "dtype",
        "prune",
        "task",
        "num_fewshot",
        "limit",
        "chat_template",
        "data_source",
        "versions",
    ):
        assert key in ident
    assert ident["versions"]["lm_eval"] and ident["task_files"]
    with pytest.raises(UserError, match="no evaluation checkpoints"):
        consolidate_results(tmp_path / "empty")


def test_per_document_values_are_kept_and_paired(piqa_run, tmp_path):
    """Each checkpoint has its documents beside it; consolidation copies them next to the CSV and
    pairs every pruned row with the unpruned run: the per-document values reproduce both scores."""
    import pandas as pd

    from glu_prune.evaluate.documents import read_documents

    out, first = piqa_run
    for record in first.records:
        rows = read_documents(out / "checkpoints" / record["documents"]["file"])
        assert [(r["task"], r["doc_id"], r["filter"]) for r in rows] == [
            ("piqa", 0, "none"),
            ("piqa", 1, "none"),
        ]
        assert all(len(r["prompt_hash"]) == 16 and set(r["values"]) == {"acc", "acc_norm"} for r in rows)
        acc = next(m["value"] for m in record["metrics"] if m["metric"] == "acc")
        assert sum(r["values"]["acc"] for r in rows) / 2 == pytest.approx(acc)
        assert record["documents"]["aggregation"] == {"piqa": {"acc": "mean", "acc_norm": "mean"}}
    table, complete = consolidate_results(out, tmp_path / "x_results.csv", tmp_path / "x_complete.json")
    assert sorted(p.name for p in (tmp_path / "x_documents").iterdir()) == sorted(
        f"{r['checkpoint']}.jsonl.gz" for r in first.records
    )
    csv = pd.read_csv(tmp_path / "x_results.csv")
    maw, base = csv[csv["method"] == "maw"], csv[csv["method"] == "none"]
    assert (maw["n_paired"] == 2).all() and base["n_paired"].isna().all()
    assert (maw["baseline_checkpoint"] == base["checkpoint"].iloc[0]).all()
    for r in maw.itertuples():
        b = base[base["metric"] == r.metric].iloc[0]
        assert r.delta == pytest.approx(r.value - b.value) and r.p_test == "mcnemar-exact"
        assert r.delta_ci_low <= r.delta <= r.delta_ci_high and 0 < r.p_value <= 1
    assert complete["paired"]["n_resamples"] == 10_000 and complete["paired"]["unpaired"] == []


def test_a_missing_per_document_file_makes_its_task_run_again(piqa_run, monkeypatch):
    out, first = piqa_run
    record = next(r for r in first.records if r["pruning"]["method"] == "none")
    (out / "checkpoints" / record["documents"]["file"]).unlink()
    with pytest.warns(UserWarning, match="per-document file .* is missing; its task is redone"):
        status = run_robust_evaluation(SPEC, [None], PIQA, out, TINY, progress=False)
    assert status.done == [{"config": "unpruned", "task": "piqa", "reused": False}]
    assert (out / "checkpoints" / record["documents"]["file"]).is_file()
    assert metric_values(status.records) == {
        k: v for k, v in metric_values(first.records).items() if k[0] == "none"
    }


def test_consolidation_keeps_the_newest_run_of_an_experiment(piqa_run, tmp_path):
    """A run dir that outlived a code change: the older checkpoint is listed, not mixed into the table."""
    import shutil

    from glu_prune.store import CheckpointStore

    out = tmp_path / "run"
    shutil.copytree(piqa_run[0] / "checkpoints", out / "checkpoints")
    store = CheckpointStore(out / "checkpoints")
    rec = next(r for r in store.records() if r["result"]["pruning"]["method"] == "maw")
    older = {**rec["identity"], "runner": -1, "versions": {**rec["identity"]["versions"], "lm_eval": "0.0.1"}}
    store.save(
        older,
        {
            **rec["result"],
            "checkpoint": "older",
            "identity": older,
            "run": {**rec["result"]["run"], "started_at": 0},
        },
        "maw-10pct-piqa",
    )
    with pytest.warns(UserWarning, match="1 checkpoints of earlier code versions"):
        table, complete = consolidate_results(out)
    assert len(complete["runs"]) == 2 and "older" not in set(table["checkpoint"])
    assert complete["superseded"] == [
        {"checkpoint": "older", "task": "piqa", "superseded_by": rec["result"]["checkpoint"]}
    ]


def test_perplexities_pair_through_loglikelihoods_and_counts(tmp_path, embedded_dir):
    """LAMBADA's perplexity (exp of minus the mean target log-likelihood) and Wikipedia's weighted
    perplexities (word / byte counts per document) pair on real runs and reproduce lm-eval's scores."""
    from glu_prune.evaluate.documents import read_documents

    tasks = [TaskSpec("lambada_openai"), TaskSpec("wikipedia_ppl")]
    settings = EvalSettings(offline=True, limit=3, bootstrap_iters=100)
    status = run_robust_evaluation(SPEC, [None, PruneConfig("maw", 10)], tasks, tmp_path, settings, False)
    wiki = next(
        r for r in status.records if r["task"] == "wikipedia_ppl" and r["pruning"]["method"] == "none"
    )
    docs = read_documents(tmp_path / "checkpoints" / wiki["documents"]["file"])
    assert all(len(d["values"]["word_perplexity"]) == 2 for d in docs)  # [log-likelihood, words]
    assert wiki["documents"]["aggregation"]["wikipedia_ppl"]["word_perplexity"] == "weighted_perplexity"
    table, _ = consolidate_results(tmp_path)
    maw = table[table["method"] == "maw"].set_index("metric")
    base = table[table["method"] == "none"].set_index("metric")
    for metric in ("perplexity", "word_perplexity", "byte_perplexity", "bits_per_byte"):
        r = maw.loc[metric]
        assert r["p_test"] == "paired-permutation" and r["n_paired"] == 3, metric
        assert r["ratio"] == pytest.approx(r["value"] / base.loc[metric, "value"], rel=1e-9)
        assert r["ratio_ci_low"] <= r["ratio"] <= r["ratio_ci_high"] and r["ratio_stderr"] > 0
    assert maw.loc["acc", "p_test"] == "mcnemar-exact"
