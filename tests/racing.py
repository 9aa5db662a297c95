"""Racing threads against the real database: one connection each, released together by a barrier."""

import threading
import time as clock
from collections.abc import Callable

from sqlalchemy import create_engine, event
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
