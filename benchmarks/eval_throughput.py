"""Evaluation throughput on the embedded model, and the time of the full offline suite.

    .venv/bin/python benchmarks/eval_throughput.py [--task hellaswag --limit 16] [--batch-sizes 1,8,auto]
        [--threads 1] [--no-suite | --suite-from runs/offline-study] [--out FILE.json]

1. Throughput: one offline loglikelihood task through lm-eval's HFLM at each batch size, no request
   cache. The clock covers only the model's scoring of the requests (HFLM._loglikelihood_tokens),
   not task building, nor (for "auto") lm-eval's batch-size probe, which is timed apart.
   Reported: requests/s, request tokens/s (context + continuation, as lm-eval truncates them) and
   model-input tokens/s (what the forward passes saw, padding included).
2. The full offline suite on the unpruned model at the limits committed in
   results/offline_study.json, each task timed by the evaluation runner itself (fresh run dir), or
   read from the study's own run dir (--suite-from), where the runner recorded each task's time.

Timings on a shared machine move with its load: the 1-minute load average is printed and saved
before and after each measurement, with the hardware and torch's thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "results" / "offline_study.json"


def load1() -> float:
    return os.getloadavg()[0]


def throughput(model, tokenizer, task: str, limit: int, batch_size) -> dict:
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    from glu_prune.tasks import task_manager

    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, max_batch_size=16)
    counts = {
        "requests": 0,
        "request_tokens": 0,
        "model_tokens": 0,
        "forward_passes": 0,
        "seconds": 0.0,
        "probe_seconds": 0.0,
    }
    score, forward, detect = lm._loglikelihood_tokens, lm._model_call, lm._detect_batch_size
    probing = [False]

    def timed_score(requests, *a, **k):
        counts["requests"] += len(requests)
        counts["request_tokens"] += sum(min(len(c) + len(t), lm.max_length + 1) - 1 for _, c, t in requests)
        start = time.perf_counter()
        out = score(requests, *a, **k)
        counts["seconds"] += time.perf_counter() - start
        return out

    def counted_forward(inps, *a, **k):
        if not probing[0]:
            counts["forward_passes"] += 1
            counts["model_tokens"] += inps.numel()
        return forward(inps, *a, **k)

    def timed_probe(*a, **k):  # "auto": lm-eval's batch-size probe, timed apart and not scored
        probing[0], start = True, time.perf_counter()
        try:
            return detect(*a, **k)
        finally:
            probing[0] = False
            counts["probe_seconds"] += time.perf_counter() - start

    lm._loglikelihood_tokens, lm._model_call, lm._detect_batch_size = (
        timed_score,
        counted_forward,
        timed_probe,
    )
    load_before = load1()
    lm_eval.simple_evaluate(
        model=lm,
        tasks=[task],
        limit=limit,
        bootstrap_iters=0,
        log_samples=False,
        task_manager=task_manager(True),
    )
    s = counts["seconds"] - counts["probe_seconds"]  # scoring only
    return {
        "task": task,
        "limit": limit,
        "batch_size": batch_size,
        "batch_sizes_used": list(lm.batch_sizes.values()),
        **counts,
        "requests_per_s": counts["requests"] / s,
        "request_tokens_per_s": counts["request_tokens"] / s,
        "model_tokens_per_s": counts["model_tokens"] / s,
        "load1_before": load_before,
        "load1_after": load1(),
    }


def suite_time_from(run_dir: Path) -> dict:
    """The unpruned model's per-task times as the study's runner measured them (no rerun)."""
    from glu_prune.store import CheckpointStore

    study = json.loads(STUDY.read_text())
    found = {}
    for rec in CheckpointStore(run_dir / "checkpoints").records():
        i = rec["identity"]
        t = study["tasks"].get(i.get("task"))
        if rec.get("status") == "done" and i.get("prune") is None and t and i["limit"] == t["limit"]:
            found[i["task"]] = rec["result"]
    missing = sorted(set(study["tasks"]) - set(found))
    if missing:
        raise SystemExit(f"{run_dir}: no unpruned result at the study limits for {', '.join(missing)}")
    per_task = []
    for name, r in found.items():
        n = next(m["n_samples"] for m in r["metrics"] if m["subtask"] == name)
        per_task.append({"task": name, "limit": r["limit"], "documents": n, **r["run"]})
        print(
            f"  {name:<16} {n:>5} docs  {r['run']['seconds']:8.1f} s  "
            f"(load1 {r['run']['load1_before']:.1f} -> {r['run']['load1_after']:.1f})",
            file=sys.stderr,
        )
    return {"source": str(run_dir), "tasks": per_task, "total_seconds": sum(t["seconds"] for t in per_task)}


def suite_time() -> dict:
    from glu_prune.evaluate import EvalSettings, TaskSpec, run_robust_evaluation
    from glu_prune.models import ModelSpec

    study = json.loads(STUDY.read_text())
    per_task = []
    load_before, start = load1(), time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        for name, t in study["tasks"].items():
            task = TaskSpec(name, t["num_fewshot"])
            status = run_robust_evaluation(
                ModelSpec(study["model"]),
                [None],
                [task],
                out,
                EvalSettings(offline=True, limit=t["limit"]),
                False,
            )
            if status.failed:
                raise SystemExit(f"{name} failed: {status.failed}")
            rec = status.records[0]
            n = next(m["n_samples"] for m in rec["metrics"] if m["subtask"] == name)
            per_task.append(
                {"task": name, "limit": t["limit"], "documents": n, "seconds": rec["run"]["seconds"]}
            )
            print(f"  {name:<16} {n:>5} docs  {rec['run']['seconds']:8.1f} s", file=sys.stderr)
    return {
        "tasks": per_task,
        "total_seconds": time.perf_counter() - start,
        "load1_before": load_before,
        "load1_after": load1(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--task", default="hellaswag", help="an offline loglikelihood task (default: %(default)s)"
    )
    ap.add_argument("--limit", type=int, default=16, help="documents (default: %(default)s)")
    ap.add_argument("--batch-sizes", default="1,8,auto")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    ap.add_argument("--no-suite", action="store_true", help="skip the full-suite timing")
    ap.add_argument(
        "--suite-from", type=Path, help="read the suite's task times from this study run dir instead"
    )
    ap.add_argument("--out", help="also write the results here as JSON")
    args = ap.parse_args()

    import torch

    from glu_prune.models import ModelSpec, load_model
    from glu_prune.provenance import hardware, hardware_label, provenance
    from glu_prune.tasks import prepare_offline_env

    if args.threads:
        torch.set_num_threads(args.threads)
    prepare_offline_env()
    model, tokenizer = load_model(ModelSpec("default"))
    print(f"{hardware_label()}, torch threads {torch.get_num_threads()}, load1 {load1():.2f}")
    rows = []
    for b in args.batch_sizes.split(","):
        r = throughput(model, tokenizer, args.task, args.limit, b if b == "auto" else int(b))
        rows.append(r)
        print(
            f"batch {str(r['batch_size']):>4} (used {r['batch_sizes_used'] or r['batch_size']}): "
            f"{r['requests_per_s']:6.2f} requests/s, {r['request_tokens_per_s']:7.0f} request tokens/s, "
            f"{r['model_tokens_per_s']:7.0f} model-input tokens/s  ({r['requests']} requests, "
            f"{r['seconds'] - r['probe_seconds']:.1f} s"
            + (f" + {r['probe_seconds']:.1f} s batch-size probe" if r["probe_seconds"] else "")
            + f", load1 {r['load1_before']:.2f} -> {r['load1_after']:.2f})"
        )
    result = {"hardware": hardware(), "torch_threads": torch.get_num_threads(), "throughput": rows}
    if not args.no_suite:
        print(f"full offline suite, unpruned, limits from {STUDY.relative_to(ROOT)}:")
        suite = suite_time_from(args.suite_from) if args.suite_from else suite_time()
        result["suite"] = suite
        print(f"full offline suite: {suite['total_seconds']:.0f} s (sum of the tasks' wall times)")
    if args.out:
        from glu_prune.store import atomic_write_json

        atomic_write_json(args.out, {**result, "provenance": provenance()})


if __name__ == "__main__":
    main()
