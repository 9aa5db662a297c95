"""The processes the benches start: gunicorn's command, and client processes started together (forked,
released at once by a barrier, each reporting once)."""

import multiprocessing
import sys
from collections.abc import Callable, Sequence
from typing import Any

# gunicorn as the benches and the tests start it, its control socket (gunicornc) off: gunicorn 25+ opens one
# by default at one path for every run of a user ($XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl),
# which runs side by side (a bench beside the tests, two test workers) took from each other.
GUNICORN = (sys.executable, "-m", "gunicorn", "--no-control-socket")


def run_together(target: Callable[..., None], arguments: Sequence[tuple]) -> list[Any]:
    """Fork one process per argument tuple, calling `target(*arguments, ready, results)`; each waits on
    `ready` (a barrier, released once all have started) before its timed work and puts one outcome on
    `results`. The outcomes, in the order they arrive."""
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(len(arguments) + 1)
    results = context.Queue()
    processes = [context.Process(target=target, args=(*args, ready, results)) for args in arguments]
    for process in processes:
        process.start()
    ready.wait()
    outcomes = [results.get() for _ in processes]
    for process in processes:
        process.join()
    return outcomes
