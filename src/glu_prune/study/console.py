"""The study's terminal: one progress bar for the whole run (jobs done of total, elapsed, estimated
time left), with failures and damaged files reported above it as they happen."""

from __future__ import annotations

import contextlib
import sys
import warnings

from ..store import DamagedFileWarning


class Console:
    """One tqdm bar over every job of a study; `say` prints a message without breaking the bar."""

    def __init__(self, total: int, log=print, progress: bool = True):
        from tqdm.auto import tqdm

        self.log, self.running = log, []
        self.damaged: list[dict] = []  # {"where", "message"}: files set aside, their work redone
        self.bar = tqdm(total=total, desc="study", unit="job", file=sys.stderr, disable=not progress)

    def say(self, message: str) -> None:
        with self.bar.external_write_mode(file=sys.stderr):
            self.log(message)

    def started(self, name: str) -> None:
        self.running.append(name)
        self.bar.set_postfix_str(", ".join(self.running), refresh=True)

    def finished(self, name: str, ok: bool = True, note: str = "") -> None:
        """A job is over (done, failed, or nothing to do); a failure is said, with its note."""
        if name in self.running:
            self.running.remove(name)
        self.bar.set_postfix_str(", ".join(self.running), refresh=False)
        self.bar.update(1)
        if not ok:
            self.say(f"  FAILED {name}{f': {note}' if note else ''}")

    def damaged_file(self, where: str, message: str) -> None:
        self.damaged.append({"where": where, "message": message})
        self.say(f"  {where}: {message}")

    @contextlib.contextmanager
    def reporting_damage(self, where: str):
        """Damaged files met inside the block (DamagedFileWarning) are reported here; other
        warnings pass through unchanged."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DamagedFileWarning)
            yield
        for w in caught:
            if issubclass(w.category, DamagedFileWarning):
                self.damaged_file(where, str(w.message))
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)

    def close(self) -> None:
        self.bar.close()
