"""Racing threads against the real database: one connection each, released together by a barrier."""

import sqlite3
import threading
import time as clock
from collections.abc import Callable

import psycopg
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from clinic.models.transactions import configure_sqlite


def racing_engine(url: str, racers: int, slow_read: Callable[[str], bool], *, take_write_lock: bool = True):
    """An engine with one connection per racer that pauses after each SELECT `slow_read` picks out has
    returned its rows: the time between a check and the write that follows it, which racers exploit.

    The pause is the driver's cursor's, so it holds for every statement, also those Clinic runs past
    SQLAlchemy's execution (clinic.models.driver), which no engine event sees: a booking's check is one.
    `take_write_lock=False` is for a control, the test that shows the race the lock prevents: there the
    racers meet after their first such SELECT, so every one of them checks before any of them writes."""
    meeting = None if take_write_lock else threading.Barrier(racers, timeout=20)
    racer = threading.local()

    def pause() -> None:
        if meeting is not None and not getattr(racer, "met", False):
            racer.met = True
            meeting.wait()
        else:
            clock.sleep(0.02)

    engine = create_engine(
        url, pool_size=racers, max_overflow=0, connect_args=pausing_driver(url, slow_read, pause)
    )
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine, take_write_lock=take_write_lock)
    return engine


def pausing_driver(url: str, slow_read: Callable[[str], bool], pause: Callable[[], None]) -> dict:
    """Connection arguments giving the driver's connections cursors that `pause` once a SELECT that
    `slow_read` picks out has returned its rows (the first fetch after its execute)."""

    class Pausing:
        _pause_at_fetch = False

        def execute(self, statement, *args, **kwargs):
            self._pause_at_fetch = (
                isinstance(statement, str)
                and statement.lstrip().upper().startswith("SELECT")
                and slow_read(statement)
            )
            return super().execute(statement, *args, **kwargs)

        def _after_fetch(self, rows):
            if self._pause_at_fetch:
                self._pause_at_fetch = False
                pause()
            return rows

        def fetchone(self):
            return self._after_fetch(super().fetchone())

        def fetchmany(self, *args, **kwargs):
            return self._after_fetch(super().fetchmany(*args, **kwargs))

        def fetchall(self):
            return self._after_fetch(super().fetchall())

    if make_url(url).get_backend_name() == "sqlite":

        class SQLiteCursor(Pausing, sqlite3.Cursor):
            pass

        class SQLiteConnection(sqlite3.Connection):
            def cursor(self, factory=SQLiteCursor):
                return super().cursor(factory)

        return {"factory": SQLiteConnection}

    class PsycopgCursor(Pausing, psycopg.Cursor):
        pass

    return {"cursor_factory": PsycopgCursor}


def race(engine, attempts: list[Callable[[Session], object]]) -> list[object]:
    """Run every attempt at once, one thread and session each; return each one's result or exception.
    Attempts take ids, not the test's ORM objects: reading an expired one would load it through the
    test's session from every thread at once, which SQLAlchemy refuses."""
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
