"""The held-out text of a fidelity run and its windows.

The text is tokenised without special tokens and cut into windows of W tokens: window k is the
tokenizer's BOS token (EOS where it has none) followed by text tokens k(W-1) .. (k+1)(W-1)-1, so its
W-1 next-token predictions score exactly those text tokens and every token is scored once (the last
window may be shorter).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..store import slug
from ..tasks import sources

DEFAULT_TEXT = "wikipedia_ppl"  # the Wikipedia-prose paragraphs of the offline perplexity task


@dataclass(frozen=True)
class Text:
    body: str
    label: str  # the default text's name, or the file's name
    source: str  # "offline" (packaged data) or "file"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body.encode("utf-8")).hexdigest()


def load_text(path: str | Path | None = None) -> Text:
    """The default Wikipedia paragraphs (joined by blank lines), or a UTF-8 file.

    Raises:
        UserError: a file that is missing, not UTF-8, or empty.
    """
    if path is None:
        paragraphs = sources.wikipedia_ppl()["validation"]["text"]
        return Text("\n\n".join(paragraphs), DEFAULT_TEXT, "offline")
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"--text {path}: no such file")
    try:
        body = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"--text {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not body.strip():
        raise UserError(f"--text {path} is empty")
    return Text(body, slug(p.name), "file")


def start_token(tokenizer) -> int:
    token = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if token is None:
        raise UserError("the tokenizer has neither a BOS nor an EOS token to start a window with")
    return int(token)


def make_windows(tokenizer, text: Text, window: int, max_windows: int | None) -> list[list[int]]:
    """Token ids of each window: [start token, W-1 text tokens] (the last one possibly shorter)."""
    ids = tokenizer(text.body, add_special_tokens=False)["input_ids"]
    if not ids:
        raise UserError(f"the text {text.label} has no tokens")
    step = window - 1
    first = start_token(tokenizer)
    out = [[first, *ids[i : i + step]] for i in range(0, len(ids), step)]
    return out[:max_windows] if max_windows else out
