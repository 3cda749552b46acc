"""Scoring throughput of the lm-eval back ends on the embedded model, same documents, interleaved.

    .venv/bin/python benchmarks/eval_throughput.py [--limit 40] [--generate-limit 3] [--gen-tokens 128]
        [--tasks hellaswag,...] [--variants hf/float32,hf/bfloat16,glu-prune/bfloat16,glu-prune/auto]
        [--threads 1] [--out results/eval_throughput.json]

Variants: (a) hf/float32, lm-eval's stock HF back end as the study ran it; (b) hf/bfloat16;
(c) glu-prune/bfloat16, this package's shared-context back end; and glu-prune/auto, the back end
in the dtype `--dtype auto` picks on this machine (float32 where the CPU has no native bfloat16).
Every variant scores the same lm-eval requests of each task, built once (chat template as the
evaluation runner applies it), in an order rotated from task to task; the clock covers only the
back end's calls (loglikelihood, loglikelihood_rolling, generate_until), not task building.

Reported per task and variant: documents/s and request tokens/s (the tokens lm-eval's stock back
end feeds the model for these requests, the same count for every variant, so their ratio is the
speed-up), and for the glu-prune variants the tokens it computed per second against the raw
forward throughput of the same model on the same token batches (body + output layer at the
scored positions, no packing, no lm-eval): the limit. Agreement of each glu-prune variant with
each hf one: max |difference| of log-likelihoods, and the share of documents whose chosen answer
(argmax log-likelihood) or generation is the same. (lm-eval's own back end takes log-softmax and
sums in the model's dtype, glu-prune in float32: in bfloat16 their log-likelihoods differ by that
rounding, up to tenths over a long continuation.)

Targets (issue 10): (c)/(a) >= 3 on hellaswag and arc_challenge, >= 1.7 elsewhere; (c)/(b) >= 1.6
on hellaswag and arc_challenge; (c) at >= 0.7 of the raw limit. Run on a quiet machine; the
1-minute load average is recorded before and after every measurement.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict

TASKS = (
    "hellaswag",
    "arc_challenge",
    "piqa",
    "winogrande",
    "boolq",
    "lambada_openai",
    "wikipedia_ppl",
    "ifeval",
)
VARIANTS = ("hf/float32", "hf/bfloat16", "glu-prune/bfloat16", "glu-prune/auto")
MAIN_TASKS = ("hellaswag", "arc_challenge")


def load1() -> float:
    return os.getloadavg()[0]


def make_lm(variant: str, models: dict):
    """The evaluation runner's own back end (its batch-size default for the device)."""
    from glu_prune.evaluate import EvalSettings
    from glu_prune.evaluate.harness import make_lm as runner_lm

    backend, dtype = variant.split("/")
    model, tokenizer = models[dtype]
    return runner_lm(model, tokenizer, EvalSettings(offline=True, backend=backend))


def request_tokens(lm, requests: dict) -> int:
    """Tokens lm-eval's stock back end feeds the model for these requests (its own encoding)."""
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

    total = 0
    for inst in requests.get("loglikelihood", []):
        context, continuation = inst.args
        c, k = lm._encode_pair(context, continuation) if context else ([0], lm.tok_encode(continuation))
        total += min(len(c) + len(k), lm.max_length + 1) - 1
    for inst in requests.get("loglikelihood_rolling", []):
        windows = get_rolling_token_windows(lm.tok_encode(inst.args[0]), lm.prefix_token_id, lm.max_length, 1)
        total += sum(len(c) + len(k) - 1 for c, k in map(make_disjoint_window, windows))
    for inst in requests.get("generate_until", []):
        total += len(lm.tok_encode(inst.args[0]))
    return total


