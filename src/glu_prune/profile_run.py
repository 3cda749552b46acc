"""Profiling runs: the plan of measurements, their order and their checkpoints (records: profile_results).

One checkpoint per measurement (model level x workload x batch size x repeat), identified by
every setting that changes it, written atomically: a run killed at any moment loses at most the
measurement in flight, and a changed setting never reuses a stale number.

Order (pitfall 4): `interleaved` keeps every level in memory and visits them in a fresh random
order in each repeat, so drift over time (temperature, other load) spreads over all levels;
`shuffled` (when all levels do not fit in memory) loads one level at a time in a random order.
The order actually used is recorded with every measurement.
"""

from __future__ import annotations

import gc
import os
import random
import secrets
import socket
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import UserError
from .profile_results import KIND, consolidate_profiles, group_identity, record_keys
from .workloads import BENCHMARKS_CARBON, MODES, check_workloads, sample_prompts

PROFILER_VERSION = 1
ORDERS = ("auto", "interleaved", "shuffled")
INTERLEAVE_MEMORY_FRACTION = 0.5  # interleave when all levels take at most this share of memory


@dataclass(frozen=True)
class ProfileConfig:
    """What to measure and how. Validated as a whole before any model loads."""

    levels: tuple[float, ...] = (0.0, 40.0)
    method: str = "maw"
    divisor: int | None = None
    prune_seed: int = 0  # random method only
    workloads: tuple[str, ...] = tuple(BENCHMARKS_CARBON)
    batch_sizes: tuple[int, ...] = tuple(MODES.values())
    batches: int = 2  # batches per measurement (different prompts)
    new_tokens: int = 32  # exactly this many per row, EOS or not
    repeats: int = 3
    warmup: int = 1  # untimed runs before each measurement
    seed: int = 0  # prompt sampling and run order
    energy: str = "auto"
    idle_seconds: float = 5.0
    country: str = "USA"  # grid intensity for codecarbon's emissions (energy does not depend on it)
    order: str = "auto"
    threads: int | None = None  # torch intra-op threads on the CPU (None: torch's default)
    # filled in: prompts drawn per workload; no identity, since a batch size's prompts are a prefix
    # of the same seeded order whatever it is (workloads.sample_prompts)
    max_prompts: int = field(default=0, compare=False)

    def __post_init__(self):
        from .energy import METERS

        problems = []
        if not self.levels or len(set(self.levels)) != len(self.levels):
            problems.append("--levels must list distinct pruning levels")
        if any(not 0 <= lv < 100 for lv in self.levels):
            problems.append("--levels must be in [0, 100)")
        try:
            check_workloads(self.workloads)
        except UserError as exc:
            problems.append(str(exc))
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            problems.append("--batch-size values must be positive")
        for name, value, low in (("--batches", self.batches, 1), ("--new-tokens", self.new_tokens, 2),
                                 ("--repeats", self.repeats, 1), ("--warmup", self.warmup, 0)):  # fmt: skip
            if not isinstance(value, int) or value < low:
                problems.append(f"{name} must be an integer >= {low}")
        if self.energy not in ("auto", *METERS):
            problems.append(f"--energy must be one of auto, {', '.join(METERS)}")
        if self.energy != "none" and not self.idle_seconds > 0:
            problems.append("--idle-seconds must be positive")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            problems.append("--threads must be a positive integer")
        if self.order not in ORDERS:
            problems.append(f"--order must be one of {', '.join(ORDERS)}")
        try:
            self.prune_config(50.0)
        except UserError as exc:
            problems.append(str(exc))
        if problems:
            raise UserError("; ".join(problems))
        object.__setattr__(self, "max_prompts", max(self.batch_sizes) * self.batches)

    def prune_config(self, level: float):
        from .pruning import PruneConfig

        if level == 0:
            return None
        return PruneConfig(method=self.method, pct=float(level), divisor=self.divisor, seed=self.prune_seed)

    def series(self) -> dict:
        """The pruning settings shared by every level of this run (level 0 is measured per series)."""
        settings = self.prune_config(50.0).settings()
        settings.pop("pct")
        settings.pop("expansion_ratio")
        return settings


