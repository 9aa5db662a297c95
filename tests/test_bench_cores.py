"""The scale-out benches' wait for a core (tests/fakes/reminders.cpu_now), read off processes that spin
for a set time: each is then either running or waiting for a core, so the two add up to that time."""

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from .fakes.reminders import cpu_now

SPIN_SECONDS = 0.6

pytestmark = pytest.mark.skipif(
    not Path("/proc/pressure/cpu").exists(), reason="the kernel reports no CPU pressure (/proc/pressure)"
)


def test_processes_outnumbering_the_cores_are_seen_waiting_for_one_as_long_as_they_did_not_run():
    context = multiprocessing.get_context("fork")
    go = context.Event()
    spinners = [context.Process(target=_spin, args=(go,)) for _ in range((os.cpu_count() or 1) + 1)]
    for spinner in spinners:
        spinner.start()
    pids = [spinner.pid for spinner in spinners]
    try:
        before = cpu_now(pids, [])
        go.set()
        time.sleep(SPIN_SECONDS * 2)  # the spinning done; each sleeps on, its /proc entry still readable
        used = cpu_now(pids, []) - before
    finally:
        for spinner in spinners:
            spinner.terminate()
            spinner.join()

    spun = len(spinners) * SPIN_SECONDS
    assert spun * 0.85 < used.workers + used.waited < spun * 1.15
    # More spinners than cores: together they waited at least one spinner's time, whatever else ran, and
    # one core at a time at least had a spinner queued for it, which PSI averages over the cores.
    cores = os.cpu_count() or 1
    assert used.waited > SPIN_SECONDS * 0.85
    assert used.stalled > SPIN_SECONDS / cores * 0.85


def _spin(go) -> None:
    go.wait()
    deadline = time.monotonic() + SPIN_SECONDS
    while time.monotonic() < deadline:
        pass
    time.sleep(30)
