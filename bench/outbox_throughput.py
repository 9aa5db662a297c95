"""Outbox throughput: due reminders drained by the dispatcher into a local SMTP server, beside bare smtplib.

    python -m bench.outbox_throughput [--database-url URL] [--reminders N] [--repeats N] [--profile]

Always on a temp SQLite file; with a PostgreSQL URL (its database is wiped) also there. The
dispatcher is the worker's own tick, in this process; the baseline is a bare smtplib loop sending
the very mails the dispatcher sent, over one connection, to the same server. The server (aiosmtpd)
runs in its own process, as a real one would, so it does not compete with the client for the GIL.
Target (DESIGN.md): the dispatcher at ≥ 50 % of the bare loop.
"""

import argparse
import cProfile
import email.policy
import multiprocessing
import pstats
import smtplib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from email import message_from_bytes
from email.message import EmailMessage
from multiprocessing.connection import Connection

from flask import Flask, current_app
from sqlalchemy import text, update
from sqlalchemy.engine import Engine

from clinic.jobs.worker import Worker
from clinic.models import OutboxMessage, OutboxStatus, utcnow
from tests.fakes.reminders import DOMAIN, REMINDER_OFFSETS, seed_due_reminders, tally
from tests.fakes.smtp import FakeSMTPServer, Received

from .databases import databases
from .figures import emit
from .fixtures import bench_engine, measure

BENCH = "outbox_throughput"
TARGET = 0.5  # DESIGN.md: the dispatcher at ≥ 50 % of the bare loop


class Sink:
    """The SMTP server in a child process: its address, and the mails it received since last asked."""

    def __init__(self, connection: Connection, host: str, port: int) -> None:
        self._connection = connection
        self.host, self.port = host, port

    def take(self) -> list[Received]:
        self._connection.send("take")
        return self._connection.recv()


@contextmanager
def sink() -> Iterator[Sink]:
    """Run FakeSMTPServer in a child process until the block ends."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(theirs,), daemon=True)
    process.start()
    try:
        yield Sink(ours, *ours.recv())
    finally:
        ours.send("stop")
        process.join(10)


def _serve(connection: Connection) -> None:
    server = FakeSMTPServer()
    server.start()
    connection.send((server.host, server.port))
    while connection.recv() == "take":
        connection.send(list(server.received))
        server.received.clear()
        server.handler.by_recipient.clear()
    server.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Measure on SQLite, then (given a URL) on PostgreSQL; print mails/s and the ratio."""
    args = _arguments(argv)
    for name, url in databases(args.database_url, "clinic_bench_outbox").items():
        with bench_engine(url) as engine, sink() as server:
            _run(name, engine, current_app._get_current_object(), server, args)


def _run(name: str, engine: Engine, app: Flask, server: Sink, args: argparse.Namespace) -> None:
    expected = seed_due_reminders(engine, args.reminders, utcnow())
    app.config.update(
        MAIL_BACKEND="smtp",
        SMTP_HOST=server.host,
        SMTP_PORT=server.port,
        INVITE_DOMAIN=DOMAIN,
        REMINDER_OFFSETS=REMINDER_OFFSETS,
    )
    drain = _dispatcher(app, engine, args.reminders)
    drain()  # also the warm-up; its mails are the baseline's
    received = server.take()
    delivery = tally(expected, received)
    print(f"{name:<10} {args.reminders} reminders, each delivered exactly once: {delivery.exactly_once}")
    built = [message_from_bytes(mail.content, policy=email.policy.default) for mail in received]
    raw = [(mail.mail_from, list(mail.rcpt_tos), mail.content) for mail in received]
    timings = measure(
        {
            "dispatcher (worker tick)": _taking(server, drain),
            "smtplib send_message(EmailMessage)": _taking(server, lambda: _bare(server, built)),
            "smtplib sendmail(bytes)": _taking(server, lambda: _bare_bytes(server, raw)),
        },
        repeats=args.repeats,
        warmup=0,
    )
    for label, timing in timings.items():
        print(f"{name:<10} {label:<36} {args.reminders / timing.best:8.0f} mails/s   ({timing})")
    dispatcher = timings["dispatcher (worker tick)"].best
    for label, target in (("smtplib send_message(EmailMessage)", TARGET), ("smtplib sendmail(bytes)", None)):
        ratio = timings[label].best / dispatcher
        note = f"target ≥ {target:.2f}" if target else "no target: the mails already flattened to bytes"
        print(f"{name:<10} ratio dispatcher / {label:<36} {ratio:5.2f}×  ({note})")
        figure = f"{name}: {args.reminders} due reminders drained, vs a bare {label} loop"
        mails_per_second = args.reminders / timings[label].best
        emit(BENCH, figure, args.reminders / dispatcher, mails_per_second, "mails/s", target)
    if args.profile:
        _profile(drain, server)


def _dispatcher(app: Flask, engine: Engine, count: int) -> Callable[[], float]:
    """A timer: make every reminder due again (untimed), then one worker tick drains them."""

    def run() -> float:
        _due_again(engine)
        worker = Worker(app)
        started = utcnow()
        ran = worker.tick()
        seconds = (utcnow() - started).total_seconds()
        if ran != count:
            raise SystemExit(f"the dispatcher ran {ran} messages, not {count}")
        return seconds

    return run


def _due_again(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(OutboxMessage).values(
                status=OutboxStatus.PENDING, attempts=0, lease_until=None, claimed_by=None, done_at=None
            )
        )
    if engine.dialect.name == "postgresql":  # as autovacuum would: no dead rows left from the last run
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE outbox_message"))


def _taking(server: Sink, run: Callable[[], float]) -> Callable[[], float]:
    """`run`, then empty the server's mailbox (untimed) so it does not grow across runs."""

    def timed() -> float:
        seconds = run()
        server.take()
        return seconds

    return timed


def _bare(server: Sink, mails: list[EmailMessage]) -> float:
    started = utcnow()
    with smtplib.SMTP(server.host, server.port) as smtp:
        for mail in mails:
            smtp.send_message(mail)
    return (utcnow() - started).total_seconds()


def _bare_bytes(server: Sink, mails: list[tuple[str, list[str], bytes]]) -> float:
    started = utcnow()
    with smtplib.SMTP(server.host, server.port) as smtp:
        for sender, recipients, content in mails:
            smtp.sendmail(sender, recipients, content)
    return (utcnow() - started).total_seconds()


def _profile(drain: Callable[[], float], server: Sink) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(drain)
    server.take()
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(30)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a loopback PostgreSQL URL (its database is wiped)")
    parser.add_argument("--reminders", type=int, default=10_000, help="due reminders to drain")
    parser.add_argument("--repeats", type=int, default=3, help="measured runs of each part")
    parser.add_argument("--profile", action="store_true", help="then profile one dispatcher run (cProfile)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