def _shuffled(items, key: str) -> list:
    items = list(items)
    random.Random(key).shuffle(items)  # str seeds are hashed deterministically (not PYTHONHASHSEED)
    return items


def resolve_order(order: str, spec, model_config, levels, divisor, device: str) -> tuple[str, dict]:
    """The order mode to use, and the memory estimate that decided it."""
    import psutil
    import torch

    from .architecture import architecture_table

    per_param = torch.empty(0, dtype=getattr(torch, spec.dtype)).element_size()
    table = architecture_table(spec.model, model_config, [lv for lv in levels], divisor)
    need = sum(r["total_parameters"] for r in table) * per_param
    if device.startswith("cuda"):
        capacity = torch.cuda.get_device_properties(torch.device(device)).total_memory
    else:
        capacity = psutil.virtual_memory().total
    fits = need <= INTERLEAVE_MEMORY_FRACTION * capacity
    chosen = ("interleaved" if fits else "shuffled") if order == "auto" else order
    return chosen, {"all_levels_bytes": need, "memory_capacity_bytes": capacity, "requested": order}


# ----------------------------------------------------------------------------- the run


def run_carbon_profiling(spec, config: ProfileConfig, out, progress: bool = False) -> list[dict]:
    """Measure every (level, workload, batch size) `config.repeats` times; return their records.

    Finished measurements under `out` are reused; the consolidated CSV/JSON are rewritten at the
    end (`consolidate_profiles`), with exactly this call's records. Failed measurements are
    recorded as failed and reported in the records' `status`; they are retried by the next run.

    A pruned model dir (`glu-prune prune --out`, with pruning.json) is measured as saved: levels
    must be (0,), and its records carry the level of its pruning.json.
    """
    from tqdm.auto import tqdm

    from .energy import account, calibrate_idle_power, make_meter, reading_dict
    from .models import canonical_name, load_config, pruned_dir_record, resolve_device
    from .provenance import RESULT_PACKAGES, hardware_label, package_versions, provenance
    from .pruning import glu_config, target_width
    from .store import CheckpointStore, atomic_write_json

    saved = pruned_dir_record(spec.model)
    if saved is not None and any(config.levels):
        raise UserError(f"{spec.model} is already pruned ({saved.get('method')} {saved.get('pruning_pct')} %, "
                        "it has pruning.json): profile it with --levels 0, or the original model with --levels")  # fmt: skip
    model_config = load_config(spec.model, spec.trust_remote_code)
    for level in config.levels:  # every width is checked before anything loads
        if level:
            target_width(model_config, config.prune_config(level))
    device = resolve_device(spec.device)
    order_mode, memory_plan = resolve_order(config.order, spec, model_config, config.levels, config.divisor, device)
    meter = make_meter(config.energy, device, config.country)
    out = Path(out)
    store = CheckpointStore(out / "checkpoints")
    name = canonical_name(spec.model)
    base = {
        "kind": KIND, "profiler_version": PROFILER_VERSION, "model": name,
        "random_weights": spec.random_weights, "model_seed": spec.seed if spec.random_weights else None,
        "dtype": spec.dtype, "device": device, "hardware": hardware_label(), "threads": config.threads or _threads(),
        "series": config.series() if not saved else {"method": saved.get("method"), "divisor": saved.get("divisor")},
        **({"pruned_dir": {k: v for k, v in saved.items() if k != "source_dir"}} if saved else {}),
        "new_tokens": config.new_tokens, "batches": config.batches,
        "repeats": config.repeats, "warmup": config.warmup, "seed": config.seed, "order": order_mode,
        "energy": meter.name, "idle_seconds": config.idle_seconds if meter.name != "none" else None,
        "country": config.country if meter.name == "codecarbon" else None,
        "versions": package_versions((*RESULT_PACKAGES, "codecarbon", "nvidia-ml-py")),
    }  # fmt: skip
    units = [(w, b) for w in config.workloads for b in config.batch_sizes]

    def identity(level, workload, batch_size, repeat):
        return {**base, "level": float(level), "workload": workload, "batch_size": batch_size, "repeat": repeat}

    def label(level, workload, batch_size, repeat):
        return f"{name}-L{level:g}-{workload}-b{batch_size}-r{repeat}"

    # (workload, batch size, batches, seed) in the identity pick the prompts (a prefix-stable sample);
    # a checkpoint measured on other prompts (an earlier sampler) is measured again
    prompt_ids = {(w, b): [p.id for p in sample_prompts(w, b * config.batches, config.seed)] for w, b in units}
    stale: list[str] = []

    def finished(key) -> bool:
        done = store.load(identity(*key), label(*key))
        if done is not None and done["result"].get("prompt_ids") != prompt_ids[key[1:3]]:
            stale.append(label(*key))
            return False
        return done is not None

    pending = {
        (float(lv), w, b, r)
        for lv in config.levels for (w, b) in units for r in range(config.repeats) if not finished((float(lv), w, b, r))
    }  # fmt: skip
    if stale:
        warnings.warn(f"{len(stale)} checkpoints were measured on other prompts than these settings now draw "
                      f"(an earlier prompt sampler); measuring them again: {', '.join(stale[:3])}", stacklevel=2)  # fmt: skip
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    run_file = out / "runs" / f"{run_id}.json"
    run_record = {
        "run_id": run_id, "status": "running", "spec": asdict(spec), "config": asdict(config),
        "identity_base": base, "memory_plan": memory_plan, "measurements_planned": len(config.levels) * len(units) * config.repeats,
        "measurements_pending": len(pending), "loadavg_before": os.getloadavg(), "started_at": time.time(),
        "provenance": provenance(),
    }  # fmt: skip
    atomic_write_json(run_file, run_record)

    state: dict = {"prompts": None, "failed": [], "done": [], "stopped_by": None}
    bar = tqdm(total=len(pending), desc=f"profile {name}", disable=not progress, leave=False)

    def load(level):
        from .pruning import load_pruned
        from .profiling import eos_ids, model_cost

        model, tokenizer, record = load_pruned(spec, config.prune_config(level), progress=False)
        if state["prompts"] is None:
            state["prompts"] = _prepare_prompts(spec, tokenizer, glu_config(model.config).vocab_size, config)
        eos = eos_ids(model, tokenizer)
        return {"model": model, "record": record, "cost": model_cost(model), "eos": eos}

    def measure_one(held, level, workload, batch_size, repeat, idle, order_info):
        from .profiling import clock_for, decode_flops_per_token, measure, memory_for, prefill_flops, summarise

        model = held["model"]
        dev = next(model.parameters()).device
        clock, memory = clock_for(dev), memory_for(dev)
        prompts = state["prompts"]
        batches = prompts["batches"][(workload, batch_size)]
        loadavg_start = os.getloadavg()
        started = time.time()
        raw = measure(model, batches, config.new_tokens, clock, memory, meter, held["eos"], config.warmup)
        reading = raw.pop("reading")
        metrics = summarise(raw, config.new_tokens)
        energy = account(reading, raw["work_s"], metrics["generated_tokens"], idle, meter.name == "codecarbon",
                         computed_tokens=metrics["computed_tokens"])
        cost = held["cost"]
        width = sum(ids.shape[1] for ids, _ in batches) / len(batches)
        working = metrics["working_memory_bytes"]
        return {
            **metrics,
            "peak_memory_bytes": cost["param_bytes"] + working if working is not None else None,
            "model_bytes": cost["param_bytes"],
            **energy,
            "decode_flops_per_token": decode_flops_per_token(cost, width + config.new_tokens / 2),
            "prefill_flops": sum(prefill_flops(cost, ids.shape[1], ids.shape[0]) for ids, _ in batches),
            "cost": cost, "prune_record": held["record"], "raw": raw, "energy_reading": reading_dict(reading),
            "timer": clock.source, "memory_source": memory.source, "mode": _mode(batch_size),
            "tokenizer": prompts["tokenizer"], "chat_template": prompts["chat_template"],
            "prompt_ids": prompts["ids"][(workload, batch_size)], "order": order_info, "run_id": run_id,
            "started_at": started, "loadavg_start": loadavg_start, "loadavg_end": os.getloadavg(),
        }  # fmt: skip

    def do(held, level, workload, batch_size, repeat, idle, order_info):
        key = (float(level), workload, batch_size, repeat)
        if key not in pending:
            return
        ident, lab = identity(*key), label(*key)
        try:
            result = measure_one(held, level, workload, batch_size, repeat, idle, order_info)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded as failed, reported, retried next run
            store.save(ident, {"error": f"{type(exc).__name__}: {exc}", "run_id": run_id}, lab, status="failed")
            state["failed"].append(lab)
        else:
            store.save(ident, result, lab)
            state["done"].append(lab)
        bar.update(1)

    def visit(held, lv, r, info):
        """One level's measurements of one repeat, in a shuffled unit order, after an idle reading."""
        todo = [(w, b) for w, b in _shuffled(units, f"units:{config.seed}:{r}:{lv}") if (lv, w, b, r) in pending]
        idle = calibrate_idle_power(meter, config.idle_seconds) if todo and meter.name != "none" else None
        for w, b in todo:
            do(held, lv, w, b, r, idle, info)

    threads_at_start = _threads()
    try:
        _set_threads(base["threads"])
        levels = [float(lv) for lv in config.levels]
        if order_mode == "interleaved":
            held = {lv: load(lv) for lv in levels if any(k[0] == lv for k in pending)}
            for r in range(config.repeats):
                order = _shuffled(levels, f"levels:{config.seed}:{r}")
                for pos, lv in enumerate(order):
                    visit(held.get(lv), lv, r, {"mode": "interleaved", "levels_in_order": order, "position": pos})
        else:
            order = _shuffled(levels, f"levels:{config.seed}")
            for pos, lv in enumerate(order):
                if not any(k[0] == lv for k in pending):
                    continue
                held_one = load(lv)
                for r in range(config.repeats):
                    visit(held_one, lv, r, {"mode": "shuffled", "levels_in_order": order, "position": pos})
                del held_one
                _free(device)
    except BaseException as exc:
        state["stopped_by"] = type(exc).__name__ + (f" ({exc})" if str(exc) else "")
        raise
    finally:
        bar.close()
        meter.close()
        _set_threads(threads_at_start)
        attempted = set(state["done"]) | set(state["failed"])
        missing = sorted(label(*k) for k in pending if label(*k) not in attempted)
        run_record.update(
            status=_run_status(len(pending), state["done"], state["failed"], missing, state["stopped_by"]),
            measurements_done=len(state["done"]), measurements_failed=len(state["failed"]),
            measurements_not_run=len(missing), failed=state["failed"], not_run=missing,
            loadavg_after=os.getloadavg(), finished_at=time.time(),
        )  # fmt: skip
        atomic_write_json(run_file, run_record)
    mine = [{"identity": group_identity(identity(lv, w, b, 0))} for lv in config.levels for (w, b) in units]
    return consolidate_profiles(out, select=record_keys(mine))


def _run_status(pending: int, done: list, failed: list, missing: list, stopped_by: str | None) -> str:
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
    head = f"interrupted by {stopped_by}" if stopped_by else ("incomplete" if missing else "finished with failures")
    return f"{head}: {'; '.join(parts)}"


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def _mode(batch_size: int) -> str:
    from .workloads import mode_name

    return mode_name(batch_size)


def _free(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def _prepare_prompts(spec, tokenizer, vocab_size: int, config: ProfileConfig) -> dict:
    """Token batches per (workload, batch size): the first batch_size x batches seeded prompts."""
    from .workloads import encode, left_pad, pad_id, prompt_tokenizer

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
