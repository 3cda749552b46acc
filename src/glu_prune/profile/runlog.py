"""Run logs: one JSON record per profiling invocation under `<out>/runs/`, "running" until the run
ends and then rewritten with what happened, in one line (`session.run_status`).

A SIGKILL leaves a log that says "running" for a process that no longer exists: the next run in
the same folder marks it abandoned. A log that is not a run record (torn, not JSON, not an
object) is set aside into `runs/damaged/` and reported; it never blocks a run or a consolidation.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..store import atomic_write_json, set_aside, shape_problem, writer_alive

RUNS = "runs"
RUN_SHAPE = {"run_id": str, "status": str, "started_at": (int, float)}
ABANDONED = "abandoned: its process ended without finishing this record (killed, or its machine went down)"


def read_runs(directory: Path) -> list[dict]:
    """The run records under `directory/runs`, damaged ones set aside (with a warning)."""
    return [record for _, record in _run_logs(directory)]


def mark_abandoned(directory: Path) -> list[str]:
    """Rewrite every "running" log whose process is gone as abandoned; -> their run ids."""
    marked = []
    for path, run in _run_logs(directory):
        if run["status"] == "running" and not _writer_alive(run):
            atomic_write_json(path, {**run, "status": ABANDONED, "abandoned_noticed_at": time.time()})
            marked.append(run["run_id"])
    return marked


def _run_logs(directory: Path):
    """(path, record) of every readable run log; the others are set aside."""
    for path in sorted((Path(directory) / RUNS).glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            problem = shape_problem(record, RUN_SHAPE, "record")
        except (OSError, ValueError) as exc:
            record, problem = None, str(exc) or type(exc).__name__
        if problem is None:
            yield path, record
        else:
            set_aside(path, "run log", problem)


def _writer_alive(run: dict) -> bool:
    host, pid = run.get("host"), run.get("pid")
    if not isinstance(host, str) or not isinstance(pid, int):  # an earlier log: "<time>-<host>-<pid>-<hex>"
        stamped_host, pid, _ = (run["run_id"].rsplit("-", 2) + ["", ""])[:3]
        host = stamped_host.partition("-")[2]
        if not pid.isdigit():
            return True  # no way to tell: left as it is
        pid = int(pid)
    return writer_alive(host, pid, run["started_at"])
