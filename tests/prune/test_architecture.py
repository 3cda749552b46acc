"""Architecture tables: exact Llama-3.2 counts from configs alone, and agreement with real pruning."""

from __future__ import annotations

import pytest
from tiny import tiny_config, tiny_model

from glu_prune.models import load_config
from glu_prune.prune import PruneConfig, prune
from glu_prune.prune.architecture import architecture_table, largest_pow2_divisor

# The published counts (../shared/reference/anchor-results.md): level -> (width, 1B, 3B)
ANCHOR = {
    0: (8192, 1_235_814_400, 3_212_749_824),
    10: (7373, 1_155_303_424, 3_001_408_512),
    20: (6554, 1_074_792_448, 2_790_067_200),
    30: (5735, 994_281_472, 2_578_725_888),
    40: (4916, 913_770_496, 2_367_384_576),
    50: (4096, 833_161_216, 2_155_785_216),
    60: (3277, 752_650_240, 1_944_443_904),
}


@pytest.mark.parametrize(
    "name,column",
    [("llama-3.2-1b", 1), ("llama-3.2-3b", 2), ("llama-3.2-1b-instruct", 1), ("llama-3.2-3b-instruct", 2)],
)
def test_llama_counts_match_the_published_table(name, column):
    table = architecture_table(name, load_config(name))
    assert [r["pruning_pct"] for r in table] == list(ANCHOR)
    for r in table:
        assert r["intermediate_size"] == ANCHOR[r["pruning_pct"]][0]
        assert r["total_parameters"] == ANCHOR[r["pruning_pct"]][column]


def test_llama_1b_ratios_and_divisor():
    table = {r["pruning_pct"]: r for r in architecture_table("llama-3.2-1b", load_config("llama-3.2-1b"))}
    assert table[40]["expansion_ratio"] == pytest.approx(2.4, abs=1e-3)
    assert table[0]["expansion_ratio"] == 4.0 and table[0]["divisible_by"] == 256
    assert table[10]["divisible_by"] == 1 and table[40]["divisible_by"] == 4
    rounded = architecture_table("llama-3.2-1b", load_config("llama-3.2-1b"), levels=(10, 60), divisor=128)
    assert [r["intermediate_size"] for r in rounded] == [7296, 3200]
    assert all(r["divisible_by"] >= 128 for r in rounded)


def test_embedded_counts():
    table = architecture_table("smollm2-135m-instruct", load_config("default"), levels=(0, 40))
    assert table[0]["total_parameters"] == 134_515_008
    assert table[1]["intermediate_size"] == 922
    assert table[1]["total_parameters"] == 134_515_008 - 30 * 614 * 3 * 576


def test_gemma_3_270m_counts_from_its_shipped_config():
    """268,098,176 parameters; each removed neuron takes 3 x 640 x 18 = 34,560 with it."""
    table = architecture_table("gemma-3-270m", load_config("gemma-3-270m"), levels=(0, 10, 40, 60))
    assert [r["intermediate_size"] for r in table] == [2048, 1844, 1229, 820]
    assert table[0]["total_parameters"] == 268_098_176 and table[0]["expansion_ratio"] == 3.2
    for r in table:
        assert r["total_parameters"] == 268_098_176 - (2048 - r["intermediate_size"]) * 34_560
        assert r["num_layers"] == 18 and r["hidden_size"] == 640
    rounded = architecture_table("gemma-3-270m", load_config("gemma-3-270m"), levels=(10, 40), divisor=128)
    assert [r["intermediate_size"] for r in rounded] == [1792, 1152]  # 1844, 1229 rounded down to 128s
    assert rounded[1]["total_parameters"] == 237_132_416


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "mistral", "gemma", "gemma3_text"])
@pytest.mark.parametrize("divisor", [None, 32])
def test_table_equals_counting_a_really_pruned_model(model_type, divisor):
    table = architecture_table(model_type, tiny_config(model_type), levels=(25, 50), divisor=divisor)
    for row in table:
        model = tiny_model(model_type)
        record = prune(
            model, PruneConfig("maw", pct=row["pruning_pct"], divisor=divisor), progress=False
        ).to_dict()
        assert record["intermediate_size"] == row["intermediate_size"]
        assert record["parameters_after"] == row["total_parameters"]


def test_mlp_bias_is_counted():
    table = architecture_table("llama", tiny_config("llama", mlp_bias=True), levels=(0, 50))
    model = tiny_model("llama", mlp_bias=True)
    assert (
        prune(model, PruneConfig("maw", pct=50), progress=False).parameters_after
        == table[1]["total_parameters"]
    )


@pytest.mark.parametrize(
    "n,expected", [(8192, 256), (7373, 1), (4916, 4), (896, 128), (3200, 128), (1536, 256)]
)
def test_largest_pow2_divisor(n, expected):
    assert largest_pow2_divisor(n) == expected
