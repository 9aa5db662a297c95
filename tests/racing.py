"""Racing threads against the real database: one connection each, released together by a barrier."""

import threading
import time as clock
from collections.abc import Callable

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from clinic.models.transactions import configure_sqlite


def racing_engine(url: str, racers: int, slow_read: Callable[[str], bool], *, take_write_lock: bool = True):
    """An engine with one connection per racer that pauses after each SELECT `slow_read` picks out: the
    time between a check and the write that follows it, which racers exploit."""
    engine = create_engine(url, pool_size=racers, max_overflow=0)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine, take_write_lock=take_write_lock)

    @event.listens_for(engine, "after_cursor_execute")
    def _slow_check(conn, cursor, statement, *_):
        if statement.lstrip().upper().startswith("SELECT") and slow_read(statement):
            clock.sleep(0.02)

    return engine


def race(engine, attempts: list[Callable[[Session], object]]) -> list[object]:
    """Run every attempt at once, one thread and session each; return each one's result or exception."""
    barrier = threading.Barrier(len(attempts))
    outcomes: list[object] = [None] * len(attempts)

    def run(i: int) -> None:
        with Session(engine) as session:
            barrier.wait()
            try:
                outcomes[i] = attempts[i](session)
            except Exception as exc:  # the outcome is what we assert on
                outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def wait_for_a_lock_wait(connection: Connection) -> None:
    """Until another backend waits for a lock (on PostgreSQL): one held by `connection`, say, which the
    caller lets go once something is known to wait for it."""
    waiting = text("SELECT EXISTS (SELECT FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid())")
    deadline = clock.monotonic() + 20
    while not connection.execute(waiting).scalar() and clock.monotonic() < deadline:
        clock.sleep(0.01)
