"""The lm-eval model back end "glu-prune": lm-eval's HF back end (HFLM) with shared-context scoring.

Everything except the model calls stays lm-eval's: tokenisation and BOS handling, chat templates,
few-shot, left truncation, filters, metrics and the request cache. What changes:
- `loglikelihood`: requests that share a context are packed into one row (packing.py) and scored
  in one forward pass, batched across documents, with the output layer only where a token is
  scored (scoring.py);
- `loglikelihood_rolling`: the windows of all documents, longest first, through the same path;
- `generate_until`: greedy decoding with the KV cache and per-row stops (generation.py).
Requests it cannot score exactly (over-long ones that lm-eval left-truncates, a model type or
generation setting it does not know) go to HFLM's own code, and are counted in `fallbacks`. One
deliberate difference: rolling log-likelihoods do not double a BOS the tokenizer already added
(lm-eval issue #3333; see loglikelihood_rolling).

The class is built on first use (`backend_class()`), so importing this package does not import
lm-eval; building it registers it in lm-eval's model registry under NAME.
"""

from __future__ import annotations

import functools
import json
from collections import Counter

from .generation import Stops, eos_ids, generate_greedy, not_greedy
from .packing import batches, pack
from .scoring import attention_ratio, score_rows, unsupported

NAME = "glu-prune"
STOCK = "hf"  # lm-eval's own HF back end
BACKENDS = (NAME, STOCK)
# rows (documents) and padded tokens per forward pass when not given: fast on each device at bounded
# memory (activations scale with tokens; log-probabilities exist only where a token is scored)
DEFAULT_ROWS = {"cpu": 8, "cuda": 64}
DEFAULT_TOKENS = {"cpu": 2048, "cuda": 32768}
# longest packed row (unless one request alone is longer): its mask and attention grow with length^2
MAX_ROW_TOKENS = 4096
# lm-eval's own back end: batch 8 on a CPU (its default of 1 is the slowest path); on a GPU its
# batch-size probe, capped by --max-batch-size (its logits grow with batch x length x vocabulary)
STOCK_DEFAULTS = {"cpu": 8, "cuda": "auto"}


def default_batch_size(backend: str, device: str) -> int | str:
    """The batch size a run uses when none is asked for (recorded with its results)."""
    table = DEFAULT_ROWS if backend == NAME else STOCK_DEFAULTS
    return table.get(device, table["cpu"])


@functools.cache
def backend_class():
    """lm-eval's HFLM subclass, registered in lm-eval's model registry as NAME."""
    from lm_eval.api.registry import register_model
    from lm_eval.models.huggingface import HFLM

    class SharedContextLM(HFLM):
        """lm-eval's HF back end, scoring shared contexts once (glu_prune.evaluate.backend)."""

        def __init__(self, *args, max_batch_tokens: int | None = None, **kwargs):
            super().__init__(*args, **kwargs)
            _setup(self, max_batch_tokens)

        def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs=None):
            return loglikelihood_tokens(self, requests, disable_tqdm, super()._loglikelihood_tokens)

        def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
            return loglikelihood_rolling(self, requests, disable_tqdm)

        def generate_until(self, requests, disable_tqdm: bool = False):
            return generate_until(self, requests, disable_tqdm, super().generate_until)

    SharedContextLM.__module__, SharedContextLM.__qualname__ = __name__, "SharedContextLM"
    register_model(NAME)(SharedContextLM)
    return SharedContextLM


def _setup(lm, max_batch_tokens: int | None) -> None:
    device = lm.device.type
    lm.rows_per_forward = (
        lm.batch_size if isinstance(lm.batch_size, int) else lm.max_batch_size or DEFAULT_ROWS.get(device, 8)
    )
    lm.max_batch_tokens = max_batch_tokens or DEFAULT_TOKENS.get(device, DEFAULT_TOKENS["cpu"])
    lm.not_shared = "encoder-decoder model" if lm.backend != "causal" else unsupported(lm.model)
    lm.fallbacks, lm.counts = Counter(), Counter()
    accelerator = getattr(lm, "accelerator", None)
    if accelerator is not None and accelerator.num_processes > 1 and lm.world_size == 1:
        # HFLM takes its data-parallel rank from accelerate only when it sees several GPUs; on CPU
        # processes it would leave every process at rank 0 of 1, each scoring every document
        lm._rank, lm._world_size = accelerator.process_index, accelerator.num_processes


