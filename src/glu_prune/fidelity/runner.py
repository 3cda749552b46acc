"""Checkpointed fidelity runs: one checkpoint per (model, pruning config, text, settings).

The unpruned model runs once per run (its final hidden states kept for every window); each pending
pruned configuration is then loaded, compared on the same windows and checkpointed, so a killed run
resumes with the configurations it had not finished.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import UserError
from ..models import ModelSpec, load_config, pruned_dir_record, weights_source
from ..provenance import provenance
from ..prune import PruneConfig, check_prunable, load_pruned
from ..store import CheckpointStore, identity_key
from .identity import fidelity_identity
from .measure import compare, reference
from .records import KIND, checkpoint_problem, fidelity_record
from .settings import DEFAULT_FIDELITY, FidelitySettings, FidelityStatus, chunk_positions
from .text import Text, load_text, make_windows, start_token


def validate(spec: ModelSpec, configs: Sequence[PruneConfig]) -> None:
    """Everything that can be checked before loading weights."""
    if pruned_dir_record(spec.model) is not None:
        raise UserError(
            f"{spec.model} is already pruned; fidelity compares a model with its own pruned copies"
        )
    if not configs:
        raise UserError("no pruned configuration to compare with the unpruned model")
    keys = [identity_key(c.settings()) for c in configs]
    if len(set(keys)) != len(keys):
        raise UserError(f"a pruning configuration is listed twice: {', '.join(c.label for c in configs)}")
    config = load_config(spec.model, spec.trust_remote_code)
    for cfg in configs:
        check_prunable(config, cfg)
    if not spec.random_weights:
        weights_source(spec)


def run_fidelity(
    spec: ModelSpec,
    configs: Sequence[PruneConfig | None],
    text: str | Path | Text | None,
    out_dir: str | Path,
    settings: FidelitySettings = DEFAULT_FIDELITY,
    progress: bool = True,
) -> FidelityStatus:
    """KL, top-1 agreement and perplexities of `spec` pruned by each config against `spec` unpruned,
    on `text` (None: the Wikipedia paragraphs; a path: a UTF-8 file); checkpointed in out_dir.
    None in `configs` (the unpruned model) is the reference, not a row.

    Raises:
        UserError: before any model loads: a bad text, config or model.
    """
    configs = [c for c in configs if c is not None]
    text = text if isinstance(text, Text) else load_text(text)
    validate(spec, configs)
    store = CheckpointStore(Path(out_dir) / "checkpoints", KIND, checkpoint_problem)
    status = FidelityStatus()
    todo = []
    for cfg in configs:
        identity = fidelity_identity(spec, cfg, text, settings)
        record = store.load(identity, checkpoint_label(cfg))
        if record is None:
            todo.append((cfg, identity))
        else:
            status.records.append(record["result"])
            status.done.append({"config": cfg.label, "reused": True})
    if todo:
        _measure(spec, todo, text, store, settings, status, progress)
    status.damaged = [str(p) for p in store.damaged]
    return status


def checkpoint_label(cfg: PruneConfig) -> str:
    """The name its fidelity checkpoint's file starts with (restore.py names it the same way)."""
    return f"fidelity-{cfg.label}"


def _bar(total: int, desc: str, progress: bool):
    if not progress:
        return None, lambda n: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="window")
    return bar, bar.update


def _measure(spec, todo, text: Text, store, settings: FidelitySettings, status, progress) -> None:
    """Reference windows from the unpruned model, then each pending config against them."""
    model, tokenizer, _ = load_pruned(spec, None, progress=progress)
    if tokenizer is None:
        raise UserError(f"{spec.model} has no tokenizer available here; fidelity needs one")
    windows = make_windows(tokenizer, text, settings.window, settings.max_windows)
    start = start_token(tokenizer)
    bar, tick = _bar(len(windows), "unpruned", progress)
    ref = reference(model, windows, settings.batch_size, tick)
    bar and bar.close()
    del model
    gc.collect()
    prov = provenance()
    for cfg, identity in todo:
        started = time.time()
        try:
            pruned, _, pruning = load_pruned(spec, cfg, progress=progress)
            bar, tick = _bar(len(windows), cfg.label, progress)
            chunk = chunk_positions(settings, pruned.get_output_embeddings().weight.shape[0])
            measured = compare(pruned, ref, settings.batch_size, chunk, tick)
            bar and bar.close()
        except Exception as exc:  # recorded, reported, retried by the next run
            error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            store.save(identity, None, checkpoint_label(cfg), status="failed", error=error)
            status.failed.append({"config": cfg.label, "error": error})
            continue
        finally:
            pruned = None
            gc.collect()
        timing = {"seconds": time.time() - started, "started_at": started}
        result = fidelity_record(identity, pruning, text, measured, windows, start, settings, timing, prov)
        store.save(identity, result, checkpoint_label(cfg))
        status.records.append(result)
        status.done.append({"config": cfg.label, "reused": False})
