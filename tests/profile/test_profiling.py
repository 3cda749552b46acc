"""Profiler: fixed-length generation, honest token counts, energy units, GPU paths with fakes,
resume after SIGKILL, and the recorded run order."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pandas as pd
import pytest
import torch
from tiny import tiny_model

from glu_prune.errors import UserError
from glu_prune.profile import (
    ProfileConfig,
    clocks,
    consolidate_profiles,
    energy,
    generate,
    measure,
    meters,
    run_carbon_profiling,
)
from glu_prune.profile.workloads import left_pad

GLU_PRUNE = str(Path(sys.executable).with_name("glu-prune"))


def greedy_reference(model, ids: list[int], n: int) -> list[int]:
    """Greedy decoding by full forward passes, no KV cache, no padding."""
    seq = list(ids)
    with torch.no_grad():
        for _ in range(n):
            seq.append(int(model(torch.tensor([seq])).logits[0, -1].argmax()))
    return seq[len(ids) :]


def quick(**settings) -> ProfileConfig:
    """A profile of one short batch, once, no energy meter: what most tests here need, `settings` apart."""
    return ProfileConfig(
        **{
            "workloads": ("ifeval",),
            "batch_sizes": (1,),
            "batches": 1,
            "new_tokens": 2,
            "repeats": 1,
            "warmup": 0,
            "energy": "none",
            **settings,
        }
    )


@pytest.fixture(scope="module")
def tiny():
    return tiny_model("llama", seed=1)


@pytest.fixture
def tiny_dir(tmp_path):
    """A shape-only model directory: a tiny Llama config whose vocab holds the stand-in tokenizer's ids."""
    from tiny import tiny_config

    path = tmp_path / "tiny-llama"
    tiny_config("llama", vocab_size=49152, hidden_size=128, intermediate_size=384).save_pretrained(path)
    return path


# ----------------------------------------------------------------------------- generation


def test_fixed_length_generation_matches_greedy_and_ignores_padding(tiny):
    prompts = [[5, 17, 42, 7, 99, 3], [8, 9]]
    ids, mask = left_pad(prompts, pad=0)
    gen = generate.generate_fixed(tiny, ids, mask, 6, clocks.CpuClock())
    assert gen.tokens.shape == (2, 6)  # exactly new_tokens per row, EOS or not
    assert len(gen.step_ms) == 5
    for row, prompt in zip(gen.tokens.tolist(), prompts, strict=False):
        assert row == greedy_reference(tiny, prompt, 6)  # KV cache + left padding change nothing


def test_ttft_below_e2e_and_real_token_counts(tiny):
    prompts = [[5, 17, 42, 7, 99, 3], [8, 9, 10]]
    ids, mask = left_pad(prompts, pad=0)
    probe = generate.generate_fixed(tiny, ids, mask, 8, clocks.CpuClock()).tokens
    eos = {int(probe[0, 2])}  # row 0 emits "EOS" at position 2: its tokens after that do not count
    expected = generate.real_token_counts(probe, eos)
    assert expected[0] == 1 + probe[0].tolist().index(next(iter(eos)))
    raw = measure.measure(
        tiny, [(ids, mask)], 8, clocks.CpuClock(), clocks.CpuPeakMemory(), meters.NoMeter(), eos, warmup=1
    )
    m = measure.summarise(raw, 8)
    assert all(t < e for t, e in zip(raw["ttft_ms"], raw["e2e_ms"], strict=False))
    assert m["ttft_ms"] < m["e2e_ms"]
    assert m["generated_tokens"] == sum(expected) < m["computed_tokens"] == 16
    assert m["prompt_tokens"] == 9 and raw["padded_prompt_tokens"] == [12]  # padding is not a prompt token
    assert m["rows_with_eos"] >= 1
    e2e_s = raw["e2e_ms"][0] / 1e3
    assert m["tokens_per_s"] == pytest.approx(sum(expected) / e2e_s)
    assert m["fixed_length_tokens_per_s"] == pytest.approx(16 / e2e_s)
    assert m["tpot_ms"] == pytest.approx(sum(raw["step_ms"][0]) / 7)
    # layers x (k, v) x rows x kv heads x positions held (6 prompt + 7 fed back) x head dim x fp32
    assert m["kv_cache_bytes"] == 2 * 2 * 2 * 2 * 13 * 16 * 4


