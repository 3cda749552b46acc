"""Profiling runs: plan the measurements, measure them in the scheduled order, record the run.

One checkpoint per measurement (model level x workload x batch size x repeat), identified by every
setting that changes it, written atomically: a run killed at any moment loses at most the
measurement in flight, and a changed setting never reuses a stale number. Failed measurements
are recorded as failed and retried by the next run; the run record says what happened, in one line.
"""

from __future__ import annotations

import gc
import os
import secrets
import socket
import time
import warnings
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from ..errors import UserError
from ..models import ModelSpec, canonical_name, check_model, glu_config, pruned_dir_record, resolve_device
from ..provenance import RESULT_PACKAGES, hardware_label, package_versions, provenance
from ..prune import load_pruned
from ..store import CheckpointStore, atomic_write_json, check_writable
from .clocks import clock_for, memory_for
from .config import ProfileConfig, resolve_order
from .cost import decode_flops_per_token, model_cost, prefill_flops
from .energy import account, calibrate_idle_power, make_meter, reading_dict
from .generate import eos_ids
from .measure import measure, summarise
from .records import KIND, consolidate_profiles, group_identity, measurement_problem, record_keys
from .runlog import RUNS, mark_abandoned, run_status
from .schedule import Measurement, Visit, schedule
from .workloads import encode, left_pad, mode_name, pad_id, prompt_tokenizer, sample_prompts

PROFILER_VERSION = 1


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


@dataclass
class Loaded:
    """A model held in memory for measuring, with what every measurement of it needs."""

    model: object
    record: dict
    cost: dict
    eos: set


def run_carbon_profiling(spec, config: ProfileConfig, out, progress: bool = False) -> list[dict]:
    """Measure every (level, workload, batch size) `config.repeats` times; return their records.

    Finished measurements under `out` are reused; the consolidated CSV/JSON are rewritten at the
    end (`consolidate_profiles`), with exactly this call's records. A pruned model dir (`glu-prune
    prune --out`, with pruning.json) is measured as saved: levels must be (0,), and its records carry
    the level of its pruning.json.
    """
    from tqdm.auto import tqdm

    run = open_run(spec, config, Path(out))
    visits = schedule(config.levels, run.units, config.repeats, config.seed, run.base["order"], run.pending)
    tally = Tally()
    bar = tqdm(total=len(run.pending), desc=f"profile {run.name}", disable=not progress, leave=False)
    try:
        _execute(run, visits, tally, bar.update)
    except BaseException as exc:
        tally.stopped_by = type(exc).__name__ + (f" ({exc})" if str(exc) else "")
        raise
    finally:
        bar.close()
        run.meter.close()
        finish_run(run, tally)
    mine = [
        {"identity": group_identity(run.identity(Measurement(lv, w, b, 0)))}
        for lv in config.levels
        for (w, b) in run.units
    ]
    return consolidate_profiles(out, select=record_keys(mine))


# ----------------------------------------------------------------------------- planning


def _check(spec: ModelSpec, config: ProfileConfig):
    """Everything checked before a model loads. -> (pruning.json of a pruned dir or None, model config)."""
    saved = pruned_dir_record(spec.model)
    if saved is not None and any(config.levels):
        raise UserError(
            f"{spec.model} is already pruned ({saved.get('method')} {saved.get('pruning_pct')} %, "
            "it has pruning.json): profile it with --levels 0, or the original model with --levels"
        )
    model_config = check_model(spec)
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
        "new_tokens": config.new_tokens,
        "batches": config.batches,
        "repeats": config.repeats,
        "warmup": config.warmup,
        "seed": config.seed,
        "order": order_mode,
        "energy": meter.name,
        "idle_seconds": config.idle_seconds if meter.name != "none" else None,
        "country": config.country if meter.name == "codecarbon" else None,
        "versions": package_versions((*RESULT_PACKAGES, "codecarbon", "nvidia-ml-py")),
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
    run.store.check_writable()
    check_writable(run.run_file.parent, f"run log folder {run.run_file.parent}")
    run.pending = _pending(run)
    mark_abandoned(out)
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


# ----------------------------------------------------------------------------- measuring