def timed_run(lm, requests: dict, raw_batches: list | None) -> tuple[float, dict]:
    """Seconds of the back end's own calls, and their answers."""
    from glu_prune.evaluate import backend, scoring

    score = scoring.score_rows

    def recording(model, rows, pad):  # the batches the back end ran, for the raw-forward replay
        raw_batches.append(rows)
        return score(model, rows, pad)

    if raw_batches is not None:
        backend.score_rows = recording
    try:
        start = time.perf_counter()
        out = {kind: getattr(lm, kind)(list(insts), disable_tqdm=True) for kind, insts in requests.items()}
        return time.perf_counter() - start, out
    finally:
        backend.score_rows = score


def raw_forward_seconds(model, batches: list) -> tuple[float, int]:
    """The same token batches through the plain model (causal mask, output layer at as many
    positions as were scored): the compute the back end cannot avoid. -> (seconds, tokens)."""
    import torch

    from glu_prune.evaluate.scoring import _inputs

    head, seconds, tokens = model.get_output_embeddings(), 0.0, 0
    with torch.no_grad():
        for rows in batches:
            ids = _inputs(rows, 0, model.device)[0]
            scored = len({(i, j) for i, r in enumerate(rows) for t in r.targets for j in t.indices})
            start = time.perf_counter()
            hidden = model.base_model(input_ids=ids, use_cache=False).last_hidden_state
            torch.log_softmax(head(hidden.reshape(-1, hidden.shape[-1])[:scored]).float(), dim=-1)
            seconds += time.perf_counter() - start
            tokens += ids.numel()
    return seconds, tokens


def agreement(kind: str, requests, a, b) -> dict:
    """Max |difference|, the share of documents with the same choice (argmax over their requests:
    the multiple-choice answer) and of requests with the same greedy flag, or of generations."""
    if kind == "loglikelihood":
        per_doc = defaultdict(lambda: ([], []))
        for inst, x, y in zip(requests, a, b, strict=True):
            per_doc[inst.doc_id][0].append(x[0])
            per_doc[inst.doc_id][1].append(y[0])
        same = [
            max(range(len(x)), key=x.__getitem__) == max(range(len(y)), key=y.__getitem__)
            for x, y in per_doc.values()
        ]
        return {
            "max_abs_diff": max(abs(x[0] - y[0]) for x, y in zip(a, b, strict=True)),
            "same_choice": sum(same) / len(same),
            "same_greedy": sum(x[1] == y[1] for x, y in zip(a, b, strict=True)) / len(a),
            "documents": len(same),
        }
    if kind == "loglikelihood_rolling":
        return {"max_abs_diff": max(abs(x - y) for x, y in zip(a, b, strict=True))}
    return {"same_generation": sum(x == y for x, y in zip(a, b, strict=True)) / len(a)}


def measure_task(task: str, index: int, variants: list[str], models: dict, args) -> dict:
    """Every variant on the same requests of one task, in an order rotated by the task's index."""
    from glu_prune.evaluate import task_requests
    from glu_prune.evaluate.suites import PLAIN_TEXT_TASKS

    builder = make_lm("hf/float32", models)  # formats chat templates and counts tokens only
    limit = args.generate_limit if task == "ifeval" else args.limit
    chat = task not in PLAIN_TEXT_TASKS
    requests = task_requests(task, limit, 0, builder, chat, gen_tokens=args.gen_tokens)
    documents = len({inst.doc_id for insts in requests.values() for inst in insts})
    tokens = request_tokens(builder, requests)
    runs, answers = {}, {}
    for variant in variants[index % len(variants) :] + variants[: index % len(variants)]:
        lm = make_lm(variant, models)
        batches = [] if variant.startswith("glu-prune") else None
        before = load1()
        seconds, answers[variant] = timed_run(lm, requests, batches)
        run = {
            "seconds": seconds,
            "documents_per_s": documents / seconds,
            "request_tokens_per_s": tokens / seconds,
        }
        run |= {"batch_size": lm.batch_size, "load1_before": before, "load1_after": load1()}
        if batches:
            raw_seconds, computed = raw_forward_seconds(lm.model, batches)
            run |= {"tokens_computed": computed, "computed_tokens_per_s": computed / seconds}
            run |= {"raw_tokens_per_s": computed / raw_seconds, "of_raw_limit": raw_seconds / seconds}
            run |= {"counts": dict(lm.counts), "fallbacks": dict(lm.fallbacks)}
        runs[variant] = run
        print(
            f"  {task:<15} {variant:<19} {run['documents_per_s']:7.2f} docs/s "
            f"{run['request_tokens_per_s']:7.0f} tok/s"
            + (f"  {run['of_raw_limit']:.2f} of raw" if batches else "")
            + f"  (load1 {before:.1f})",
            flush=True,
        )
    pairs = [(a, b) for a in variants if a.startswith("glu-prune") for b in variants if b.startswith("hf")]
    agree = {
        f"{a} vs {b}": {k: agreement(k, requests[k], answers[a][k], answers[b][k]) for k in requests}
        for a, b in pairs  # same dtype: the back ends; across dtypes: bfloat16's own rounding too
    }
    return {
        "task": task,
        "chat_template": chat,
        "documents": documents,
        "request_tokens": tokens,
        "order": list(runs),
        "runs": runs,
        "agreement": agree,
    }