def test_static_decoder_matches_greedy_across_calls_and_refuses_what_it_cannot_serve(tiny):
    """One static decoder serves every batch of a measurement (reset in place between calls) and
    generates what the dynamic cache does; on a CPU it runs eagerly (no CUDA graph)."""
    from tiny import tiny_config

    decoder = generate.StaticDecoder(tiny, 2, 6 + 5)
    for prompts in ([[5, 17, 42, 7, 99, 3], [8, 9]], [[1, 2, 3], [4, 5, 6, 7]]):
        ids, mask = left_pad(prompts, pad=0)
        gen = generate.generate_fixed(tiny, ids, mask, 5, clocks.CpuClock(), decoder=decoder)
        for row, prompt in zip(gen.tokens.tolist(), prompts, strict=True):
            assert row == greedy_reference(tiny, prompt, 5)
        # allocated for 11 positions whatever the prompt: layers x (k, v) x rows x kv heads x 11 x 16 x fp32
        assert gen.kv_cache_bytes == 2 * 2 * 2 * 2 * 11 * 16 * 4 and len(gen.step_ms) == 4
    assert decoder.graph is None and not decoder.cuda_graph
    resets = iter([100, 500])  # memory before the decoder is built, then after the warm-up
    memory = types.SimpleNamespace(reset=lambda: next(resets), peak=lambda: 900)
    raw = measure.measure(
        tiny, [(ids, mask)], 5, clocks.CpuClock(), memory, meters.NoMeter(), set(), 1, "static"
    )
    assert (
        raw["memory_base_bytes"] == 100 and raw["cuda_graph"] is False
    )  # the cache counts as working memory
    with pytest.raises(ValueError, match="got 2 rows of 7 \\+ 5"):
        generate.generate_fixed(tiny, *left_pad([[1] * 7, [2]], pad=0), 5, clocks.CpuClock(), decoder=decoder)
    assert generate.static_decode_problem(tiny.config) is None
    assert "sliding-window" in generate.static_decode_problem(tiny_config("gemma3_text"))


def test_real_token_counts_stop_at_first_eos():
    tokens = torch.tensor([[4, 2, 9, 2], [4, 4, 4, 4], [2, 7, 7, 7]])
    assert generate.real_token_counts(tokens, {2}) == [2, 4, 1]
    assert generate.real_token_counts(tokens, {2, 9}) == [2, 4, 1]


# ----------------------------------------------------------------------------- GPU paths, faked


class FakeCuda:
    """Just what CudaClock and CudaPeakMemory call, with a scripted GPU clock (ms)."""

    def __init__(self, times_ms):
        self.times, self.syncs, self.resets = iter(times_ms), 0, 0
        outer = self

        class Event:
            def __init__(self, enable_timing=False):
                assert enable_timing
                self.t = None

            def record(self):
                self.t = next(outer.times)

            def elapsed_time(self, other):
                assert outer.syncs, "events read before synchronize"
                return other.t - self.t

        self.Event = Event

    def synchronize(self, device=None):
        self.syncs += 1

    def reset_peak_memory_stats(self, device=None):
        self.resets += 1

    def memory_allocated(self, device=None):
        return 1000

    def max_memory_allocated(self, device=None):
        return 1750


def test_cuda_clock_and_memory_with_fake_cuda(tiny):
    fake = FakeCuda([0.0, 12.5, 14.0, 15.25, 17.0])
    ids, mask = left_pad([[3, 4, 5]], pad=0)
    gen = generate.generate_fixed(tiny, ids, mask, 4, clocks.CudaClock("cuda:0", cuda=fake))
    assert gen.ttft_ms == 12.5 and gen.step_ms == [1.5, 1.25, 1.75] and gen.e2e_ms == 17.0
    memory = clocks.CudaPeakMemory("cuda:0", cuda=fake)
    assert memory.reset() == 1000 and fake.resets == 1 and memory.peak() == 1750


# ----------------------------------------------------------------------------- energy


