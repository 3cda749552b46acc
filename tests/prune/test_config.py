"""Pruning configs: level_configs is the one place levels become configs, so the study, the method
comparison, the profile, the CLI and the notebooks build the same configs (and share checkpoints)."""

from __future__ import annotations

import pytest

from glu_prune.cli import build_parser
from glu_prune.cli.evaluate import prune_configs
from glu_prune.errors import UserError
from glu_prune.evaluate import comparison_configs
from glu_prune.profile import ProfileConfig
from glu_prune.prune import PruneConfig, level_configs
from glu_prune.store import identity_key
from glu_prune.study.plan import shipped_plan


def test_level_configs():
    none, twenty, forty = level_configs(
        [0, 20, 40.0], "data", seed=3, calibration_samples=8, calibration_seq_len=64
    )
    assert none is None and (twenty.pct, forty.pct) == (20.0, 40.0) and isinstance(twenty.pct, float)
    assert forty == PruneConfig("data", pct=40, seed=3, calibration_samples=8, calibration_seq_len=64)
    # 40 and 40.0 are one experiment: one identity
    assert identity_key(PruneConfig("maw", pct=40).settings()) == identity_key(
        PruneConfig("maw", pct=40.0).settings()
    )


@pytest.mark.parametrize(
    "levels,method,match",
    [
        ("0,40", "maw", "must be a list of numbers"),
        ([0, True], "maw", "must be a list of numbers"),
        ([], "maw", "at least one"),
        ([40, 40], "maw", "listed twice"),
        ([0, 100], "maw", r"in \[0, 100\)"),
        ([0], "magic", "unknown method"),  # checked even when no level prunes
    ],
)
def test_bad_levels(levels, method, match):
    with pytest.raises(UserError, match=match):
        level_configs(levels, method)


def test_every_path_builds_the_same_configs():
    maw40, rnd40s0, rnd40s1 = (
        PruneConfig("maw", 40),
        PruneConfig("random", 40, seed=0),
        PruneConfig("random", 40, seed=1),
    )
    # the comparison: a seed only where the method uses one
    assert comparison_configs(["maw", "random"], [40], seeds=[0, 1]) == [None, maw40, rnd40s0, rnd40s1]
    # the profile
    assert ProfileConfig(levels=(0, 40)).prune_config(40) == maw40 and ProfileConfig().prune_config(0) is None
    # the CLI
    args = build_parser().parse_args(["evaluate", "--tasks", "piqa", "--out", "x", "--levels", "0,40"])
    assert prune_configs(args) == [None, maw40]
    # the study (levels are JSON integers there; its calibration options change no MAW identity)
    part = shipped_plan("quick").parts[0]
    assert part.config("maw", 40).settings() == maw40.settings() and part.config("maw", 0) is None