def _execute(run: ProfileRun, visits: list[Visit], tally: Tally, advance) -> None:
    """Measure the visits in order. Interleaved runs hold every level; shuffled runs one at a time."""
    held: dict[float, Loaded] = {}
    prompts: dict = {}
    threads_at_start = _threads()
    _set_threads(run.base["threads"])
    try:
        if run.base["order"] == "interleaved":
            for level in dict.fromkeys(v.level for v in visits):
                held[level] = _load(run, level, prompts)
        for visit in visits:
            if visit.level not in held:
                held.clear()
                _free(run.device)
                held[visit.level] = _load(run, visit.level, prompts)
            idle = (
                calibrate_idle_power(run.meter, run.config.idle_seconds) if run.meter.name != "none" else None
            )
            for m in visit.measurements:
                result = partial(_measure_one, run, held[m.level], prompts, m, idle, visit.order)
                _record(run, tally, m, result)
                advance(1)
    finally:
        _set_threads(threads_at_start)


def _load(run: ProfileRun, level: float, prompts: dict) -> Loaded:
    """Load (and prune) one level; the prompts are tokenized once, with the first model's tokenizer."""
    model, tokenizer, record = load_pruned(run.spec, run.config.prune_config(level), progress=False)
    if not prompts:
        prompts.update(_prepare_prompts(run.spec, tokenizer, glu_config(model.config).vocab_size, run.config))
    return Loaded(model, record, model_cost(model), eos_ids(model, tokenizer))


def _record(run: ProfileRun, tally: Tally, m: Measurement, measure_it) -> None:
    """Measure, then checkpoint the result (or the failure, retried by the next run)."""
    ident, label = run.identity(m), run.label(m)
    try:
        result = measure_it()
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded as failed, reported, retried next run
        run.store.save(
            ident, {"error": f"{type(exc).__name__}: {exc}", "run_id": run.run_id}, label, status="failed"
        )
        tally.failed.append(label)
    else:
        run.store.save(ident, result, label)
        tally.done.append(label)


def _measure_one(run: ProfileRun, held: Loaded, prompts: dict, m: Measurement, idle, order: dict) -> dict:
    config = run.config
    dev = next(held.model.parameters()).device
    clock, memory = clock_for(dev), memory_for(dev)
    batches = prompts["batches"][(m.workload, m.batch_size)]
    loadavg_start, started = os.getloadavg(), time.time()
    raw = measure(held.model, batches, config.new_tokens, clock, memory, run.meter, held.eos, config.warmup)
    reading = raw.pop("reading")
    metrics = summarise(raw, config.new_tokens)
    energy = account(
        reading,
        raw["work_s"],
        metrics["generated_tokens"],
        idle,
        run.meter.name == "codecarbon",
        computed_tokens=metrics["computed_tokens"],
    )
    width = sum(ids.shape[1] for ids, _ in batches) / len(batches)
    working = metrics["working_memory_bytes"]
    return {
        **metrics,
        "peak_memory_bytes": held.cost["param_bytes"] + working if working is not None else None,
        "model_bytes": held.cost["param_bytes"],
        **energy,
        "decode_flops_per_token": decode_flops_per_token(held.cost, width + config.new_tokens / 2),
        "prefill_flops": sum(prefill_flops(held.cost, ids.shape[1], ids.shape[0]) for ids, _ in batches),
        "cost": held.cost,
        "prune_record": held.record,
        "raw": raw,
        "energy_reading": reading_dict(reading),
        "timer": clock.source,
        "memory_source": memory.source,
        "mode": mode_name(m.batch_size),
        "tokenizer": prompts["tokenizer"],
        "chat_template": prompts["chat_template"],
        "prompt_ids": prompts["ids"][(m.workload, m.batch_size)],
        "order": order,
        "run_id": run.run_id,
        "started_at": started,
        "loadavg_start": loadavg_start,
        "loadavg_end": os.getloadavg(),
    }


def _prepare_prompts(spec, tokenizer, vocab_size: int, config: ProfileConfig) -> dict:
    """Token batches per (workload, batch size): the first batch_size x batches seeded prompts."""
    pt = prompt_tokenizer(spec.model, tokenizer, spec.random_weights, vocab_size)
    pad = pad_id(pt.tokenizer)
    batches, ids = {}, {}
    for workload in config.workloads:
        prompts = sample_prompts(workload, config.max_prompts, config.seed)
        encoded = encode(prompts, pt)
        for b in config.batch_sizes:
            n = b * config.batches
            batches[(workload, b)] = [left_pad(encoded[i : i + b], pad) for i in range(0, n, b)]
            ids[(workload, b)] = [p.id for p in prompts[:n]]
    return {"batches": batches, "ids": ids, "tokenizer": pt.label, "chat_template": pt.chat_template}


# ----------------------------------------------------------------------------- finishing


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


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def _free(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