class FakeNvml:
    """pynvml's energy counter driven by a fake clock: mJ = integral of the scripted power."""

    def __init__(self):
        self.now, self.mj, self.watts = 100.0, 5_000_000, 0.0

    def advance(self, seconds, watts):
        self.now += seconds
        self.mj += round(seconds * watts * 1000)

    nvmlInit = nvmlShutdown = lambda self: None  # noqa: E731

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("gpu", index)

    def nvmlDeviceGetName(self, handle):
        return b"Fake GPU"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        return self.mj


def test_nvml_meter_exact_joules_and_idle_subtraction():
    nvml = FakeNvml()
    meter = meters.NvmlMeter(0, nvml=nvml, clock=lambda: nvml.now)
    idle = energy.calibrate_idle_power(meter, 2.0, sleep=lambda s: nvml.advance(s, 50.0))
    assert idle.watts == 50.0 and idle.source == "nvml" and not idle.estimate
    meter.begin()
    nvml.advance(3.0, 200.0)  # the measured work: 3 s at 200 W
    reading = meter.end()
    assert reading.joules == 600.0 and reading.window_s == 3.0 and reading.source == "nvml"
    acc = energy.account(reading, work_s=3.0, tokens=120, idle=idle, scale_to_work=False)
    assert acc["energy_raw_j"] == 600.0 and acc["energy_idle_j"] == 150.0 and acc["energy_j"] == 450.0
    assert acc["energy_j_per_token"] == 450.0 / 120 and acc["energy_raw_j_per_token"] == 5.0
    assert "emissions_kg_co2eq" not in acc
    with pytest.raises(RuntimeError):
        meter.end()


def test_nvml_device_is_matched_by_uuid():
    class Nvml(FakeNvml):
        def nvmlDeviceGetHandleByUUID(self, uuid):
            return {"GPU-1234-abcd": "h3"}[uuid]

        def nvmlDeviceGetIndex(self, handle):
            return {"h3": 3}[handle]

    cuda = types.SimpleNamespace(get_device_properties=lambda i: types.SimpleNamespace(uuid="1234-abcd"))
    assert meters.nvml_index_for(0, nvml=Nvml(), cuda=cuda) == 3


class FakeTracker:
    """OfflineEmissionsTracker's surface: stop() returns kg CO2-eq, energy is in final_emissions_data."""

    kwh, kg, cpu_mode, instances = 0.001, 0.25, "cpu_load", []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        FakeTracker.instances.append(self)
        self._hardware = [type("CPU", (), {"_mode": self.cpu_mode})(), type("RAM", (), {})()]

    def start(self):
        self.t0 = time.perf_counter()

    def stop(self):
        k = self.kwh
        self.final_emissions_data = types.SimpleNamespace(
            energy_consumed=k,
            cpu_energy=0.6 * k,
            gpu_energy=0.0,
            ram_energy=0.4 * k,
            emissions=self.kg,
            duration=2.0,
            cpu_model="Fake CPU",
            codecarbon_version="x",
            cpu_power=1.0,
            ram_power=10.0,
            country_iso_code=self.kwargs["country_iso_code"],
            country_name="Fakeland",
        )
        return self.kg


def test_codecarbon_energy_is_kwh_in_joules_and_emissions_stay_emissions():
    meter = meters.CodecarbonMeter("FRA", tracker_factory=FakeTracker)
    meter.begin()
    reading = meter.end()
    assert reading.joules == 3600.0  # 0.001 kWh, never the 0.25 kg that stop() returned
    assert reading.components_j == {"cpu": 2160.0, "gpu": 0.0, "ram": 1440.0}
    assert reading.emissions_kg_co2eq == 0.25 and reading.source == "codecarbon-estimate" and reading.estimate
    assert FakeTracker.instances[-1].kwargs["country_iso_code"] == "FRA"
    idle = energy.IdlePower(watts=100.0, seconds=1.0, source=reading.source, estimate=True, at=time.time())
    acc = energy.account(
        reading, work_s=1.5, tokens=30, idle=idle, scale_to_work=True
    )  # window 2 s, work 1.5 s
    assert acc["energy_raw_j"] == 2700.0 and acc["energy_j"] == 2550.0 and acc["energy_j_per_token"] == 85.0
    assert acc["emissions_kg_co2eq"] == 0.1875 and acc["emissions_country"] == "FRA"
    assert 0.25 not in acc.values() and 0.1875 not in {acc["energy_j"], acc["energy_raw_j"]}
    FakeTracker.cpu_mode = "intel_rapl"
    try:
        meter.begin()
        assert meter.end().source == "codecarbon-rapl"
    finally:
        FakeTracker.cpu_mode = "cpu_load"


