"""The study's design as data: which models, which pruning levels, which method and suite.

`EXPERIMENT_CONFIG` mirrors the original study (Llama-3.2 in Colab, bf16 on a GPU); the study plans
in studies/*.json size the same design to run offline on the embedded model.
"""

LEVELS = (0, 10, 20, 30, 40, 50, 60)
INSTRUCT_LEVELS = (0, 10, 40, 60)

EXPERIMENT_CONFIG = {
    "method": "maw",
    "dtype": "bfloat16",
    "models": {
        "llama-3.2-1b": {"suite": "base", "levels": LEVELS},
        "llama-3.2-3b": {"suite": "base", "levels": LEVELS},
        "llama-3.2-1b-instruct": {"suite": "instruct", "levels": INSTRUCT_LEVELS},
        "llama-3.2-3b-instruct": {"suite": "instruct", "levels": INSTRUCT_LEVELS},
    },
}
