"""A profiling run's record: the fixed facts of one invocation (what is measured, under which
identity, into which store), opened before any model loads and finished with what happened.

Opening validates every level against the model's config, finds the measurements still to do
(finished checkpoints are reused; those measured on other prompts are redone), and writes the run
record as "running"; finishing rewrites it with a one-line status of what was done, failed or not run.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import UserError
from ..models import (
    ModelSpec,
    canonical_name,
    check_model,
    pruned_dir_record,
    resolve_device,
    weights_packages,
)
from ..provenance import RESULT_PACKAGES, hardware_label, package_versions, provenance
from ..store import CheckpointStore, atomic_write_json, check_writable
from .config import ProfileConfig, resolve_order
from .generate import static_decode_problem
from .meters import make_meter
from .records import KIND, measurement_problem
from .runlog import RUNS, mark_abandoned
from .schedule import Measurement
from .workloads import load_stand_in, sample_prompts

PROFILER_VERSION = 2  # 2: measurements carry the parameter bytes a decode step reads (ideal speed-up)


@dataclass
class ProfileRun:
    """The fixed facts of one invocation: what is measured, under which identity, into which store."""

    spec: ModelSpec
    config: ProfileConfig
    name: str
    device: str
    base: dict  # the identity shared by every measurement of this run
    units: list  # (workload, batch size)
    store: CheckpointStore
    meter: object
    run_id: str
    run_file: Path
    record: dict  # the run record, rewritten when the run ends
    pending: set = field(default_factory=set)

    def identity(self, m: Measurement) -> dict:
        return {
            **self.base,
            "level": float(m.level),
            "workload": m.workload,
            "batch_size": m.batch_size,
            "repeat": m.repeat,
        }

    def label(self, m: Measurement) -> str:
        return f"{self.name}-L{m.level:g}-{m.workload}-b{m.batch_size}-r{m.repeat}"


@dataclass
class Tally:
    """What happened to the pending measurements so far."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stopped_by: str | None = None


def _check(spec: ModelSpec, config: ProfileConfig):
    """Everything checked before a model loads. -> (pruning.json of a pruned dir or None, model config)."""
    saved = pruned_dir_record(spec.model)
    if saved is not None and any(config.levels):
        raise UserError(
            f"{spec.model} is already pruned ({saved.get('method')} {saved.get('pruning_pct')} %, "
            "it has pruning.json): profile it with --levels 0, or the original model with --levels"
        )
    model_config = check_model(spec, tokenizer=True)  # its files, weights, tokenizer: before any run log
    if config.prompt_tokenizer is not None:
        if not spec.random_weights:
            raise UserError("--prompt-tokenizer is for shape-only models (--random-weights), which have none")
        load_stand_in(config.prompt_tokenizer)  # a bad one is refused here, before any model loads
    if config.decode == "static" and (problem := static_decode_problem(model_config)):
        raise UserError(problem)
    for level in config.levels:  # every width is checked before anything loads
        if level:
            config.prune_config(level).target_width(model_config)
    return saved, model_config


def _identity_base(spec, config, name, device, order_mode, meter, saved) -> dict:
    import torch

    series = (
        config.series() if not saved else {"method": saved.get("method"), "divisor": saved.get("divisor")}
    )
    return {
        "kind": KIND,
        "profiler_version": PROFILER_VERSION,
        "model": name,
        "random_weights": spec.random_weights,
        "model_seed": spec.seed if spec.random_weights else None,
        "dtype": spec.dtype,
        "device": device,
        "hardware": hardware_label(),
        "threads": config.threads or torch.get_num_threads(),
        "series": series,
        **({"pruned_dir": {k: v for k, v in saved.items() if k != "source_dir"}} if saved else {}),
        # named only when not the default, so earlier checkpoints keep their identity
        **({"prompt_tokenizer": config.prompt_tokenizer} if config.prompt_tokenizer else {}),
        **({"decode": config.decode} if config.decode != "dynamic" else {}),
        "new_tokens": config.new_tokens,
        "batches": config.batches,
        "repeats": config.repeats,
        "warmup": config.warmup,
        "seed": config.seed,
        "order": order_mode,
        "energy": meter.name,
        "idle_seconds": config.idle_seconds if meter.name != "none" else None,
        "country": config.country if meter.name == "codecarbon" else None,
        "versions": package_versions(
            (*RESULT_PACKAGES, *weights_packages(spec.model), "codecarbon", "nvidia-ml-py")
        ),
    }