def run_info(lm, since: dict | None = None) -> dict:
    """How the back end ran, for the run record: its batching, and counts of requests scored the
    shared way and of those that fell back to lm-eval's own code (with the reason); `since`: an
    earlier run_info of the same back end, to count only what came after it."""
    if not hasattr(lm, "counts"):
        return {"backend": STOCK}
    since = since or {}
    return {
        "backend": NAME,
        "rows_per_forward": lm.rows_per_forward,
        "max_batch_tokens": lm.max_batch_tokens,
        "counts": dict(lm.counts - Counter(since.get("counts", {}))),
        "fallbacks": dict(lm.fallbacks - Counter(since.get("fallbacks", {}))),
    }


def loglikelihood_tokens(lm, requests, disable_tqdm: bool, stock) -> list[tuple[float, bool]]:
    """lm-eval's token-level scoring: (cache key, context tokens, continuation tokens) ->
    (log-likelihood, greedy?), in request order."""
    from tqdm import tqdm

    results: list = [None] * len(requests)
    fits = [len(c) + len(k) <= lm.max_length + 1 for _, c, k in requests]  # else lm-eval truncates
    shared = [i for i, ok in enumerate(fits) if ok and lm.not_shared is None]
    rest = [i for i, ok in enumerate(fits) if not ok or lm.not_shared is not None]
    if rest:  # scored by HFLM itself, which writes their request-cache entries too
        why = lm.not_shared or "longer than max_length (left-truncated)"
        lm.fallbacks[f"loglikelihood: {why}"] += len(rest)
        answers = stock([requests[i] for i in rest], disable_tqdm=disable_tqdm)
        for i, answer in zip(rest, answers, strict=True):
            results[i] = answer
    row_tokens = min(lm.max_batch_tokens, MAX_ROW_TOKENS)
    rows = pack([requests[i][1:] for i in shared], row_tokens, attention_ratio(lm.model.config))
    bar = tqdm(total=len(shared), disable=disable_tqdm or lm.rank != 0, desc="Scoring (shared contexts)")
    pad = lm.tokenizer.pad_token_id or 0
    for batch in batches(rows, lm.rows_per_forward, lm.max_batch_tokens):
        answers = iter(score_rows(lm.model, batch, pad))
        lm.counts["forward_passes"] += 1
        lm.counts["tokens_computed"] += len(batch) * len(batch[0])
        for target in (t for row in batch for t in row.targets):
            answer = next(answers)
            for j in target.requests:
                key = requests[shared[j]][0]
                results[shared[j]] = answer
                if key is not None:  # rolling windows have none: their document's total is cached
                    lm.cache_hook.add_partial("loglikelihood", key, answer)
            bar.update(len(target.requests))
    bar.close()
    lm.counts["requests_shared"] += len(shared)
    lm.counts["tokens_requested"] += sum(len(requests[i][1]) + len(requests[i][2]) - 1 for i in shared)
    return results


def loglikelihood_rolling(lm, requests, disable_tqdm: bool) -> list[float]:
    """lm-eval's rolling windows (its own functions), all documents' windows scored together.

    One deliberate difference from lm-eval 0.4.13's HF back end: where the tokenizer already starts
    a text with the prefix token (Gemma's BOS), that token is not prefixed a second time, so the
    text is conditioned on one BOS and BOS itself is not scored (lm-eval issue #3333; its rolling
    path still doubles it). Counted in `counts["rolling_bos_not_doubled"]`."""
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

    windows, owner = [], []
    for r, (text,) in enumerate(req.args for req in requests):
        tokens = lm.tok_encode(text)
        if tokens[:1] == [lm.prefix_token_id]:
            tokens = tokens[1:]
            lm.counts["rolling_bos_not_doubled"] += 1
        for context, continuation in map(
            make_disjoint_window,
            get_rolling_token_windows(
                token_list=tokens, prefix_token=lm.prefix_token_id, max_seq_len=lm.max_length, context_len=1
            ),
        ):
            windows.append((None, context, continuation))
            owner.append(r)
    totals = [0.0] * len(requests)
    scores = lm._loglikelihood_tokens(windows, disable_tqdm=disable_tqdm)
    for r, (logprob, _) in zip(owner, scores, strict=True):  # in window order, as lm-eval sums them
        totals[r] += logprob
    for req, total in zip(requests, totals, strict=True):
        lm.cache_hook.add_partial("loglikelihood_rolling", req.args, total)
    return totals


