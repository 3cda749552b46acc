"""Every notebook runs headless (papermill) on the embedded model with tiny settings, and what it
produced is checked: rows, levels, methods, metric values within range, figure files by name.

The 02 and 03 notebooks run first, with their levels left to their defaults (utils.EXPERIMENT_CONFIG);
the 04 notebooks then draw their figures from what those wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from glu_prune.models.precision import auto_dtype
from glu_prune.study import EXPERIMENT_CONFIG

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
MODEL = "smollm2-135m-instruct"
OFFLINE = EXPERIMENT_CONFIG["offline"]
EVAL = {"LIMIT": 2, "BATCH_SIZE": 4, "FIDELITY_WINDOWS": 2}
PROFILE = {"WORKLOADS": ["hellaswag"], "BATCH_SIZES": [1], "NEW_TOKENS": 4, "REPEATS": 1}

RANGES = {  # metric -> (low, high) a real score of the embedded model, pruned or not, must lie in
    "acc": (0, 1),
    "acc_norm": (0, 1),
    "perplexity": (1, 1e9),  # LAMBADA: target-word perplexity, millions at 40 % on 2 passages
    "word_perplexity": (1, 1e6),
    "byte_perplexity": (1, 20),
    "bits_per_byte": (0, 4.4),
}

pytestmark = pytest.mark.slow


def execute(name: str, tmp: Path, **parameters) -> dict:
    """Run a notebook; return the executed notebook (JSON)."""
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
    return json.loads(out.read_text())


def printed(book: dict) -> str:
    return "".join(
        "".join(o.get("text", ""))
        for c in book["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
    )


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
        if path.stem in STUDY or path.stem.startswith("00_"):  # defaults come from the study's design
            assert "utils.EXPERIMENT_CONFIG" in tagged[0].source, path.name


def test_expansion_rate(tmp_path):
    execute("00_Expansion_Rate", tmp_path, MODELS=["llama-3.2-1b", "default"], OUT_DIR=str(tmp_path / "arch"))
    table = pd.read_csv(tmp_path / "arch" / "expansion_rates_summary.csv")
    levels = list(EXPERIMENT_CONFIG["levels"])
    assert len(table) == 2 * 2 * len(levels) and set(table["pruning_pct"]) == set(levels)
    assert set(table["model"]) == {"llama-3.2-1b", MODEL}
    assert set(table["divisor"].fillna(0)) == {0, EXPERIMENT_CONFIG["divisor"]}
    unpruned = table[table.pruning_pct == 0].groupby("model")["expansion_ratio"].first()
    assert unpruned["llama-3.2-1b"] == 4.0 and unpruned[MODEL] == pytest.approx(1536 / 576)
    rounded = table[table.divisor == 128]
    assert (rounded["intermediate_size"] % 128 == 0).all()
    for _, series in table.groupby(["model", "divisor"], dropna=False):
        assert series.sort_values("pruning_pct")["expansion_ratio"].is_monotonic_decreasing


def test_method_comparison(tmp_path):
    out = tmp_path / "cmp"
    book = execute(
        "00_Neuron_Selection_Method_Comparison",
        tmp_path,
        METHODS=["maw", "random"],
        LEVELS=[40],
        TASKS=["wikipedia_ppl"],
        LIMIT=2,
        FIDELITY_WINDOWS=2,
        OUT_DIR=str(out),
    )
    table = pd.read_csv(out / "results.csv")
    assert set(table["method"]) == {"none", "maw", "random"} and set(table["pruning_pct"]) == {0, 40}
    assert set(table["task"]) == {"wikipedia_ppl"} and (table["n_samples"] == 2).all()
    assert set(table["metric"]) == {"word_perplexity", "byte_perplexity", "bits_per_byte"} and len(table) == 9
    for metric, (low, high) in RANGES.items():
        assert table.loc[table.metric == metric, "value"].between(low, high).all(), metric
    ppl = table[table.metric == "word_perplexity"].set_index("method")["value"]
    assert ppl["none"] < ppl["maw"] and ppl["none"] < ppl["random"]  # pruning 40 % costs perplexity
    assert "3 done" in printed(book)
    assert (out / "figures" / f"method_comparison_{MODEL}_offline.png").is_file()
    contrast = pd.read_csv(out / "contrasts.csv")  # random against MAW at 40 %, same 2 paragraphs
    assert set(contrast["method"]) == {"random"} and (contrast["reference_method"] == "maw").all()
    assert len(contrast) == 3 and (contrast["n_paired"] == 2).all()
    maw = table[table["method"] == "maw"].set_index("metric")["value"]
    assert contrast["reference_value"].to_numpy() == pytest.approx(contrast["metric"].map(maw).to_numpy())
    fidelity = pd.read_csv(out / "fidelity_results.csv")  # 7 metrics per pruned config
    assert sorted(set(fidelity["method"])) == ["maw", "random"] and len(fidelity) == 14
    assert fidelity.loc[fidelity.metric == "top1_agreement", "value"].between(0, 1).all()
    assert (fidelity.loc[fidelity.metric == "kl_mean", "value"] > 0).all()
    assert (out / "figures" / f"fidelity_vs_expansion_{MODEL}_wikipedia_ppl.png").is_file()


GEMMA = "gemma-3-270m"  # the 3B notebook's stand-in, so that 04 can compare two models
STUDY = {
    "02_Evaluate_1B": dict(EVAL, TASKS=["wikipedia_ppl"]),
    "02_Evaluate_1B_Instruct": dict(EVAL, TASKS=["lambada_openai"]),
    "02_Evaluate_3B": dict(EVAL, TASKS=["wikipedia_ppl"], MODEL=GEMMA),
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


@pytest.mark.parametrize("name", [n for n in STUDY if n.startswith("02_")])
def test_evaluation_notebooks(study_runs, name):
    table = pd.read_csv(study_runs / name / "results.csv")
    assert set(table["pruning_pct"]) == set(OFFLINE["levels"]) and set(table["method"]) == {"none", "maw"}
    assert set(table["task"]) == set(STUDY[name]["TASKS"]) and (table["limit"] == 2).all()
    model = STUDY[name].get("MODEL", MODEL)
    assert (table["n_samples"] == 2).all() and (table["model"] == model).all()
    widths = {GEMMA: {2048, 1229}}.get(model, {1536, 922})  # unpruned, and 40 % removed
    assert set(table["intermediate_size"]) == widths
    for metric, (low, high) in RANGES.items():
        assert table.loc[table.metric == metric, "value"].between(low, high).all(), metric
    assert table["metric"].isin(list(RANGES)).any()
    pruned = table[table["method"] == "maw"]
    assert (pruned["n_paired"] == 2).all() and pruned["p_value"].between(0, 1).all()  # paired columns
    fidelity = pd.read_csv(study_runs / name / "fidelity_results.csv")  # 7 metrics at the pruned level
    assert (
        set(fidelity["pruning_pct"]) == {40.0}
        and len(fidelity) == 7
        and (fidelity["n_samples"] == 2 * 511).all()
    )


@pytest.mark.parametrize("name", [n for n in STUDY if n.startswith("03_")])
def test_profile_notebooks(study_runs, name):
    (csv,) = (study_runs / name).glob("*_profile_results.csv")
    table = pd.read_csv(csv).sort_values("pruning_pct")
    assert list(table["pruning_pct"]) == list(OFFLINE["levels"]) and (table["status"] == "complete").all()
    assert set(table["workload"]) == {"hellaswag"} and set(table["batch_size"]) == {1}
    assert (table["new_tokens"] == 4).all() and (table["repeats"] == 1).all()
    assert list(table["intermediate_size"]) == [1536, 922]
    assert (
        table["tpot_ms"].gt(0).all()
        and table["ttft_ms"].gt(0).all()
        and table["peak_memory_bytes"].gt(0).all()
    )
    assert table["ideal_speedup"].tolist()[0] == 1.0 and 1.1 < table["ideal_speedup"].tolist()[1] < 1.5
    assert table["measured_speedup"].gt(0).all()


@pytest.mark.parametrize("name", list(GRAPHICS))
def test_graphics_notebooks(study_runs, tmp_path, name):
    figures = tmp_path / "figures"
    execute(name, tmp_path, RESULTS_DIR=str(study_runs / GRAPHICS[name]), OUT_DIR=str(figures))
    pngs = sorted(p.name for p in figures.glob("*.png"))
    assert all((figures / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    model = STUDY[GRAPHICS[name]].get("MODEL", MODEL)
    if "Carbon" in name:
        (png,) = pngs
        dtype = auto_dtype("cpu")[0]  # the notebook profiles in the dtype auto picks on this CPU
        assert png.startswith(f"performance_{MODEL}_{dtype}_") and png.endswith("_maw.png")
    else:
        required, allowed = _capability_figures(model)
        assert required <= set(pngs) <= allowed


def _capability_figures(model) -> tuple[set[str], set[str]]:
    """(the figures a 02 notebook's results always give, those they may give)."""
    fidelity = f"fidelity_vs_expansion_{model}_wikipedia_ppl.png"  # the 02 notebook's fidelity cell
    required = {fidelity, f"capability_vs_expansion_{model}_offline.png"}
    return required, required | {f"capability_groups_{model}_offline.png"}


def test_graphics_compare_two_models(study_runs, tmp_path):
    """The 3B notebook's results (Gemma here) against the 1B notebook's (SmolLM2): both pruned 40 %
    with MAW on the same two Wikipedia paragraphs, so they meet at the percentage (ratios 1.92 and
    1.60), and the figures show both models."""
    figures = tmp_path / "figures"
    book = execute(
        "04_3B_Graphics",
        tmp_path,
        RESULTS_DIR=str(study_runs / "02_Evaluate_3B"),
        COMPARE_WITH=str(study_runs / "02_Evaluate_1B"),
        OUT_DIR=str(figures),
    )
    compared = pd.read_csv(figures / "models_compared.csv")
    assert set(compared["metric"]) == {"word_perplexity", "byte_perplexity", "bits_per_byte"}
    assert (compared["matched_on"] == "pruning_pct").all() and (compared["n_paired"] == 2).all()
    assert (compared["model_a"] == GEMMA).all() and (compared["model_b"] == MODEL).all()
    assert compared["share_a"].between(0, 1).all() and compared["share_b"].between(0, 1).all()
    pngs = {p.name for p in figures.glob("*.png")}
    models = {"models_vs_expansion_offline.png", "models_equal_pct_offline.png"}
    (required_a, allowed_a), (required_b, allowed_b) = _capability_figures(GEMMA), _capability_figures(MODEL)
    assert models | required_a | required_b <= pngs <= models | allowed_a | allowed_b
    assert "not drawn: models at equal ratios (offline)" in printed(book)
