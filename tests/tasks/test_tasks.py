"""Offline lm-eval tasks: they load, score on the embedded model, match a hand-computed
log-likelihood scoring, score IFEval without downloads, and refuse hub-only tasks offline."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from glu_prune.errors import UserError
from glu_prune.tasks import (
    NEEDS_HUB,
    OFFLINE_TASKS,
    TASKS_DIR,
    check_tasks,
    prepare_offline_env,
    subtask_count,
    task_manager,
)

# the metric keys lm-eval reports for each task (as in the hub tasks' results)
METRICS = {
    "mmlu": {"acc,none"},
    "arc_challenge": {"acc,none", "acc_norm,none"},
    "hellaswag": {"acc,none", "acc_norm,none"},
    "piqa": {"acc,none", "acc_norm,none"},
    "winogrande": {"acc,none"},
    "boolq": {"acc,none"},
    "lambada_openai": {"perplexity,none", "acc,none"},
    "gsm8k": {"exact_match,strict-match", "exact_match,flexible-extract"},
    "ifeval": {
        f"{m},none"
        for m in (
            "prompt_level_strict_acc",
            "inst_level_strict_acc",
            "prompt_level_loose_acc",
            "inst_level_loose_acc",
        )
    },
    "wikipedia_ppl": {"word_perplexity,none", "byte_perplexity,none", "bits_per_byte,none"},
}
DOCS = {"mmlu": 1, "gsm8k": 1}  # scored docs per (sub)task, 2 unless named; mmlu has 57 subtasks
GEN_TOKENS = 8  # generation tasks: enough to exercise generation, filters and scoring
SCORED_ELSEWHERE = {"piqa", "arc_challenge", "ifeval"}  # by the hand-computed and IFEval tests below


@pytest.fixture(scope="module")
def offline_tm():
    return task_manager(offline=True)


def hflm(embedded):
    from lm_eval.models.huggingface import HFLM

    model, tokenizer = embedded
    return HFLM(pretrained=model, tokenizer=tokenizer, batch_size=4, max_length=2048)


def evaluate(lm, tm, task, limit=None, **kw):
    import lm_eval

    return lm_eval.simple_evaluate(
        model=lm, tasks=[task], task_manager=tm, limit=limit, bootstrap_iters=0, log_samples=True, **kw
    )


def shortest_docs(tm, task: str, k: int, scan: int = 40) -> dict[str, list[int]]:
    """The k shortest of each subtask's first `scan` documents (prompt, target and choices), so a
    run exercises every subtask at a fraction of the cost: this CPU does ~150 tokens/s, and
    MMLU's or BoolQ's first documents are long passages."""
    chosen = {}
    for name, t in tm.load([task])["tasks"].items():
        docs = t.eval_docs.select(range(min(scan, len(t.eval_docs))))
        sizes = []
        for doc in docs:
            choices = t.doc_to_choice(doc) if t.config.doc_to_choice is not None else []
            sizes.append(
                len(str(t.doc_to_text(doc))) + len(str(t.doc_to_target(doc))) + sum(map(len, choices))
            )
        chosen[name] = sorted(range(len(sizes)), key=sizes.__getitem__)[:k]
    return chosen


# ---------------------------------------------------------------- the interface


def test_offline_index_holds_exactly_the_offline_tasks(offline_tm):
    assert set(OFFLINE_TASKS) == set(METRICS)
    assert set(OFFLINE_TASKS) <= set(offline_tm.all_tasks)
    assert not NEEDS_HUB & set(offline_tm.all_tasks)
    assert "wikitext" not in offline_tm.all_tasks  # the Wikipedia stand-in never takes wikitext's name


@pytest.mark.parametrize("task", sorted(NEEDS_HUB))
def test_needs_hub_task_offline_is_refused(task):
    with pytest.raises(UserError, match=rf"'{task}' needs the Hugging Face hub \(no offline data\)"):
        check_tasks(["piqa", task], offline=True)


def test_unknown_task_is_refused_with_one_line():
    with pytest.raises(UserError, match=r"unknown task 'no_such_task'") as e:
        check_tasks(["piqa", "no_such_task"], offline=True)
    assert "\n" not in str(e.value)


def test_known_tasks_pass():
    check_tasks(OFFLINE_TASKS, offline=True)
    hub_names = [t for t in OFFLINE_TASKS if t != "wikipedia_ppl"]
    check_tasks([*hub_names, *NEEDS_HUB], offline=False)  # known without indexing lm-eval's tasks


def test_offline_only_task_online_is_refused():
    with pytest.raises(
        UserError, match=r"'wikipedia_ppl' exists only offline \(packaged data\); add --offline"
    ):
        check_tasks(["piqa", "wikipedia_ppl"], offline=False)


def test_unknown_task_is_refused_online_too():
    with pytest.raises(UserError, match=r"unknown task 'no_such_task' \(not an lm-eval task\)"):
        check_tasks(["no_such_task", "hellaswag"], offline=False)


def test_prepare_offline_env_is_idempotent():
    root = prepare_offline_env()
    assert prepare_offline_env() == root
    assert os.environ["NLTK_DATA"].split(os.pathsep).count(str(root)) == 1
    assert os.environ["HF_HUB_OFFLINE"] == os.environ["HF_DATASETS_OFFLINE"] == "1"
    import huggingface_hub.constants

    assert huggingface_hub.constants.HF_HUB_OFFLINE


def test_subtask_count_matches_the_loaded_groups(offline_tm):
    mmlu = offline_tm.load(["mmlu"])["tasks"]
    assert subtask_count("mmlu") == len(mmlu) == 57
    assert all(name.startswith("mmlu_") for name in mmlu)
    assert subtask_count("piqa") == 1


def test_mmlu_yaml_files_match_the_subject_table():
    from glu_prune.tasks.mmlu.subjects import generated_files

    for name, text in generated_files().items():
        assert (TASKS_DIR / "mmlu" / name).read_text(encoding="utf-8") == text, name


# ---------------------------------------------------------------- prompts and few-shot sources


def test_mmlu_five_shot_takes_the_first_five_dev_questions(offline_tm):
    task = offline_tm.load(["mmlu_anatomy"])["tasks"]["mmlu_anatomy"]
    dev = list(task.dataset["dev"])
    doc = task.test_docs()[0]
    prompt = task.fewshot_context(doc, num_fewshot=5)
    assert prompt.startswith("The following are multiple choice questions (with answers) about anatomy.\n\n")
    positions = [prompt.index(d["question"].strip()) for d in dev]
    assert positions == sorted(positions)  # in dev order
    assert prompt.endswith(
        f"{doc['question'].strip()}\nA. {doc['choices'][0]}\nB. {doc['choices'][1]}\n"
        f"C. {doc['choices'][2]}\nD. {doc['choices'][3]}\nAnswer:"
    )
    assert prompt.count("\nAnswer:") == 6


def test_gsm8k_exemplars_never_come_from_the_scored_problems(offline_tm):
    task = offline_tm.load(["gsm8k"])["tasks"]["gsm8k"]
    task.set_fewshot_seed(1234)
    scored = {d["question"] for d in task.test_docs()}
    pool = {d["question"] for d in task.dataset["fewshot"]}
    assert len(scored) == 1269 and len(pool) == 50 and not scored & pool
    prompt = task.fewshot_context(task.test_docs()[0], num_fewshot=5)
    assert prompt.count("Question: ") == 6 and prompt.count("#### ") == 5


# the hub configs (lm-eval's own YAML) the offline tasks must render identically
HUB_YAML = {
    "piqa": "piqa/piqa.yaml",
    "hellaswag": "hellaswag/hellaswag.yaml",
    "arc_challenge": "arc/arc_challenge.yaml",
    "winogrande": "winogrande/default.yaml",
    "boolq": "super_glue/boolq/default.yaml",
    "lambada_openai": "lambada/lambada_openai.yaml",
    "gsm8k": "gsm8k/gsm8k.yaml",
    "ifeval": "ifeval/ifeval.yaml",
    "mmlu_anatomy": "mmlu/default/mmlu_anatomy.yaml",
    "mmlu_high_school_us_history": "mmlu/default/mmlu_high_school_us_history.yaml",
}
SHOTS = {"mmlu_anatomy": 5, "mmlu_high_school_us_history": 5, "gsm8k": 5}
DATA_KEYS = (
    "custom_dataset",
    "dataset_path",
    "dataset_name",
    "dataset_kwargs",
    "training_split",
    "validation_split",
    "test_split",
    "fewshot_split",
    "metadata",
)


def _plain(value):
    """Config values comparable across the two YAML trees (hook functions by name)."""
    if callable(value):
        return value.__name__
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@pytest.mark.parametrize("name", sorted(HUB_YAML))
def test_offline_task_renders_like_lm_evals_own_config(name, offline_tm):
    """lm-eval's hub YAML, pointed at the offline data, gives the same prompts, targets, choices,
    few-shot contexts, generation settings, filters and metrics as the offline YAML."""
    import lm_eval
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks import _yaml_loader

    ours = offline_tm.load([name])["tasks"][name]
    hub_cfg = _yaml_loader.load_yaml(Path(lm_eval.__file__).parent / "tasks" / HUB_YAML[name])
    for key in DATA_KEYS:  # the same documents; everything else stays lm-eval's
        hub_cfg.pop(key, None)
        if ours.config[key] is not None:
            hub_cfg[key] = ours.config[key]
    hub = ConfigurableTask(config=hub_cfg)
    for key in (
        "output_type",
        "target_delimiter",
        "fewshot_delimiter",
        "num_fewshot",
        "description",
        "generation_kwargs",
        "filter_list",
        "metric_list",
        "repeats",
    ):
        assert _plain(ours.config[key]) == _plain(hub.config[key]), key
    assert ours.config.fewshot_config.sampler == hub.config.fewshot_config.sampler
    for t in (ours, hub):
        t.set_fewshot_seed(1234)
    docs, hub_docs = list(ours.eval_docs), list(hub.eval_docs)
    assert len(docs) == len(hub_docs)
    for doc, hub_doc in list(zip(docs, hub_docs, strict=False))[:20]:
        assert ours.doc_to_text(doc) == hub.doc_to_text(hub_doc)
        assert ours.doc_to_target(doc) == hub.doc_to_target(hub_doc)
        if ours.config.doc_to_choice is not None:
            assert ours.doc_to_choice(doc) == hub.doc_to_choice(hub_doc)
        shots = SHOTS.get(name, 0)
        assert ours.fewshot_context(doc, num_fewshot=shots) == hub.fewshot_context(hub_doc, num_fewshot=shots)


def test_wikipedia_ppl_scores_like_wikitext_under_its_own_name(offline_tm):
    import lm_eval
    from lm_eval.tasks import _yaml_loader

    ours = offline_tm.load(["wikipedia_ppl"])["tasks"]["wikipedia_ppl"]
    wikitext = _yaml_loader.load_yaml(Path(lm_eval.__file__).parent / "tasks" / "wikitext" / "wikitext.yaml")
    assert ours.config.output_type == wikitext["output_type"] == "loglikelihood_rolling"
    assert [m["metric"] for m in ours.config.metric_list] == [m["metric"] for m in wikitext["metric_list"]]
    texts = ours.eval_docs["text"]
    assert len(texts) == len(set(texts)) == 803 and sum(map(len, texts)) > 600_000


# ---------------------------------------------------------------- scoring on the embedded model


def assert_scored(result: dict, task: str):
    assert METRICS[task] <= set(result), sorted(result)
    for key in METRICS[task]:
        assert math.isfinite(result[key]), (key, result[key])


@pytest.mark.slow
@pytest.mark.parametrize("task", [t for t in OFFLINE_TASKS if t not in SCORED_ELSEWHERE])
def test_task_scores_on_the_embedded_model(task, embedded, offline_tm):
    kw = {"gen_kwargs": {"max_gen_toks": GEN_TOKENS}} if task == "gsm8k" else {}
    chosen = shortest_docs(offline_tm, task, DOCS.get(task, 2))
    out = evaluate(hflm(embedded), offline_tm, task, samples=chosen, **kw)
    assert_scored(out["results"][task], task)
    if task == "mmlu":
        assert len(out["results"]) == 57 + 5  # subjects, 4 categories, the group
        assert out["results"][task]["sample_len"] == 57


def loglikelihood(model, tokenizer, context: str, continuation: str) -> float:
    """Sum of log-probabilities of the continuation's tokens given the context, by hand."""
    import torch

    ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
    full = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    assert full[: len(ctx)] == ctx
    with torch.no_grad():
        logits = model(torch.tensor([full])).logits[0].float()
    logprobs = torch.log_softmax(logits[:-1], dim=-1)  # position i predicts token i + 1
    return sum(logprobs[i - 1, full[i]].item() for i in range(len(ctx), len(full)))


