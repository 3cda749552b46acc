"""The process around a subcommand: library chatter kept off the terminal, and Ctrl-C ending it
within seconds with one line, finished work kept and no child process left behind.

The first SIGINT raises KeyboardInterrupt in the main process, so `finally` blocks close run
logs, meters and worker pools, and arms a deadline. Forked children (lm-eval's bootstrap pool)
inherit the handler and ignore the signal: their parent stops them, instead of their dying
mid-task, which can leave the parent waiting on them forever. A KeyboardInterrupt that a library
swallows (raised inside a __del__, Python only prints it) is raised again. When the process has
not ended by the deadline, or on a second Ctrl-C, its children are killed and it exits at once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

import psutil  # imported now: the deadline may fire while the interpreter shuts down
from tqdm import tqdm

DEADLINE_S = 5.0  # from the first Ctrl-C to the exit, whatever is still running
CHILDREN_S = 3.0  # what child processes (study lanes) get to end on their own
INTERRUPTED = "glu-prune: interrupted (finished work is checkpointed)"
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def quiet_libraries() -> None:
    """Keep library chatter off the terminal (warnings still reach stderr)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.getLogger("optipfair").setLevel(logging.WARNING)
    try:
        import transformers

        transformers.logging.set_verbosity_error()
    except ImportError:
        pass


class Interrupts:
    """`with Interrupts() as interrupts:` around a command (main thread only; elsewhere inert)."""

    def __init__(self):
        self.pid = os.getpid()
        self.received = False
        self._reported = False
        self._reraise = False
        self._installed = threading.current_thread() is threading.main_thread()

    def __enter__(self) -> Interrupts:
        if self._installed:
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._previous_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
        return self

    def __exit__(self, *exc) -> None:
        if self._installed and not self.received:  # once interrupted, the deadline stays armed
            signal.signal(signal.SIGINT, self._previous)
            sys.unraisablehook = self._previous_hook

    def _handle(self, signum, frame) -> None:
        if os.getpid() != self.pid:
            return  # a forked worker: its parent stops it
        if self.received and not self._reraise:
            self.exit_now()
        self._reraise = False
        if not self.received:
            self.received = True
            deadline = threading.Timer(DEADLINE_S, self.exit_now)
            deadline.daemon = True
            deadline.start()
        raise KeyboardInterrupt

    def _unraisable(self, unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and os.getpid() == self.pid:
            # swallowed where it was raised (a __del__): signal the main thread again a moment later
            # (raised inside this hook it would be swallowed too; a real signal also ends a sleep)
            self._reraise = True
            main = threading.main_thread().ident
            again = threading.Timer(0.05, signal.pthread_kill, (main, signal.SIGINT))
            again.daemon = True
            again.start()
            return
        self._previous_hook(unraisable)

    def report(self) -> int:
        """Close the progress bars the interrupt left open (their lines finished), print the one
        line (once) and end the children; -> the exit code."""
        for bar in list(tqdm._instances):
            bar.close()
        self._say_once()
        end_children(CHILDREN_S)
        return EXIT_INTERRUPTED

    def exit_now(self) -> None:
        """The deadline passed, or a second Ctrl-C: kill the children, exit without unwinding."""
        self._say_once()
        end_children(0)
        os._exit(EXIT_INTERRUPTED)

    def _say_once(self) -> None:
        """The line, on a line of its own: a progress bar still open holds the cursor at the end of
        its unfinished line (exit_now only counts them: closing one could wait on its lock)."""
        if not self._reported:
            self._reported = True
            fresh = "\n" if len(tqdm._instances) else ""
            print(fresh + INTERRUPTED, file=sys.stderr, flush=True)


def end_children(wait_s: float) -> None:
    """Give child processes `wait_s` to end (a Ctrl-C at the terminal reached them too), then kill
    whatever is left of them and their descendants."""
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    _, alive = psutil.wait_procs(children, timeout=wait_s) if wait_s > 0 else ([], children)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=1)
