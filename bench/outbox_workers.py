"""Outbox worker faults: two worker processes draining due reminders, and a worker SIGKILLed mid-batch.

    python -m bench.outbox_workers [--database-url URL] [--reminders N] [--kill-reminders N] [--kill-runs N]

The SIGKILL runs always on a temp SQLite file; with a PostgreSQL URL (its database is wiped) also
there, and two workers side by side (on SQLite a second worker refuses to start). The
workers are real `flask clinic worker` processes mailing a real SMTP server on 127.0.0.1; the
scenarios are those of tests/test_worker_faults.py (tests/fakes/reminders.py).
"""

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import Engine

from tests.fakes.reminders import Run, kill_and_restart, two_workers

from .databases import databases
from .fixtures import bench_engine

KILL_LEASE_SECONDS = 2.0  # how soon the killed worker's claims come back


def main(argv: Sequence[str] | None = None) -> None:
    """Run both scenarios on SQLite, then (given a URL) on PostgreSQL, and print what arrived."""
    args = _arguments(argv)
    for name, url in databases(args.database_url, "clinic_bench_workers").items():
        with bench_engine(url) as engine, tempfile.TemporaryDirectory(prefix="clinic-workers-") as folder:
            if name != "sqlite":
                _two_workers(name, engine, Path(folder), args.reminders)
            _kills(name, engine, Path(folder), args.kill_reminders, args.kill_runs)


def _two_workers(name: str, engine: Engine, folder: Path, reminders: int) -> None:
    run = two_workers(engine, _url(engine), folder / "two", reminders)
    shares = ", ".join(f"worker {pid} ran {n}" for pid, n in run.per_worker.items())
    delivery = run.delivery
    print(
        f"{name:<10} two workers, {reminders} due reminders: {shares}; received {delivery.received}, "
        f"duplicates {sum(delivery.repeated.values())}, missing {len(delivery.missing)}, "
        f"misaddressed {delivery.misaddressed}; exactly once: {_yes(delivery.exactly_once)}; "
        f"{run.seconds:.1f} s wall (with process start-up)"
    )


def _kills(name: str, engine: Engine, folder: Path, reminders: int, runs: int) -> None:
    lost = repeated = 0
    for number in range(1, runs + 1):
        run = kill_and_restart(engine, _url(engine), folder / f"kill{number}", reminders, KILL_LEASE_SECONDS)
        _report_kill(name, number, runs, reminders, run)
        lost += len(run.delivery.missing)
        repeated += sum(run.delivery.repeated.values())
    print(f"{name:<10} SIGKILL over {runs} runs of {reminders}: lost {lost}, repeated {repeated} in all")


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


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a loopback PostgreSQL URL (its database is wiped)")
    parser.add_argument("--reminders", type=int, default=1000, help="due reminders for the two workers")
    parser.add_argument("--kill-reminders", type=int, default=300, help="due reminders in each SIGKILL run")
    parser.add_argument("--kill-runs", type=int, default=5, help="SIGKILL runs per database")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