@pytest.mark.slow
@pytest.mark.parametrize("task", ["piqa", "arc_challenge"])
def test_offline_scores_equal_hand_computed_loglikelihoods(task, embedded, offline_tm):
    import numpy as np

    model, tokenizer = embedded
    out = evaluate(hflm(embedded), offline_tm, task, limit=3)
    samples = out["samples"][task]
    assert len(samples) == 3
    t = offline_tm.load([task])["tasks"][task]
    for s in samples:
        doc, (context,) = s["doc"], {a[0] for a in s["arguments"]}
        choices, gold = t.doc_to_choice(doc), t.doc_to_target(doc)
        assert context == t.doc_to_text(doc)
        lls = np.array([loglikelihood(model, tokenizer, context, " " + c) for c in choices])
        got = np.array([r[0] for r in s["filtered_resps"]])
        np.testing.assert_allclose(got, lls, atol=2e-3)
        assert s["acc"] == float(np.argmax(lls) == gold)
        assert s["acc_norm"] == float(np.argmax(lls / np.array([len(c) for c in choices])) == gold)
    assert_scored(out["results"][task], task)
    assert out["results"][task]["acc,none"] == pytest.approx(np.mean([s["acc"] for s in samples]))


# ---------------------------------------------------------------- IFEval offline


