"""Every notebook runs headless (papermill) on the embedded model with tiny settings.

The 02 and 03 notebooks run first; the 04 notebooks then draw their figures from what those wrote.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EVAL = {"LEVELS": [0, 40], "LIMIT": 2, "BATCH_SIZE": 4, "FIDELITY_WINDOWS": 2}
PROFILE = {"LEVELS": [0, 40], "WORKLOADS": ["hellaswag"], "BATCH_SIZES": [1], "NEW_TOKENS": 4, "REPEATS": 1}

pytestmark = pytest.mark.slow


def execute(name: str, tmp: Path, **parameters) -> Path:
    import papermill

    out = tmp / f"{name}.out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(out),
        parameters=parameters,
        cwd=str(NOTEBOOKS),
        kernel_name="python3",
        progress_bar=False,
        log_output=False,
    )
    return out


def test_every_notebook_is_tested():
    tested = {"00_Expansion_Rate", "00_Neuron_Selection_Method_Comparison", *STUDY, *GRAPHICS}
    assert {p.stem for p in NOTEBOOKS.glob("*.ipynb")} == tested


def test_notebooks_have_a_tagged_parameters_cell_and_no_outputs():
    import nbformat

    for path in NOTEBOOKS.glob("*.ipynb"):
        book = nbformat.read(path, as_version=4)
        tagged = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        assert all(
            not c.get("outputs") and not c.get("execution_count") for c in book.cells if c.cell_type == "code"
        )
        setup = book.cells[1].source
        assert "PROJECT_REF" in setup and "main" not in setup.split("PROJECT_REF")[1].split("\n")[0]


def test_expansion_rate(tmp_path):
    execute("00_Expansion_Rate", tmp_path, MODELS=["llama-3.2-1b", "default"], OUT_DIR=str(tmp_path / "arch"))
    assert (tmp_path / "arch" / "expansion_rates_summary.csv").read_text().count("\n") == 1 + 2 * 2 * 7


def test_method_comparison(tmp_path):
    out = tmp_path / "cmp"
    execute(
        "00_Neuron_Selection_Method_Comparison",
        tmp_path,
        METHODS=["maw", "random"],
        LEVELS=[40],
        TASKS=["piqa"],
        LIMIT=2,
        FIDELITY_WINDOWS=2,
        OUT_DIR=str(out),
    )
    assert (out / "results.csv").is_file()
    fidelity = pd.read_csv(out / "fidelity_results.csv")  # 7 metrics per pruned config
    assert sorted(set(fidelity["method"])) == ["maw", "random"] and len(fidelity) == 14
    assert ((fidelity["metric"] == "top1_agreement") <= fidelity["value"].between(0, 1)).all()


STUDY = {
    "02_Evaluate_1B": dict(EVAL, TASKS=["wikipedia_ppl"]),
    "02_Evaluate_1B_Instruct": dict(EVAL, TASKS=["lambada_openai"]),
    "02_Evaluate_3B": dict(EVAL, TASKS=["lambada_openai"]),
    "02_Evaluate_3B_Instruct": dict(EVAL, TASKS=["winogrande"]),
    "03_Evaluate_1B_CARBON": PROFILE,
    "03_Evaluate_3B_CARBON": PROFILE,
}
GRAPHICS = {
    "04_1B_Graphics": "02_Evaluate_1B",
    "04_1B_Graphics_Carbon": "03_Evaluate_1B_CARBON",
    "04_3B_Graphics": "02_Evaluate_3B",
    "04_3B_Graphics_Carbon": "03_Evaluate_3B_CARBON",
}


@pytest.fixture(scope="module")
def study_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("notebooks")
    for name, params in STUDY.items():
        execute(name, tmp, **params, OUT_DIR=str(tmp / name))
    return tmp


@pytest.mark.parametrize("name", list(STUDY))
def test_study_notebooks(study_runs, name):
    out = study_runs / name
    csvs = list(out.glob("*results.csv"))
    assert csvs, f"{name} wrote no results CSV"
    if name.startswith("02"):
        fidelity = pd.read_csv(out / "fidelity_results.csv")
        assert (
            set(fidelity["pruning_pct"]) == {40.0}
            and len(fidelity) == 7
            and (fidelity["n_samples"] == 2 * 511).all()
        )


@pytest.mark.parametrize("name", list(GRAPHICS))
def test_graphics_notebooks(study_runs, tmp_path, name):
    figures = tmp_path / "figures"
    execute(name, tmp_path, RESULTS_DIR=str(study_runs / GRAPHICS[name]), OUT_DIR=str(figures))
    pngs = list(figures.glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
