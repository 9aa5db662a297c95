"""Outbox worker faults: two worker processes draining due reminders, and a worker SIGKILLed mid-batch.

    python -m bench.outbox_workers [--database-url URL] [--reminders N] [--repeats N] [--kill-reminders N]
                                   [--kill-runs N]

The SIGKILL runs always on a temp SQLite file; with a PostgreSQL URL (its database is wiped) also
there, and one worker then two draining the same reminders, round after round (on SQLite a second
worker refuses to start): the scale-out figure, timed from the reminders falling due to the outbox
drained, so process start-up is not in it. The
workers are real `flask clinic worker` processes mailing a real SMTP server on 127.0.0.1; the
scenarios are those of tests/test_worker_faults.py (tests/fakes/reminders.py).

Each round is run a second time as a probe of what limits the scale-out figure: the same drains with the
workers' commits not waiting for PostgreSQL to flush its WAL to disk (`synchronous_commit` off for their
sessions alone). Clinic does not run so: a mail's result is flushed before the next mail goes, so a
database crash can repeat no more than the mails in flight. A killed worker repeats at most one mail
either way, as its commits are seen by other sessions before they reach the disk.
"""

import argparse
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from statistics import median

from sqlalchemy.engine import URL, Engine

from tests.fakes.reminders import Run, drain_with_workers, kill_and_restart

from .databases import databases
from .figures import emit
from .fixtures import bench_engine

BENCH = "outbox_workers"
KILL_LEASE_SECONDS = 2.0  # how soon the killed worker's claims come back
SCALE_OUT_TARGET = 2.0  # DESIGN.md: two workers on PostgreSQL drain about twice as fast as one
AS_CLINIC_RUNS, PROBE = "as Clinic runs", "commits not waiting for the disk"
# The workers' sessions' settings (libpq's `options`) for each way the drains run.
SESSIONS = {AS_CLINIC_RUNS: None, PROBE: "-c synchronous_commit=off"}


def main(argv: Sequence[str] | None = None) -> None:
    """Run both scenarios on SQLite, then (given a URL) on PostgreSQL, and print what arrived."""
    args = _arguments(argv)
    for name, url in databases(args.database_url, "clinic_bench_workers").items():
        with bench_engine(url) as engine, tempfile.TemporaryDirectory(prefix="clinic-workers-") as folder:
            if name != "sqlite":
                _scale_out(name, engine, Path(folder), args.reminders, args.repeats)
            if args.kill_runs:
                _kills(name, engine, Path(folder), args.kill_reminders, args.kill_runs)


def _scale_out(name: str, engine: Engine, folder: Path, reminders: int, repeats: int) -> None:
    """One worker, then two, draining the same number of reminders, round after round, as Clinic runs and
    with its commits not waiting for the disk (the probe, interleaved); the best of each."""
    urls = {how: worker_url(engine.url, options) for how, options in SESSIONS.items()}
    seconds = {(how, workers): [] for how in urls for workers in (1, 2)}
    waits = {(how, workers): [] for how in urls for workers in (1, 2)}  # the workers' and SMTP servers', ms
    for number in range(1, repeats + 1):
        for way, (how, url) in enumerate(urls.items()):
            for workers in (1, 2):
                run = drain_with_workers(
                    engine, url, folder / f"{way}-{workers}w{number}", reminders, workers
                )
                seconds[how, workers].append(run.seconds)
                waits[how, workers].append(run.cpu.waited / reminders * 1000 if run.cpu else math.nan)
                _report_drain(f"{name} {how}", workers, number, reminders, run)
    for how in urls:
        one, two = reminders / min(seconds[how, 1]), reminders / min(seconds[how, 2])
        pairs = zip(seconds[how, 1], seconds[how, 2], strict=True)
        rounds = ", ".join(f"{alone / paired:.2f}×" for alone, paired in pairs)
        probe = how == PROBE
        print(
            f"{name} {how}: two workers / one {two / one:.2f}× best of {repeats}, rounds {rounds}"
            f" ({'a probe, not how Clinic runs' if probe else 'target ≈ 2×'})"
        )
        said = f", {how} (a probe)" if probe else ""
        drained = f"{name}: {reminders} due reminders drained by two worker processes, vs one{said}"
        emit(BENCH, drained, two, one, "mails/s", None if probe else SCALE_OUT_TARGET)
        waited = median(waits[how, 2]), median(waits[how, 1])
        wait = (
            f"{name}: workers' and SMTP servers' wait for a core per mail, two workers vs one (median round)"
        )
        emit(BENCH, wait + said, *waited, "ms", None)