def test_punkt_files_are_written_once_and_found_by_nltk(tmp_path):
    from glu_prune.tasks.punkt import FILES, RELATIVE, materialize

    root = materialize(tmp_path)
    files = {name: (root / RELATIVE / name).read_text(encoding="utf-8") for name in FILES}
    assert materialize(tmp_path) == root  # idempotent
    assert [p.name for p in (root / RELATIVE).parent.iterdir()] == ["english"]  # no staging left over
    assert "dr" in files["abbrev_types.txt"].splitlines()
    assert all(len(line.split("\t")) == 2 for line in files["ortho_context.tab"].splitlines())
    probe = (
        "import nltk, sys; nltk.download = None; "
        "sys.exit(0 if nltk.data.find('tokenizers/punkt_tab/english/') else 1)"
    )
    env = dict(os.environ, NLTK_DATA=str(root))
    subprocess.run([sys.executable, "-c", probe], env=env, check=True, timeout=60)


@pytest.mark.slow
def test_ifeval_scores_offline_without_any_download(embedded, offline_tm, monkeypatch):
    import nltk

    root = prepare_offline_env()
    assert str(root) in os.environ["NLTK_DATA"].split(os.pathsep)
    assert Path(nltk.data.find("tokenizers/punkt_tab/english/")).is_relative_to(root)

    def no_download(*args, **kwargs):
        raise AssertionError(f"NLTK download attempted: {args}")

    monkeypatch.setattr(nltk, "download", no_download)
    from lm_eval.tasks.ifeval.instructions_util import count_sentences

    assert count_sentences("Dr. Smith arrived at 5 p.m. on Monday. It rained. We left.") == 3
    chosen = shortest_docs(offline_tm, "ifeval", 2)
    out = evaluate(
        hflm(embedded), offline_tm, "ifeval", samples=chosen, gen_kwargs={"max_gen_toks": GEN_TOKENS}
    )
    assert len(out["samples"]["ifeval"]) == 2
    assert_scored(out["results"]["ifeval"], "ifeval")
    assert all(0.0 <= out["results"]["ifeval"][key] <= 1.0 for key in METRICS["ifeval"])
