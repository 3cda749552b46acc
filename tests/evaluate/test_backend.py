"""The glu-prune back end against lm-eval's own HF back end, request by request, on real offline
tasks: the embedded model on every offline task, the real Gemma-3-270M, and tiny random Llama,
Qwen2, Mistral, Gemma and Gemma3 models (sliding windows narrow enough to bind; Gemma with a
BOS-adding tokenizer, as Gemma's own). Log-likelihoods agree within 1e-3 in float32, greedy flags
and greedy generations (batch 1) are identical; what the back end cannot share is counted and
scored by lm-eval itself.
"""

from __future__ import annotations

import pytest
import torch
from lm_eval.api.model import CachingLM
from tiny import tiny_model

from glu_prune.evaluate import backend_class, task_requests
from glu_prune.evaluate.suites import PLAIN_TEXT_TASKS

TOLERANCE = 1e-3  # log-likelihood, float32 (observed: below 1e-4)
GEN_TOKENS = 12  # generation requests are capped here to keep the suite fast
# the embedded model: every offline task, a few documents each (the benchmark compares more)
EMBEDDED_TASKS = {
    "hellaswag": (6, 0),
    "arc_challenge": (6, 0),
    "piqa": (6, 0),
    "winogrande": (6, 0),
    "boolq": (4, 0),
    "lambada_openai": (6, 0),
    "wikipedia_ppl": (2, 0),
    "mmlu_abstract_algebra": (3, 5),  # one MMLU subject, 5-shot: a long shared few-shot prefix
    "gsm8k": (1, 5),
    "ifeval": (2, 0),
}
TINY_TASKS = {"arc_challenge": (4, 0), "winogrande": (4, 0), "wikipedia_ppl": (1, 0), "gsm8k": (2, 0)}


def build_requests(task: str, limit: int, fewshot: int, lm, chat: bool) -> dict:
    return task_requests(task, limit, fewshot, lm, chat, gen_tokens=GEN_TOKENS)


def answers(lm, requests: dict) -> dict:
    quiet = {} if isinstance(lm, CachingLM) else {"disable_tqdm": True}  # lm-eval's cache wrapper takes none
    return {kind: getattr(lm, kind)(list(insts), **quiet) for kind, insts in requests.items()}


def assert_same(shared: dict, stock: dict, tolerance: float = TOLERANCE) -> None:
    assert shared.keys() == stock.keys()
    for kind in stock:
        for a, b in zip(shared[kind], stock[kind], strict=True):
            if kind == "loglikelihood":
                assert abs(a[0] - b[0]) <= tolerance and a[1] == b[1], (a, b)
            elif kind == "loglikelihood_rolling":
                assert abs(a - b) <= tolerance, (a, b)
            else:
                assert a == b


def reference(stock, requests: dict) -> dict:
    """lm-eval's own answers. Rolling ones, where the tokenizer adds BOS (Gemma), as lm-eval scores
    the text encoded without it after its BOS prefix: the back end does not double BOS there
    (lm-eval issue #3333), where lm-eval 0.4.13's rolling path does."""
    from lm_eval.models.huggingface import HFLM

    out = answers(stock, requests)
    if "loglikelihood_rolling" in requests and stock.tok_encode("x")[:1] == [stock.prefix_token_id]:
        single = HFLM(pretrained=stock.model, tokenizer=stock.tokenizer, batch_size=1, add_bos_token=False)
        rolling = requests["loglikelihood_rolling"]
        out["loglikelihood_rolling"] = single.loglikelihood_rolling(rolling, disable_tqdm=True)
        assert out["loglikelihood_rolling"] != stock.loglikelihood_rolling(rolling, disable_tqdm=True)
    return out


def pair(model, tokenizer, batch_size: int = 8):
    from lm_eval.models.huggingface import HFLM

    stock = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    return backend_class()(pretrained=model, tokenizer=tokenizer, batch_size=batch_size), stock