def _report_drain(name: str, workers: int, number: int, reminders: int, run: Run) -> None:
    shares = ", ".join(f"worker {pid} ran {n}" for pid, n in run.per_worker.items())
    delivery = run.delivery
    print(
        f"{name:<10} {workers} worker(s), round {number}, {reminders} due reminders: {shares}; "
        f"received {delivery.received}, duplicates {sum(delivery.repeated.values())}, "
        f"missing {len(delivery.missing)}, misaddressed {delivery.misaddressed}; "
        f"exactly once: {_yes(delivery.exactly_once)}; "
        f"{run.seconds:.2f} s, {reminders / run.seconds:.0f} mails/s"
    )
    if run.cpu is not None:
        cores = run.cpu.machine / run.seconds
        print(
            f"{'':<10} CPU per mail: workers {run.cpu.workers / reminders * 1000:.1f} ms, SMTP servers "
            f"{run.cpu.servers / reminders * 1000:.1f} ms, polling {run.cpu.here / reminders * 1000:.2f} ms,"
            f" machine {run.cpu.machine / reminders * 1000:.1f} ms; "
            f"machine busy {cores:.2f} of {os.cpu_count()} cores (stolen {run.cpu.stolen / run.seconds:.2f})"
        )
        print(
            f"{'':<10} waiting for a core: workers and SMTP servers"
            f" {run.cpu.waited / reminders * 1000:.2f} ms per mail;"
            f" a core with a task queued for it {run.cpu.stalled / run.seconds:.0%} of the drain"
        )


def _kills(name: str, engine: Engine, folder: Path, reminders: int, runs: int) -> None:
    lost, repeated = [], []
    for number in range(1, runs + 1):
        run = kill_and_restart(
            engine, worker_url(engine.url), folder / f"kill{number}", reminders, KILL_LEASE_SECONDS
        )
        _report_kill(name, number, runs, reminders, run)
        lost.append(len(run.delivery.missing))
        repeated.append(sum(run.delivery.repeated.values()))
    print(
        f"{name:<10} SIGKILL over {runs} runs of {reminders}: "
        f"lost {sum(lost)}, repeated {sum(repeated)} in all"
    )
    # Counts, not speeds: no baseline; the guarantee is none lost and at most one repeated per kill.
    emit(
        BENCH,
        f"{name}: most mails repeated by one SIGKILLed worker, of {runs} kills",
        max(repeated),
        None,
        "mails",
        None,
    )
    emit(BENCH, f"{name}: mails lost over {runs} SIGKILLed workers", sum(lost), None, "mails", None)


def _report_kill(name: str, number: int, runs: int, reminders: int, run: Run) -> None:
    delivery = run.delivery
    repeats = sum(delivery.repeated.values())
    print(
        f"{name:<10} SIGKILL run {number}/{runs}: killed after {run.killed_after} of {reminders} arrived; "
        f"lost {len(delivery.missing)}, repeated {repeats}"
        + (f" (same Message-ID: {_yes(delivery.repeats_share_message_id)})" if repeats else "")
        + f", misaddressed {delivery.misaddressed}; workers ran {list(run.per_worker.values())}; "
        f"{run.seconds:.1f} s"
    )


def worker_url(url: URL, options: str | None = None) -> str:
    """The database URL the workers are given: `url`, with libpq `options` for their sessions."""
    given = url if options is None else url.update_query_dict({"options": options})
    return given.render_as_string(hide_password=False)


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a loopback PostgreSQL URL (its database is wiped)")
    parser.add_argument("--reminders", type=int, default=2000, help="due reminders for one and two workers")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of one worker then two (best of each)")
    parser.add_argument("--kill-reminders", type=int, default=300, help="due reminders in each SIGKILL run")
    parser.add_argument("--kill-runs", type=int, default=5, help="SIGKILL runs per database (0: none)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
