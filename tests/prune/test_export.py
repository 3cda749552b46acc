"""A killed `prune` strands no hidden copy of the model: its partial output dir is removed by the
next save into the same folder (SIGKILL, real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glu_prune.prune.export import PARTIAL

GLU_PRUNE = str(Path(sys.executable).with_name("glu-prune"))


@pytest.mark.slow
def test_a_prune_killed_while_saving_leaves_nothing_after_the_next_run(tmp_path, embedded_dir):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [GLU_PRUNE, "prune", "--model", "default", "--pct", "40", "--out"]
    proc = subprocess.Popen([*cmd, str(tmp_path / "first")], stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob(f".first{PARTIAL}*/model*.safetensors")):
        assert proc.poll() is None and time.monotonic() < deadline, "no partial weights appeared"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)  # while the weights are being written
    proc.wait()
    [partial] = [p for p in tmp_path.iterdir() if PARTIAL in p.name]
    assert not (tmp_path / "first").exists()
    assert sum(f.stat().st_size for f in partial.iterdir()) > 0  # stranded weights
    again = subprocess.run([*cmd, str(tmp_path / "second")], capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"removed {partial}, the partial output of a prune that was killed" in again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["second"]
