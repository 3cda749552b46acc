"""Profiling runs: open the run (session.py), measure in the scheduled order, finish the run record.

One checkpoint per measurement (model level x workload x batch size x repeat), identified by every
setting that changes it, written atomically: a run killed at any moment loses at most the
measurement in flight, and a changed setting never reuses a stale number. Failed measurements
are recorded as failed and retried by the next run; the run record says what happened, in one line.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ..errors import UserError
from ..models import glu_config
from ..prune import load_pruned
from .clocks import clock_for, memory_for
from .config import ProfileConfig
from .cost import decode_bytes_per_step, decode_flops_per_token, model_cost, prefill_flops
from .energy import account, calibrate_idle_power, reading_dict
from .generate import eos_ids
from .measure import measure, summarise
from .records import consolidate_profiles, group_identity, record_keys
from .schedule import Measurement, Visit, schedule
from .session import ProfileRun, Tally, finish_run, open_run
from .workloads import encode, left_pad, mode_name, pad_id, prompt_tokenizer, sample_prompts


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
    raw = measure(
        held.model,
        batches,
        config.new_tokens,
        clock,
        memory,
        run.meter,
        held.eos,
        config.warmup,
        decode=config.decode,
    )
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
        "decode_bytes_per_step": decode_bytes_per_step(held.cost, m.batch_size),
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
    pt = prompt_tokenizer(spec.model, tokenizer, spec.random_weights, vocab_size, config.prompt_tokenizer)
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