def test_codecarbon_failure_is_an_error_not_zero():
    class Broken(FakeTracker):
        def stop(self):
            return None  # what codecarbon's @suppress gives when it failed inside

    meter = meters.CodecarbonMeter(tracker_factory=Broken)
    meter.begin()
    with pytest.raises(RuntimeError, match="no data"):
        meter.end()


def test_codecarbon_takes_no_lock_and_an_interrupted_window_is_stopped():
    stopped = []

    class Tracked(FakeTracker):
        def stop(self):
            stopped.append(self)
            return super().stop()

    from glu_prune.profile.config import country_problem

    meter = meters.CodecarbonMeter(tracker_factory=Tracked)
    meter.begin()  # ... and Ctrl-C before end(): the runner closes the meter on its way out
    meter.close()
    assert len(stopped) == 1 and stopped[0].kwargs["allow_multiple_runs"] is True
    meter.close()  # nothing left running: nothing to stop
    assert len(stopped) == 1
    assert country_problem("FRA") is None and "ISO codes" in country_problem("XX")


# ----------------------------------------------------------------------------- runs


def test_run_records_order_energy_source_and_emissions_apart(tiny_dir, tmp_path, monkeypatch):
    from glu_prune.models import ModelSpec

    monkeypatch.setattr(meters, "_default_tracker", FakeTracker)
    spec = ModelSpec(str(tiny_dir), random_weights=True)
    cfg = ProfileConfig(
        levels=(0, 30, 60),
        workloads=("ifeval",),
        batch_sizes=(1, 2),
        batches=1,
        new_tokens=3,
        repeats=3,
        warmup=0,
        energy="codecarbon",
        idle_seconds=0.01,
        order="interleaved",
    )
    records = run_carbon_profiling(spec, cfg, tmp_path / "out")
    assert len(records) == 6 and all(r["status"] == "complete" for r in records)
    orders = [tuple(o["levels_in_order"]) for o in records[0]["order_positions"]]
    assert (
        all(sorted(o) == [0.0, 30.0, 60.0] for o in orders) and len(set(orders)) > 1
    )  # reshuffled per repeat
    for r in records:
        assert r["energy_source"] == "codecarbon-estimate" and r["energy_estimate"] is True
        assert r["emissions_kg_co2eq"] is not None and r["emissions_country"] == "USA"
        assert r["energy_raw_j"] != r["emissions_kg_co2eq"]
        assert "stand-in" in r["tokenizer"] and r["chat_template"] is False
        assert r["tpot_ms"] > 0 and r["ttft_ms"] < r["e2e_ms"]
    base = {(r["workload"], r["batch_size"]): r for r in records if r["pruning_pct"] == 0}
    for r in records:
        assert r["measured_speedup"] == pytest.approx(
            base[(r["workload"], r["batch_size"])]["tpot_ms"] / r["tpot_ms"]
        )
        if r["pruning_pct"]:
            assert r["ideal_speedup"] > 1 and r["intermediate_size"] < 384
        b = base[(r["workload"], r["batch_size"])]
        assert r["ideal_speedup"] == b["decode_bytes_per_step"] / r["decode_bytes_per_step"]
        if r["batch_size"] == 2:  # the untied input table: one more row of 128 floats per row decoded
            one = next(o for o in records if o["batch_size"] == 1 and o["pruning_pct"] == r["pruning_pct"])
            assert r["decode_bytes_per_step"] - one["decode_bytes_per_step"] == 128 * 4
    files = sorted(p.name for p in (tmp_path / "out").glob("*_profile_*"))
    assert files == [
        "tiny-llama-random-weights_profile_complete.json",
        "tiny-llama-random-weights_profile_results.csv",
    ]
    complete = json.loads((tmp_path / "out" / files[0]).read_text())
    assert complete["runs"][0]["provenance"]["hardware"]["cpu_cores"] == os.cpu_count()
    assert len(complete["measurements"]) == 18


