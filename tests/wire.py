"""What a test's requests sent the database, read at the driver: on whichever path a statement ran,
SQLAlchemy's execution or Clinic's own past it (clinic/models/driver.py), which engine events do not see."""

import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

from psycopg import pq

from .conftest import listening


@contextmanager
def wire(engine, *, from_connect: bool = False) -> Iterator[list[str]]:
    """What the client sent PostgreSQL on the pool's connections in the block, as libpq traces it: one
    line per message (`Query "BEGIN"`, `Parse … "SELECT …"`, `Sync`), filled in when the block ends.
    Traced from each checkout to its checkin or the block's end; `from_connect`: from each connection's
    opening to the block's end, the pool's own messages at checkout included."""
    sent: list[str] = []
    with tempfile.TemporaryFile() as log:

        def trace(dbapi_connection) -> None:
            dbapi_connection.pgconn.trace(log.fileno())
            dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

        def untrace(dbapi_connection) -> None:
            if not dbapi_connection.closed:
                dbapi_connection.pgconn.untrace()  # flushes libpq's buffer to the file

        with _tracing(engine, trace, untrace, from_connect=from_connect):
            yield sent
        log.seek(0)
        sent += _frontend_messages(log.read().decode())


@contextmanager
def _tracing(
    engine, trace: Callable[[Any], None], untrace: Callable[[Any], None], *, from_connect: bool = False
) -> Iterator[None]:
    """`trace` each of the pool's connections from its checkout (`from_connect`: its opening) and `untrace`
    it at its checkin or the block's end, whichever comes first: one still checked out when the block
    ends (a session's) would go on tracing into what the block has stopped reading."""
    traced = []

    def start(dbapi_connection, *_record_and_proxy) -> None:
        trace(dbapi_connection)
        traced.append(dbapi_connection)

    def stop(dbapi_connection, _record=None) -> None:
        untrace(dbapi_connection)

    listened = [("connect", start)] if from_connect else [("checkout", start), ("checkin", stop)]
    try:
        with ExitStack() as listening_to:
            for name, listener in listened:
                listening_to.enter_context(listening(engine, name, listener))
            yield
    finally:
        for dbapi_connection in traced:
            untrace(dbapi_connection)


def _frontend_messages(trace: str) -> list[str]:
    """The client's messages in a libpq trace: lines "F<tab>length<tab>message", a statement's own line
    breaks continuing its message on the lines after."""
    messages: list[tuple[str, str]] = []
    for line in trace.splitlines():
        if start := re.match(r"([FB])\t\d+\t", line):
            messages.append((start[1], line[start.end() :]))
        elif messages:
            messages[-1] = (messages[-1][0], f"{messages[-1][1]}\n{line}")
    return [message for direction, message in messages if direction == "F"]


def round_trips(sent: list[str]) -> int:
    """Each simple Query, and each Sync that ends an extended-protocol statement, waits for an answer."""
    return sum(message.startswith(("Query", "Sync")) for message in sent)


def statements(sent: list[str], *words: str) -> list[str]:
    return [message for message in sent if any(word in message for word in words)]


@contextmanager
def statements_sent(engine) -> Iterator[list[str]]:
    """Each statement the driver ran on the pool's connections in the block, BEGIN and COMMIT included, from
    each checkout to its checkin: on SQLite its SQL as SQLite traces it; on PostgreSQL its message as
    libpq traces it, `Query "…"`, or `Execute` for one of the extended protocol (whose SQL a prepared
    statement does not carry). Filled in when the block ends."""
    if engine.dialect.name == "postgresql":
        with wire(engine) as sent:
            run: list[str] = []
            yield run
        run += [message for message in sent if message.startswith(("Query", "Execute"))]
        return
    run = []
    with _tracing(engine, lambda sqlite: sqlite.set_trace_callback(run.append), _stop_sqlite_trace):
        yield run


def _stop_sqlite_trace(dbapi_connection) -> None:
    with suppress(sqlite3.ProgrammingError):  # closed, which ended its trace too
        dbapi_connection.set_trace_callback(None)
