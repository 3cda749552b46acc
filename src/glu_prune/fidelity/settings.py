"""How a fidelity run is done (FidelitySettings) and what it left behind (FidelityStatus)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import UserError


@dataclass(frozen=True)
class FidelitySettings:
    """Fields above the line change results (they are in every checkpoint identity); the others do not."""

    window: int = 512  # tokens per window, its first the start token: W - 1 scored text tokens
    max_windows: int | None = 100  # the first N windows of the text (None: all of it)
    bootstrap_iters: int = 2000  # resamples of windows for the standard errors
    seed: int = 0  # of the bootstrap
    # ---- no influence on the numbers beyond floating-point rounding
    batch_size: int = 1  # windows per forward pass
    chunk: int | None = None  # positions per output-layer chunk (None: CHUNK_ELEMENTS / vocabulary)

    def __post_init__(self):
        for name in ("window", "bootstrap_iters", "batch_size", "chunk"):
            value = getattr(self, name)
            if name == "chunk" and value is None:
                continue
            if not isinstance(value, int) or value < (2 if name == "window" else 1):
                raise UserError(
                    f"--{name.replace('_', '-')} must be an integer of at least "
                    f"{2 if name == 'window' else 1}, got {value!r}"
                )
        if self.max_windows is not None and (not isinstance(self.max_windows, int) or self.max_windows < 1):
            raise UserError(f"--max-windows must be a positive integer, got {self.max_windows!r}")

    def identity(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("batch_size", "chunk")}


DEFAULT_FIDELITY = FidelitySettings()
# positions x vocabulary logits per chunk: ~32 MB per float32 tensor (170 positions of a 49k
# vocabulary, 32 of Gemma's 262k), whatever the window
CHUNK_ELEMENTS = 8 * 2**20


def chunk_positions(settings: FidelitySettings, vocabulary: int) -> int:
    return settings.chunk or max(1, CHUNK_ELEMENTS // vocabulary)


@dataclass
class FidelityStatus:
    """Which configurations are done (reused or computed) or failed, with their records."""

    records: list[dict] = field(default_factory=list)
    done: list[dict] = field(default_factory=list)  # {"config", "reused"}
    failed: list[dict] = field(default_factory=list)  # {"config", "error"}
    damaged: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        parts = [f"{len(self.done)} done ({sum(d['reused'] for d in self.done)} reused from checkpoints)"]
        if self.failed:
            parts.append(
                f"{len(self.failed)} FAILED: "
                + "; ".join(f"{f['config']}: {f['error']}" for f in self.failed)
            )
        if self.damaged:
            parts.append(f"damaged checkpoints set aside and redone: {', '.join(self.damaged)}")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"complete": self.complete, **{k: v for k, v in asdict(self).items() if k != "records"}}