def open_run(spec: ModelSpec, config: ProfileConfig, out: Path) -> ProfileRun:
    """Validate, find what is still to measure, and write the run record ("running")."""
    saved, model_config = _check(spec, config)
    device = resolve_device(spec.device)
    order_mode, memory_plan = resolve_order(
        config.order, spec, model_config, config.levels, config.divisor, device
    )
    meter = make_meter(config.energy, device, config.country)
    name = canonical_name(spec.model)
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    run = ProfileRun(
        spec=spec,
        config=config,
        name=name,
        device=device,
        base=_identity_base(spec, config, name, device, order_mode, meter, saved),
        units=[(w, b) for w in config.workloads for b in config.batch_sizes],
        store=CheckpointStore(out / "checkpoints", KIND, measurement_problem),
        meter=meter,
        run_id=run_id,
        run_file=out / RUNS / f"{run_id}.json",
        record={},
    )
    run.store.check_writable()  # a read-only folder is refused here, before any model loads
    check_writable(run.run_file.parent, f"run log folder {run.run_file.parent}")
    run.pending = _pending(run)
    mark_abandoned(out)  # a killed run's log no longer says "running"
    run.record = {
        "run_id": run_id,
        "status": "running",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "spec": asdict(spec),
        "config": asdict(config),
        "identity_base": run.base,
        "memory_plan": memory_plan,
        "measurements_planned": len(config.levels) * len(run.units) * config.repeats,
        "measurements_pending": len(run.pending),
        "loadavg_before": os.getloadavg(),
        "started_at": time.time(),
        "provenance": provenance(),
    }
    atomic_write_json(run.run_file, run.record)
    return run


def _pending(run: ProfileRun) -> set[Measurement]:
    """Measurements without a finished checkpoint. (workload, batch size, batches, seed) in the
    identity pick the prompts (a prefix-stable sample); a checkpoint measured on other prompts (an
    earlier sampler) is measured again."""
    c = run.config
    prompt_ids = {(w, b): [p.id for p in sample_prompts(w, b * c.batches, c.seed)] for w, b in run.units}
    pending, stale = set(), []
    for lv in c.levels:
        for w, b in run.units:
            for r in range(c.repeats):
                m = Measurement(float(lv), w, b, r)
                done = run.store.load(run.identity(m), run.label(m))
                if done is not None and done["result"].get("prompt_ids") != prompt_ids[(w, b)]:
                    stale.append(run.label(m))
                    done = None
                if done is None:
                    pending.add(m)
    if stale:
        warnings.warn(
            f"{len(stale)} checkpoints were measured on other prompts than these settings now draw "
            f"(an earlier prompt sampler); measuring them again: {', '.join(stale[:3])}",
            stacklevel=3,
        )
    return pending


def finish_run(run: ProfileRun, tally: Tally) -> None:
    """Rewrite the run record with what actually happened."""
    attempted = set(tally.done) | set(tally.failed)
    missing = sorted(run.label(m) for m in run.pending if run.label(m) not in attempted)
    run.record.update(
        status=run_status(len(run.pending), tally.done, tally.failed, missing, tally.stopped_by),
        measurements_done=len(tally.done),
        measurements_failed=len(tally.failed),
        measurements_not_run=len(missing),
        failed=tally.failed,
        not_run=missing,
        loadavg_after=os.getloadavg(),
        finished_at=time.time(),
    )
    atomic_write_json(run.run_file, run.record)


def run_status(pending: int, done: list, failed: list, missing: list, stopped_by: str | None) -> str:
    """What the run did, in one line: 'finished' only when every pending measurement succeeded."""

    def some(labels):
        return ", ".join(labels[:3]) + (f" and {len(labels) - 3} more" if len(labels) > 3 else "")

    if not failed and not missing:
        return "finished" if not stopped_by else f"finished, then stopped by {stopped_by}"
    parts = [f"{len(done)} of {pending} pending measurements done"]
    if failed:
        parts.append(f"{len(failed)} failed ({some(failed)}; a rerun retries them)")
    if missing:
        parts.append(f"{len(missing)} not run ({some(missing)})")
    head = (
        f"interrupted by {stopped_by}"
        if stopped_by
        else ("incomplete" if missing else "finished with failures")
    )
    return f"{head}: {'; '.join(parts)}"
