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


def run_pool(jobs: list[dict], lanes: int, plan_path: Path, run_dir: Path, log=print) -> list[str]:
    """Run jobs in `lanes` processes at a time, in list order; a job waits for its `after` jobs.
    Returns the names of the jobs that failed or could not start (their work is retried next run)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    queue, running, finished, failed = list(jobs), {}, set(), []
    while queue or running:
        ready = [j for j in queue if set(j.get("after", ())) <= finished | set(failed)]
        while ready and len(running) < lanes:
            job = ready.pop(0)
            queue.remove(job)
            if set(job.get("after", ())) & set(failed):
                failed.append(job["name"])
                continue
            if callable(job.get("prepare")):
                try:
                    job = job["prepare"](job)
                except UserError as exc:
                    log(f"  FAILED {job['name']}: {exc}")
                    failed.append(job["name"])
                    continue
            if not job["configs"]:
                finished.add(job["name"])
                continue
            spec = {k: job[k] for k in ("name", "configs", "tasks")}
            cmd = [
                sys.executable,
                "-m",
                "glu_prune.study.worker",
                "--plan",
                str(plan_path),
                "--run-dir",
                str(run_dir),
                "--job",
                json.dumps(spec),
            ]
            with open(logs / f"{job['name']}.log", "a") as out:
                running[job["name"]] = (subprocess.Popen(cmd, env=env, stdout=out, stderr=out), time.time())
            log(f"  start {job['name']}")
        time.sleep(1)
        for name, (proc, started) in list(running.items()):
            if proc.poll() is not None:
                del running[name]
                (finished.add if proc.returncode == 0 else failed.append)(name)
                log(
                    f"  {'done' if proc.returncode == 0 else 'FAILED'} {name} ({time.time() - started:.0f} s)"
                )
    return failed
