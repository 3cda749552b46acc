"""Shared fixtures: the real embedded model and Gemma-3-270M (each dequantized once), tiny GLU models."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach for the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One intra-op thread, here and in every subprocess and notebook kernel the tests start: on a small
# machine shared with other work, spinning OpenMP threads slow these small models down ~10x.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config):
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session")
def embedded_dir():
    """The embedded SmolLM2-135M-Instruct as a safetensors dir (dequantized once, cached)."""
    from glu_prune.models import embedded_model_dir

    return embedded_model_dir()


@pytest.fixture
def embedded(embedded_dir):
    """A fresh (model, tokenizer) of the embedded model; tests may prune it in place."""
    from glu_prune.models import ModelSpec, load_model

    return load_model(ModelSpec("default"))


@pytest.fixture(scope="session")
def gemma_dir():
    """Gemma-3-270M (base) as a safetensors dir: assembled and dequantized once (~45 s), then cached."""
    from glu_prune.models import gguf_model_dir

    return gguf_model_dir("gemma-3-270m")


@pytest.fixture(scope="session")
def gemma(gemma_dir):
    """One loaded (model, tokenizer) of Gemma-3-270M for the whole session: READ ONLY (tests that
    prune work on a copy.deepcopy of the model)."""
    from glu_prune.models import ModelSpec, load_model

    return load_model(ModelSpec("gemma-3-270m"))


@pytest.fixture
def read_only():
    """make(path): a directory nothing can be written into, even by root (for whom permission bits
    do not bind: the folder is then marked immutable with chattr +i, undone after the test)."""
    import shutil
    import subprocess
    import tempfile

    immutable, locked = [], []

    def writable(path) -> bool:
        try:
            tempfile.TemporaryFile(dir=path).close()
            return True
        except OSError:
            return False

    def make(path):
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o555)
        locked.append(path)
        if writable(path):
            if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode:
                pytest.skip("no way to make a read-only folder on this machine")
            immutable.append(path)
        return path

    yield make
    for path in immutable:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    for path in locked:
        path.chmod(0o755)