def ratios(result: dict) -> dict:
    """The issue's ratios for one task, with its targets."""
    runs, main = result["runs"], result["task"] in MAIN_TASKS
    out = {}
    pairs = {
        "(c)/(a)": ("glu-prune/bfloat16", "hf/float32", 3.0 if main else 1.7),
        "(c)/(b)": ("glu-prune/bfloat16", "hf/bfloat16", 1.6 if main else None),
        "auto/(a)": ("glu-prune/auto", "hf/float32", 3.0 if main else 1.7),
    }
    for name, (num, den, target) in pairs.items():
        if num in runs and den in runs:
            value = runs[num]["documents_per_s"] / runs[den]["documents_per_s"]
            out[name] = {"value": value, "target": target, "met": None if target is None else value >= target}
    for variant in ("glu-prune/bfloat16", "glu-prune/auto"):
        if "of_raw_limit" in runs.get(variant, {}):
            value = runs[variant]["of_raw_limit"]
            out[f"{variant} of raw"] = {"value": value, "target": 0.7, "met": value >= 0.7}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--limit", type=int, default=40, help="documents per task (default: %(default)s)")
    ap.add_argument("--generate-limit", type=int, default=3, help="ifeval prompts (default: %(default)s)")
    ap.add_argument(
        "--gen-tokens", type=int, default=128, help="new tokens per prompt at most (default: %(default)s)"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", help="also write the results here as JSON")
    args = ap.parse_args()

    import torch

    from glu_prune.models import ModelSpec, load_model
    from glu_prune.provenance import hardware_label, provenance
    from glu_prune.tasks import prepare_offline_env

    torch.set_num_threads(args.threads)
    prepare_offline_env()
    variants = args.variants.split(",")
    auto = ModelSpec("default", dtype="auto")
    dtypes = {v.split("/")[1] for v in variants} - {"auto"}
    models = {d: load_model(ModelSpec("default", dtype=d)) for d in sorted(dtypes | {auto.dtype})}
    models["auto"] = models[auto.dtype]
    print(f"{hardware_label()}, torch threads {torch.get_num_threads()}")
    print(f"auto dtype: {auto.dtype} ({auto.dtype_reason})")
    results = []
    for i, task in enumerate(args.tasks.split(",")):
        results.append(measure_task(task, i, variants, models, args))
        results[-1]["ratios"] = ratios(results[-1])
        for name, r in results[-1]["ratios"].items():
            verdict = "" if r["met"] is None else ("  meets" if r["met"] else f"  MISSES {r['target']}")
            print(f"  {task:<15} {name:<24} {r['value']:.2f}{verdict}")
    if args.out:
        from glu_prune.store import atomic_write_json

        settings = {k: getattr(args, k) for k in ("limit", "generate_limit", "gen_tokens", "threads")}
        atomic_write_json(
            args.out,
            {
                "settings": settings,
                "auto_dtype": [auto.dtype, auto.dtype_reason],
                "tasks": results,
                "provenance": provenance(),
            },
        )


if __name__ == "__main__":
    main()