@pytest.fixture(scope="module")
def embedded_pair(embedded_dir):
    from glu_prune.models import ModelSpec, load_model

    model, tokenizer = load_model(ModelSpec("default"))
    return pair(model, tokenizer)


@pytest.fixture(scope="module")
def tokenizers(embedded_dir):
    """The embedded model's tokenizer (49,152 tokens), plain and adding BOS as Gemma's does."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_dir), AutoTokenizer.from_pretrained(
        embedded_dir, add_bos_token=True
    )


@pytest.fixture(scope="module")
def tiny_requests(tokenizers):
    """Plain-text requests of the tiny-model tasks (no chat template: built once, scored by all)."""
    lm = pair(tiny_model("llama", vocab_size=49152), tokenizers[0])[1]
    return {task: build_requests(task, n, shots, lm, chat=False) for task, (n, shots) in TINY_TASKS.items()}


@pytest.mark.slow
@pytest.mark.parametrize("task", list(EMBEDDED_TASKS))
def test_embedded_model_scores_like_lm_eval_on_every_offline_task(embedded_pair, task):
    shared, stock = embedded_pair
    limit, shots = EMBEDDED_TASKS[task]
    requests = build_requests(task, limit, shots, stock, chat=task not in PLAIN_TEXT_TASKS)
    before = dict(shared.counts)
    assert_same(answers(shared, requests), answers(stock, requests))
    assert not shared.fallbacks  # every request of every task took the shared path
    scored = {k: v - before.get(k, 0) for k, v in shared.counts.items()}
    if "loglikelihood" in requests:
        assert scored["requests_shared"] == len(requests["loglikelihood"])
        assert scored["tokens_computed"] > 0
    if task in ("hellaswag", "arc_challenge", "mmlu_abstract_algebra"):  # contexts shared by choices
        assert scored["tokens_computed"] < scored["tokens_requested"] / 2


def test_greedy_generation_at_batch_1_and_batched_with_per_row_stops(embedded_pair):
    """Batch 1: the same strings as lm-eval's generate(). Batched (rows leave as they stop, with
    stop strings that hit early): the same strings as at batch 1."""
    shared, stock = embedded_pair
    requests = build_requests("gsm8k", 3, 0, stock, chat=True)["generate_until"]
    for inst in requests:
        inst.arguments = (inst.arguments[0], {**inst.arguments[1], "until": ["\n", " the"]})
    shared.rows_per_forward, stock.batch_size_per_gpu = 1, 1
    try:
        one = shared.generate_until(requests, disable_tqdm=True)
        assert one == stock.generate_until(requests, disable_tqdm=True)
        shared.rows_per_forward = 8
        assert shared.generate_until(requests, disable_tqdm=True) == one
    finally:
        shared.rows_per_forward, stock.batch_size_per_gpu = 8, 8


@pytest.mark.slow
def test_gemma_3_270m_scores_like_lm_eval(gemma):
    """The real Gemma-3-270M (BOS from its tokenizer, sliding-window layers, 262,144-token output
    layer) on a few documents of a multiple-choice, a perplexity and a generation task."""
    shared, stock = pair(*gemma, batch_size=4)
    assert shared.not_shared is None
    assert shared.tok_encode("x")[0] == shared.tokenizer.bos_token_id  # lm-eval's encoding adds BOS
    for task, limit in (("arc_challenge", 3), ("wikipedia_ppl", 1), ("gsm8k", 1)):
        requests = build_requests(task, limit, 0, stock, chat=False)
        assert_same(answers(shared, requests), reference(stock, requests))
    assert not shared.fallbacks and shared.counts["rolling_bos_not_doubled"] == 1


FAMILIES = {
    "llama": {},
    "llama-eager": {"attn_implementation": "eager"},
    "qwen2": {"use_sliding_window": True, "sliding_window": 16, "max_window_layers": 1},
    "mistral": {"sliding_window": 16},
    "gemma": {},
    "gemma3_text": {"sliding_window": 16, "layer_types": ["sliding_attention", "full_attention"]},
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_tiny_models_of_each_family_score_like_lm_eval(family, tokenizers, tiny_requests):
    model_type = family.split("-")[0]
    model = tiny_model(model_type, vocab_size=49152, **FAMILIES[family])
    tokenizer = tokenizers[1] if model_type.startswith("gemma") else tokenizers[0]
    shared, stock = pair(model, tokenizer, batch_size=1)  # generation: identical at batch 1
    shared.rows_per_forward = 8
    assert shared.not_shared is None
    for requests in tiny_requests.values():
        assert_same(answers(shared, requests), reference(stock, requests))
    bos = model_type.startswith("gemma")  # their tokenizers add BOS, which rolling does not double
    assert (shared.counts["rolling_bos_not_doubled"] > 0) == bos
    # 128 positions: the longer requests are left-truncated by lm-eval, so scored its way
    assert set(shared.fallbacks) <= {"loglikelihood: longer than max_length (left-truncated)"}
    assert shared.counts["requests_shared"] > 0 and shared.counts["requests_generated"] > 0


def test_an_unknown_model_type_falls_back_to_lm_eval_and_is_counted(tokenizers, tiny_requests):
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model("gpt2", n_embd=64, n_layer=2, n_head=4, vocab_size=49152, n_positions=128)
    torch.manual_seed(0)
    shared, stock = pair(AutoModelForCausalLM.from_config(config).eval(), tokenizers[0], batch_size=1)
    assert shared.not_shared == "model type 'gpt2'"
    requests = tiny_requests["arc_challenge"]
    assert_same(answers(shared, requests), answers(stock, requests), tolerance=0.0)
    assert shared.fallbacks == {"loglikelihood: model type 'gpt2'": len(requests["loglikelihood"])}
    assert shared.counts["requests_shared"] == 0


def test_bfloat16_scores_close_to_float32(tokenizers, tiny_requests):
    """bfloat16 moves log-likelihoods by its rounding only (here: a tiny Llama, 16-bit weights)."""
    model = tiny_model("llama", vocab_size=49152)
    requests = {"loglikelihood": tiny_requests["arc_challenge"]["loglikelihood"]}
    exact = answers(pair(model, tokenizers[0])[1], requests)["loglikelihood"]
    half = answers(pair(model.to(torch.bfloat16), tokenizers[0])[0], requests)["loglikelihood"]
    assert max(abs(a[0] - b[0]) / abs(b[0]) for a, b in zip(half, exact, strict=True)) < 0.02


def test_request_cache_entries_are_lm_evals_own(tmp_path, tokenizers, tiny_requests):
    """The back end writes lm-eval's own request-cache entries (lm-eval's hash of each request,
    written as each is scored), so a run resumes from either back end's cache."""
    from lm_eval.api.model import hash_args
    from sqlitedict import SqliteDict

    requests: dict = {}  # every request type of the tiny tasks
    for by_type in tiny_requests.values():
        for kind, insts in by_type.items():
            requests.setdefault(kind, []).extend(insts)
    shared, stock = pair(tiny_model("llama", vocab_size=49152), tokenizers[0], batch_size=1)
    for lm, name in ((shared, "shared"), (stock, "stock")):
        answers(CachingLM(lm, str(tmp_path / f"{name}.db")), requests)
    cached = {}
    for name in ("shared", "stock"):
        with SqliteDict(tmp_path / f"{name}.db") as db:
            assert len(db) == sum(len(v) for v in requests.values())
            cached[name] = {k: [db[hash_args(k, inst.args)] for inst in v] for k, v in requests.items()}
    assert_same(cached["shared"], cached["stock"])
    counted = dict(shared.counts)
    resumed = answers(CachingLM(shared, str(tmp_path / "stock.db")), requests)  # nothing left to score
    assert dict(shared.counts) == counted
    assert resumed == cached["stock"]
