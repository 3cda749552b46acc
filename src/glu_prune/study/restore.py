"""A part's run dir rebuilt from its consolidated results (evaluate/restore.py does the writing),
so a study continues on a machine that has the results but not the run dir they came from."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..evaluate.restore import read_complete, restore_checkpoint, restore_evaluations, tally
from ..fidelity.records import checkpoint_problem as fidelity_problem
from ..fidelity.runner import checkpoint_label
from ..prune import PruneConfig
from ..store import CheckpointStore
from .plan import ModelPlan


def restore_part(part: ModelPlan, results: Path, work: Path) -> dict:
    """Restore `part`'s evaluation and fidelity checkpoints from the complete JSONs in `results`
    into its folder `work` of the run dir. -> {"restored", "present", "skipped": [why, ...]}, each
    run counted once (the sweep and the comparison share some)."""
    out, seen = tally(), set()
    for view in dict.fromkeys((part.sweep_view, part.comparison_view)):
        restore_evaluations(results / f"{view}_complete.json", work / "evaluation" / "checkpoints", out, seen)
    complete = results / f"{part.name}_fidelity_complete.json"
    for run in read_complete(complete, out)[0]:
        try:
            label = checkpoint_label(PruneConfig.from_settings(run["identity"]["prune"]))
        except (KeyError, TypeError, AttributeError, UserError) as exc:
            out["skipped"].append(f"{complete.name}: {run.get('checkpoint')}: no pruning settings ({exc})")
            continue
        path = CheckpointStore(work / "fidelity" / "checkpoints").path(run["identity"], label)
        restore_checkpoint(run, path, fidelity_problem, complete, out)
    return out
