"""`glu-prune compare-models`: two models' consolidated evaluations at the ratios and percentages they
share (the committed study's files), and its one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from glu_prune.cli import main
from glu_prune.evaluate.across_models import FILES

RESULTS = Path(__file__).parents[2] / "results"


def test_the_committed_study_gives_its_own_table(capsys, tmp_path):
    assert main(["compare-models", "--results", str(RESULTS / "full-study"), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "305 rows from 4 files (gemma-3-270m, smollm2-135m-instruct)" in out
    for line in (
        "lambada_openai acc data: gemma-3-270m 50 % vs smollm2-135m-instruct 40 % (ratios 1.60 vs 1.60, "
        "same ratio)",
        "lambada_openai acc data: gemma-3-270m 40 % vs smollm2-135m-instruct 40 % (ratios 1.92 vs 1.60, "
        "same percentage)",
    ):
        assert line in out
    mine = pd.read_csv(tmp_path / FILES[0])
    committed = pd.read_csv(RESULTS / "full-study" / FILES[0])
    same = ["checkpoint_a", "checkpoint_b", "metric", "share_a", "share_b", "difference", "difference_ci_low"]
    pd.testing.assert_frame_equal(mine[same], committed[same])
    assert (tmp_path / FILES[1]).is_file()


@pytest.mark.parametrize(
    "args, match",
    [
        (["--results", "/nonexistent"], "is not a directory"),
        (["--results", str(RESULTS / "default-study")], r"hold 1 model\(s\) \(smollm2-135m-instruct\)"),
        (["--results", str(RESULTS / "full-study"), "--tolerance", "-1"], "tolerance must be in"),
    ],
)
def test_bad_compare_models_input(capsys, args, match):
    assert main(["compare-models", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(match, err)