def test_shuffled_order_and_bad_settings(tiny_dir, tmp_path):
    from glu_prune.models import ModelSpec

    with pytest.raises(UserError) as err:
        ProfileConfig(levels=(0, 0), workloads=("nope",), new_tokens=1, energy="joulemeter")
    assert all(s in str(err.value) for s in ("listed twice", "nope", "--new-tokens", "--energy"))
    spec = ModelSpec(str(tiny_dir), random_weights=True)
    cfg = quick(levels=(0, 50), order="shuffled")
    records = run_carbon_profiling(spec, cfg, tmp_path / "out")
    assert {r["order"] for r in records} == {"shuffled"}
    assert records[0]["order_positions"][0]["mode"] == "shuffled"
    assert all(r["energy_j"] is None and r["energy_source"] == "none" for r in records)
    ckpts = tmp_path / "out" / "checkpoints"
    assert json.loads(next(ckpts.glob("*.json")).read_text())["result"]["energy_reading"]["joules"] is None
    saved = {p.name: p.stat().st_mtime_ns for p in ckpts.glob("*.json")}
    assert run_carbon_profiling(spec, cfg, tmp_path / "out") == records  # all reused, nothing re-measured
    assert {p.name: p.stat().st_mtime_ns for p in ckpts.glob("*.json")} == saved
    changed = run_carbon_profiling(spec, dataclasses.replace(cfg, new_tokens=3), tmp_path / "out")
    assert len(list(ckpts.glob("*.json"))) == 4 and {r["new_tokens"] for r in changed} == {3}  # never stale
    # the consolidated files hold exactly this call's records, not the earlier run's in the same dir
    table = pd.read_csv(tmp_path / "out" / "tiny-llama-random-weights_profile_results.csv")
    assert set(table["new_tokens"]) == {3} and len(table) == 2
    complete = json.loads((tmp_path / "out" / "tiny-llama-random-weights_profile_complete.json").read_text())
    assert {m["identity"]["new_tokens"] for m in complete["measurements"]} == {3}
    measured_by = {m["result"]["run_id"] for m in complete["measurements"]}
    assert len(measured_by) == 1 and [r["run_id"] for r in complete["runs"]] == list(measured_by)
    assert len(consolidate_profiles(tmp_path / "out", tmp_path / "all")) == 4  # no selection: everything
    # a checkpoint measured on other prompts (an earlier sampler) is measured again, not reused
    identities = {p: json.loads(p.read_text())["identity"] for p in ckpts.glob("*.json")}
    path = next(p for p, i in identities.items() if (i["level"], i["new_tokens"]) == (50.0, 3))
    record = json.loads(path.read_text())
    prompts, record["result"]["prompt_ids"] = record["result"]["prompt_ids"], ["ifeval/elsewhere"]
    path.write_text(json.dumps(record))
    saved = {p.name: p.stat().st_mtime_ns for p in ckpts.glob("*.json")}
    with pytest.warns(UserWarning, match="1 checkpoints were measured on other prompts"):
        run_carbon_profiling(spec, dataclasses.replace(cfg, new_tokens=3), tmp_path / "out")
    assert json.loads(path.read_text())["result"]["prompt_ids"] == prompts
    assert [n for n, t in saved.items() if (ckpts / n).stat().st_mtime_ns != t] == [path.name]