def generate_until(lm, requests, disable_tqdm: bool, stock) -> list[str]:
    """Greedy requests, grouped by their generation kwargs; anything else goes to HFLM."""
    groups: dict[str, list[int]] = {}
    for i, req in enumerate(requests):
        groups.setdefault(json.dumps(req.args[1], sort_keys=True, default=str), []).append(i)
    results: list = [None] * len(requests)
    for members in groups.values():
        reqs = [requests[i] for i in members]
        why = _not_greedy(lm, reqs[0].args[1])
        if why:
            lm.fallbacks[f"generate_until: {why}"] += len(reqs)
            answers = stock(reqs, disable_tqdm=disable_tqdm)
        else:
            answers = _generate_group(lm, reqs, disable_tqdm)
        for i, answer in zip(members, answers, strict=True):
            results[i] = answer
    return results


def _not_greedy(lm, gen_kwargs: dict) -> str | None:
    from lm_eval.models.utils import normalize_gen_kwargs

    if lm.not_shared:
        return lm.not_shared
    if lm.think_end_token is not None:
        return "think_end_token"
    kwargs = normalize_gen_kwargs(gen_kwargs, lm.max_gen_toks)
    kwargs.pop("until", None)
    kwargs.pop("max_gen_toks", None)
    return not_greedy(lm.model, kwargs)


def _generate_group(lm, reqs, disable_tqdm: bool) -> list[str]:
    """As HFLM.generate_until for one kwargs group: same prompt tokens (left-truncated to leave
    room for max_gen_toks), same stop sequences (EOS added), same decoding and post-processing."""
    from lm_eval.models.utils import handle_stop_sequences, normalize_gen_kwargs, postprocess_generated_text
    from tqdm import tqdm

    kwargs = normalize_gen_kwargs(reqs[0].args[1], lm.max_gen_toks)
    eos = lm.tok_decode(lm.eot_token_id, skip_special_tokens=False)
    until = handle_stop_sequences(kwargs.pop("until", None), eos=eos)
    max_new = kwargs.pop("max_gen_toks")
    max_context = lm.max_length - max_new
    if max_context <= 0:
        raise ValueError(f"max_gen_toks ({max_new}) must be below the maximum length ({lm.max_length})")
    prompts = [_prompt_tokens(lm, req.args[0], max_context) for req in reqs]
    order = sorted(range(len(reqs)), key=lambda i: -len(prompts[i]))
    stops = Stops(lm.tokenizer, until, eos_ids(lm.model, lm.tokenizer), max_new)
    results: list = [None] * len(reqs)
    bar = tqdm(
        total=len(reqs), disable=disable_tqdm or lm.rank != 0, desc="Generating (greedy, per-row stops)"
    )
    for s in range(0, len(order), lm.rows_per_forward):
        chunk = order[s : s + lm.rows_per_forward]
        outputs = generate_greedy(
            lm.model, [prompts[i] for i in chunk], stops, lm.tokenizer.pad_token_id or 0
        )
        for i, tokens in zip(chunk, outputs, strict=True):
            lm.counts["tokens_generated"] += len(tokens)
            text = postprocess_generated_text(lm.tok_decode(tokens), until, lm.think_end_token)
            results[i] = text
            lm.cache_hook.add_partial("generate_until", reqs[i].args, text)
            bar.update(1)
    bar.close()
    lm.counts["requests_generated"] += len(reqs)
    return results


def _prompt_tokens(lm, context: str, max_context: int) -> list[int]:
    """One prompt as HFLM.tok_batch_encode encodes it (special tokens unless it starts with BOS)."""
    from lm_eval.models.utils import has_bos_prefix

    if has_bos_prefix(context, getattr(lm.tokenizer, "bos_token", None)):
        special = {"add_special_tokens": False}
    elif lm.add_bos_token is not None:
        special = {"add_special_tokens": lm.add_bos_token}
    else:
        special = {}
    ids = lm.tokenizer(context, truncation=lm.truncation, **special)["input_ids"]
    return ids[-max_context:]
