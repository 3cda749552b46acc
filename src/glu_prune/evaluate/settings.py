"""How an evaluation runs (EvalSettings) and what a run left behind (EvalStatus)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import UserError
from .backend import BACKENDS, NAME


@dataclass(frozen=True)
class EvalSettings:
    """How tasks are run. Fields above the line change results; the others do not."""

    offline: bool = False
    limit: int | None = None  # documents per task (mmlu: spread over its subjects)
    chat_template: bool | None = None  # None: instruct models, except plain-text tasks (suites.py)
    max_length: int | None = None  # None: lm-eval's choice from the model config
    bootstrap_iters: int = 100_000  # lm-eval's default; bootstrapped stderrs (perplexity) depend on it
    backend: str = NAME  # lm-eval model back end: "glu-prune" (shared contexts) or "hf" (lm-eval's own)
    sample_seed: int | None = None  # draw the limit's documents with this seed, not the first (sampling.py)
    # ---- no influence on the numbers (beyond floating-point rounding)
    batch_size: int | str | None = None  # None: the back end's default for the device (recorded); "auto"
    max_batch_size: int = 16  # cap for "auto" (hf: the probe allocates batch x length x vocab logits)
    max_batch_tokens: int | None = None  # glu-prune: padded tokens per forward pass (None: device default)

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise UserError(f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise UserError(f"--limit must be a positive integer, got {self.limit!r}")
        if self.sample_seed is not None and (self.limit is None or self.sample_seed < 0):
            raise UserError("--sample-seed draws --limit documents at random: give --limit and a seed >= 0")
        if not (
            self.batch_size in (None, "auto") or (isinstance(self.batch_size, int) and self.batch_size >= 1)
        ):
            raise UserError(f"--batch-size must be a positive integer or 'auto', got {self.batch_size!r}")
        if self.max_batch_tokens is not None and self.max_batch_tokens < 16:
            raise UserError(f"--max-batch-tokens must be at least 16, got {self.max_batch_tokens}")
        if self.max_length is not None and self.max_length < 16:
            raise UserError(f"--max-length must be at least 16, got {self.max_length}")


DEFAULT_SETTINGS = EvalSettings()


@dataclass
class EvalStatus:
    """What a run left behind: exactly which (config, task) pairs are done, failed or need the hub."""

    records: list[dict] = field(default_factory=list)  # the done results, in run order
    done: list[dict] = field(default_factory=list)  # {"config", "task", "reused"}
    failed: list[dict] = field(default_factory=list)  # {"config", "task", "error"}
    needs_hub: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)  # checkpoints, request caches set aside (redone)

    @property
    def complete(self) -> bool:
        return not self.failed and not self.needs_hub

    def summary(self) -> str:
        parts = [f"{len(self.done)} done ({sum(d['reused'] for d in self.done)} reused from checkpoints)"]
        if self.failed:
            failures = "; ".join(f"{f['config']}/{f['task']}: {f['error']}" for f in self.failed)
            parts.append(f"{len(self.failed)} FAILED: {failures}")
        if self.needs_hub:
            parts.append(f"not run, need the Hugging Face hub: {', '.join(self.needs_hub)}")
        if self.damaged:
            parts.append(f"damaged files set aside and redone: {', '.join(self.damaged)}")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"complete": self.complete, **{k: v for k, v in asdict(self).items() if k != "records"}}