def test_prompt_tokenizer_stands_in_from_tokenizer_files_alone(tiny_dir, tmp_path, embedded_dir):
    """A folder with only the embedded model's tokenizer files (a GPU machine without its weights)
    tokenizes a shape-only model's prompts exactly as the default stand-in; the setting is part of
    the identity, and a real model keeps its own tokenizer."""
    import shutil

    from glu_prune.models import ModelSpec
    from glu_prune.profile import workloads

    files = tmp_path / "smollm2-tokenizer"
    files.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(embedded_dir / name, files / name)
    own = workloads.prompt_tokenizer("llama-3.2-1b", None, True, 128256)
    folder = workloads.prompt_tokenizer("llama-3.2-1b", None, True, 128256, str(files))
    assert folder.label.startswith("smollm2-tokenizer (stand-in: llama-3.2-1b has no tokenizer offline")
    assert own.label.startswith("smollm2-135m-instruct (stand-in")  # the committed profiles' label
    prompts = workloads.sample_prompts("hellaswag", 3)
    assert workloads.encode(prompts, folder) == workloads.encode(prompts, own)
    with pytest.raises(UserError, match="does not load"):
        workloads.load_stand_in(str(tmp_path))  # a folder without tokenizer files
    cfg = quick(levels=(0,), workloads=("hellaswag",))
    spec = ModelSpec(str(tiny_dir), random_weights=True)
    default = run_carbon_profiling(spec, cfg, tmp_path / "out")
    stand_in = dataclasses.replace(cfg, prompt_tokenizer=str(files))
    named = run_carbon_profiling(spec, stand_in, tmp_path / "out")
    assert named[0]["tokenizer"].startswith("smollm2-tokenizer (stand-in")
    assert named[0]["prompt_tokens"] == default[0]["prompt_tokens"]
    ckpts = (tmp_path / "out" / "checkpoints").glob("*.json")
    identities = [json.loads(p.read_text())["identity"] for p in ckpts]
    assert sorted(i.get("prompt_tokenizer", "") for i in identities) == ["", str(files)]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="does not load"):  # refused before any model loads or file is written
        run_carbon_profiling(spec, dataclasses.replace(cfg, prompt_tokenizer=str(empty)), tmp_path / "o3")
    assert not (tmp_path / "o3").exists()
    real = ModelSpec(str(embedded_dir))
    with pytest.raises(UserError, match="--prompt-tokenizer is for shape-only models"):
        run_carbon_profiling(real, stand_in, tmp_path / "o2")


def test_static_decode_is_its_own_series_and_is_refused_where_it_cannot_run(tiny_dir, tmp_path):
    from tiny import tiny_config

    from glu_prune.models import ModelSpec

    cfg = ProfileConfig(
        levels=(0, 50),
        workloads=("ifeval",),
        batch_sizes=(2,),
        batches=2,
        new_tokens=3,
        repeats=1,
        energy="none",
        decode="static",
    )
    spec = ModelSpec(str(tiny_dir), random_weights=True)
    static = run_carbon_profiling(spec, cfg, tmp_path / "out")
    dynamic = run_carbon_profiling(spec, dataclasses.replace(cfg, decode="dynamic"), tmp_path / "out")
    assert [r["decode"] for r in static + dynamic] == ["static"] * 2 + ["dynamic"] * 2
    assert all(r["status"] == "complete" and r["cuda_graph"] is False for r in static + dynamic)
    assert [r["prompt_tokens"] for r in static] == [r["prompt_tokens"] for r in dynamic]
    assert all(s["kv_cache_bytes"] >= d["kv_cache_bytes"] for s, d in zip(static, dynamic, strict=True))
    ckpts = (tmp_path / "out" / "checkpoints").glob("*.json")
    identities = [json.loads(p.read_text())["identity"] for p in ckpts]
    assert sorted(i.get("decode", "") for i in identities) == ["", "", "static", "static"]
    with pytest.raises(UserError, match="needs --warmup 1 or more"):
        dataclasses.replace(cfg, warmup=0)
    gemma = tmp_path / "tiny-gemma"
    tiny_config("gemma3_text").save_pretrained(gemma)
    with pytest.raises(UserError, match="without sliding-window attention"):  # before any model loads
        run_carbon_profiling(ModelSpec(str(gemma), random_weights=True), cfg, tmp_path / "o2")
    assert not (tmp_path / "o2").exists()


