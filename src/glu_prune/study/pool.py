"""Worker processes for the study's evaluation jobs: `lanes` at a time, one torch thread each (on a
small CPU machine two single-thread processes get more done than one process with two threads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ..errors import UserError
from .jobs import job_report, worker_job


def run_pool(jobs: list[dict], lanes: int, plan_path: Path, run_dir: Path, console) -> list[str]:
    """Run jobs in `lanes` processes at a time, in list order; a job waits for its `after` jobs.
    Returns the names of the jobs that failed or could not start (their work is retried next run).
    Each job's end goes to `console` (finished), with the damaged checkpoints its worker set aside."""
    if lanes < 1:
        raise UserError(f"lanes must be at least 1, got {lanes}")
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    queue, running, finished, failed = list(jobs), {}, set(), []
    while queue or running:
        ready = [j for j in queue if set(j.get("after", ())) <= finished | set(failed)]
        while ready and len(running) < lanes:
            job = ready.pop(0)
            queue.remove(job)
            job, note = _prepared(job, failed)
            if note is not None or not job["configs"]:
                (finished.add(job["name"]) if note is None else failed.append(job["name"]))
                console.finished(job["name"], note is None, note or "")
                continue
            running[job["name"]] = (_start(job, plan_path, run_dir), time.time())
            console.started(job["name"])
        time.sleep(1)
        for name, (proc, started) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[name]
            ok = proc.returncode == 0
            (finished.add if ok else failed.append)(name)
            note = (
                f"exit {proc.returncode} after {time.time() - started:.0f} s; see {run_dir}/logs/{name}.log"
            )
            console.finished(name, ok, note)
            for path in _report(run_dir, name).get("damaged", []):
                console.damaged_file(name, f"damaged checkpoint set aside, its work redone: {path}")
    return failed


def _prepared(job: dict, failed: list[str]) -> tuple[dict, str | None]:
    """(the job to run, None) or (job, why it cannot run)."""
    if set(job.get("after", ())) & set(failed):
        return job, f"needs {', '.join(sorted(set(job['after']) & set(failed)))}, which failed"
    if callable(job.get("prepare")):
        try:
            return job["prepare"](job), None
        except UserError as exc:
            return job, str(exc)
    return job, None


def _start(job: dict, plan_path: Path, run_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    job_report(run_dir, job["name"]).unlink(missing_ok=True)  # a report is this run's, never a stale one
    cmd = [
        sys.executable,
        "-m",
        "glu_prune.study.worker",
        "--plan",
        str(plan_path),
        "--run-dir",
        str(run_dir),
    ]
    cmd += ["--job", json.dumps(worker_job(job))]
    with open(run_dir / "logs" / f"{job['name']}.log", "a") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=out)


def _report(run_dir: Path, name: str) -> dict:
    """What the worker wrote about its job ({} when it wrote nothing, e.g. killed)."""
    try:
        return json.loads(job_report(run_dir, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
