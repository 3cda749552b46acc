"""Models evaluated apart, compared where their levels meet: the consolidated lm-eval evaluations
found in folders (each model's `*_complete.json` with its per-document files, e.g. the 1B and the 3B
notebooks' output) through evaluate/across_models.py, with each task's chance level. What
`glu-prune compare-models` and the 04 notebooks run; a study of several models does the same on
its own files."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError
from ..evaluate.across_models import RATIO_TOLERANCE, write_across_models
from .metrics import CHANCE


def evaluation_completes(dirs) -> tuple[list[Path], set[str]]:
    """(the complete JSONs of consolidated lm-eval runs under `dirs`, not fidelity, profiles or
    a comparison's own output; the models they hold)."""
    found, models = [], set()
    for d in dirs:
        for path in sorted(Path(d).rglob("*complete.json")):
            try:
                runs = json.loads(path.read_text(encoding="utf-8")).get("runs")
            except (ValueError, OSError, AttributeError):
                raise UserError(f"{path} is not a readable complete JSON") from None
            kinds = {(r.get("identity") or {}).get("kind") for r in runs or [] if isinstance(r, dict)}
            if kinds == {"lm-eval"}:
                found.append(path)
                models |= {r["model"] for r in runs}
    return found, models


def compare_models(dirs, out_dir=None, tolerance: float = RATIO_TOLERANCE) -> tuple:
    """The models evaluated under `dirs` at the expansion ratios (within `tolerance`) and the
    percentages they share, written as across_models.FILES in `out_dir` (default: the first of
    `dirs`). -> (DataFrame, complete dict). Raises UserError for a folder that does not exist, a
    tolerance outside [0, 1), or fewer than two models."""
    dirs = [Path(d).expanduser() for d in ([dirs] if isinstance(dirs, (str, Path)) else dirs)]
    for d in dirs:
        if not d.is_dir():
            raise UserError(f"{d} is not a directory")
    if not 0 <= tolerance < 1:
        raise UserError(f"the ratio tolerance must be in [0, 1), got {tolerance}")
    completes, models = evaluation_completes(dirs)
    if len(models) < 2:
        raise UserError(
            f"the consolidated evaluations under {', '.join(map(str, dirs))} hold "
            f"{len(models)} model(s) ({', '.join(sorted(models)) or 'none'}): nothing to compare"
        )
    out = Path(out_dir).expanduser() if out_dir is not None else dirs[0]
    out.mkdir(parents=True, exist_ok=True)
    return write_across_models(completes, out, chance=CHANCE, tolerance=tolerance)