def test_pruned_dir_is_profiled_as_saved(tiny_dir, tmp_path):
    from glu_prune.models import ModelSpec

    saved = {
        "model": "tiny-llama",
        "method": "maw",
        "pruning_pct": 40.0,
        "divisor": None,
        "intermediate_size": 384,
        "effective_pruning_pct": 40.0,
        "expansion_ratio": 3.0,
        "parameters_after": 1_000_000,
    }
    (tiny_dir / "pruning.json").write_text(json.dumps(saved))
    spec = ModelSpec(str(tiny_dir), random_weights=True)
    cfg = quick(levels=(0, 40))
    with pytest.raises(UserError, match="already pruned.*--levels 0"):
        run_carbon_profiling(spec, cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before anything loads or is written
    [record] = run_carbon_profiling(spec, dataclasses.replace(cfg, levels=(0,)), tmp_path / "out")
    assert record["pruning_pct"] == 40.0 and record["method"] == record["prune_method"] == "maw"
    assert record["measured_speedup"] is None and record["ideal_speedup"] is None  # never against itself


def test_run_status_says_what_failed_or_was_not_run(tiny_dir, tmp_path, monkeypatch):
    from glu_prune.models import ModelSpec

    spec = ModelSpec(str(tiny_dir), random_weights=True)
    cfg = quick(levels=(0,), batch_sizes=(1, 2))

    def run_record(out):
        [path] = (out / "runs").glob("*.json")
        return json.loads(path.read_text())

    def broken(*args, **kwargs):
        raise RuntimeError("device lost")

    monkeypatch.setattr("glu_prune.profile.runner.measure", broken)
    records = run_carbon_profiling(spec, cfg, tmp_path / "failed")
    assert all(r["status"] == "incomplete: 0 of 1 repeats done, 1 failed" for r in records)
    run = run_record(tmp_path / "failed")
    assert run["status"].startswith("finished with failures: 0 of 2 pending measurements done; 2 failed (")
    assert len(run["failed"]) == 2 and run["not_run"] == [] and run["measurements_failed"] == 2

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("glu_prune.profile.runner.measure", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_carbon_profiling(spec, cfg, tmp_path / "stopped")
    run = run_record(tmp_path / "stopped")
    assert run["status"].startswith(
        "interrupted by KeyboardInterrupt: 0 of 2 pending measurements done; 2 not run ("
    )
    assert len(run["not_run"]) == 2 and run["failed"] == []


def test_damaged_files_of_a_run_are_set_aside_and_redone(tiny_dir, tmp_path):
    from glu_prune.models import ModelSpec

    spec = ModelSpec(str(tiny_dir), random_weights=True)
    cfg = quick(levels=(0,), batch_sizes=(1, 2))
    out = tmp_path / "out"
    run_carbon_profiling(spec, cfg, out)
    ckpts, runs = out / "checkpoints", out / "runs"
    victim, kept = sorted(ckpts.glob("*.json"))
    record = json.loads(victim.read_text())
    victim.write_text(json.dumps({**record, "result": "a result of the wrong type"}))
    (ckpts / "stray.json").write_text("[1, 2]")
    (runs / "torn.json").write_text('{"run_id": "x", "sta')
    (runs / "list.json").write_text("[]")
    before = kept.stat().st_mtime_ns
    with pytest.warns(UserWarning) as caught:
        records = run_carbon_profiling(spec, cfg, out)
    messages = sorted(str(w.message).split(" (")[0] for w in caught if "damaged" in str(w.message))
    assert messages == sorted(
        [
            f"damaged checkpoint {victim.name}",
            "damaged checkpoint stray.json",
            "damaged run log list.json",
            "damaged run log torn.json",
        ]
    )
    assert [r["status"] for r in records] == ["complete", "complete"]
    assert isinstance(json.loads(victim.read_text())["result"], dict)  # measured again
    assert kept.stat().st_mtime_ns == before  # the whole one is reused
    assert len(list((ckpts / "damaged").iterdir())) == 2 and len(list((runs / "damaged").iterdir())) == 2
    assert all(json.loads(p.read_text())["status"] == "finished" for p in runs.glob("*.json"))
    [complete] = out.glob("*_profile_complete.json")
    assert len(json.loads(complete.read_text())["damaged"]) == 4  # listed with the results


@pytest.mark.parametrize(
    "args,read_only_folder,match",
    [
        (["--country", "ZZZZ"], None, "--country 'ZZZZ' is not in codecarbon's table"),
        (["--country", "usa", "--energy", "codecarbon"], None, "three-letter upper-case ISO codes"),
        (["--batch-size", ","], None, "expected at least one integer"),
        ([], "checkpoints", "is not writable"),
        ([], "runs", "is not writable"),
    ],
)
def test_bad_settings_and_read_only_folders_are_refused_before_loading(
    tiny_dir, tmp_path, capsys, monkeypatch, read_only, args, read_only_folder, match
):
    from glu_prune.cli import main

    def refuse(*_a, **_k):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr("glu_prune.profile.runner.load_pruned", refuse)
    out = tmp_path / "out"
    if read_only_folder:
        read_only(out / read_only_folder)
    argv = ["profile", "--model", str(tiny_dir), "--random-weights", "--levels", "0", "--workloads", "ifeval"]
    code = main([*argv, *args, "--out", str(out)])
    stdout, err = capsys.readouterr()
    assert code == 2 and stdout == "" and err.count("\n") == 1 and match in err, err
    assert not list(out.glob("runs/*.json"))  # no run log


def test_workload_prompts_are_real_seeded_and_templated(embedded_dir, monkeypatch):
    from glu_prune.models import load_tokenizer
    from glu_prune.profile import workloads

    a, b = workloads.sample_prompts("mmlu", 4, seed=0), workloads.sample_prompts("mmlu", 4, seed=1)
    assert a == workloads.sample_prompts("mmlu", 4, seed=0) and a != b
    assert all(all(f"\n{c}. " in p.text for c in "ABCD") and p.text.endswith("\nAnswer:") for p in a)
    assert workloads.sample_prompts("ifeval", 2, 0) == workloads.sample_prompts("ifeval", 8, 0)[:2]
    # a prefix at any n (random.sample changes algorithm at n >= 86 on this pool of ~540) ...
    assert workloads.sample_prompts("ifeval", 2, 0) == workloads.sample_prompts("ifeval", 300, 0)[:2]
    # ... and random.sample's draws where n is small next to the pool: earlier checkpoints' prompts
    pool = workloads._pool("ifeval")
    drawn = random.Random("ifeval:0").sample(range(len(pool)), 16)
    assert workloads.sample_prompts("ifeval", 16, 0) == [pool[i] for i in drawn]
    pt = workloads.prompt_tokenizer("default", load_tokenizer("default"), False, 49152)
    assert pt.chat_template
    ids = workloads.encode(a[:1], pt)[0]
    text = pt.tokenizer.decode(ids)
    assert (
        text.startswith("<|im_start|>system")
        and a[0].text in text
        and text.endswith("<|im_start|>assistant\n")
    )

    def broken():
        raise FileNotFoundError("data file gone")

    monkeypatch.setitem(workloads.BENCHMARKS_CARBON, "ifeval", workloads.Workload("ifeval", broken, "x"))
    workloads._pool.cache_clear()
    try:
        with pytest.raises(UserError, match="failed to load"):
            workloads.sample_prompts("ifeval", 1)
    finally:
        workloads._pool.cache_clear()


def test_cli_resume_after_sigkill(tiny_dir, tmp_path):
    from tiny import tiny_config

    big = tmp_path / "slow-llama"  # big enough that the run outlives its first checkpoint
    tiny_config(
        "llama", vocab_size=49152, hidden_size=256, intermediate_size=768, num_hidden_layers=4
    ).save_pretrained(big)
    out = tmp_path / "out"
    cmd = [
        GLU_PRUNE,
        "profile",
        "--model",
        str(big),
        "--random-weights",
        "--levels",
        "0,50",
        "--workloads",
        "ifeval",
        "--batch-size",
        "1",
        "--batches",
        "1",
        "--new-tokens",
        "24",
        "--repeats",
        "4",
        "--energy",
        "none",
        "--out",
        str(out),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    ckpt = out / "checkpoints"
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None and not list(ckpt.glob("*.json")):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {p.name: json.loads(p.read_text())["saved_at"] for p in ckpt.glob("*.json")}
    assert 1 <= len(first) < 8, "the kill must land mid-run"
    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    after = {p.name: json.loads(p.read_text())["saved_at"] for p in ckpt.glob("*.json")}
    assert len(after) == 8 and all(after[k] == v for k, v in first.items())  # finished work reused
    assert not (ckpt / "damaged").exists()
    # the killed run's log no longer says "running": the next run marked it abandoned
    statuses = sorted(json.loads(p.read_text())["status"] for p in (out / "runs").glob("*.json"))
    assert len(statuses) == 2 and statuses[0].startswith("abandoned:") and statuses[1] == "finished"
    required = (
        "model method pruning_pct intermediate_size expansion_ratio workload batch_size new_tokens ttft_ms "
        "tpot_ms e2e_ms tokens_per_s peak_memory_bytes energy_j energy_source ideal_speedup measured_speedup"
    )
    assert len(records) == 2 and all(k in r for r in records for k in required.split())
    assert {r["method"] for r in records} == {"none", "maw"}
