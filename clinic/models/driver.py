"""Statements run on the DB-API cursor of a session's transaction, past SQLAlchemy's execution.

For the few small statements a booking runs every time (its locks and lookups by key): SQLAlchemy's
execution of a statement costs about 150 µs of CPU on top of the driver's 50–90, more than the
database spends on it. Only for statements whose parameters and columns the driver takes and gives as
they are (text and integers): no type of ours converts them here.
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import ClauseElement
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session


def driver_rows(session: Session, statement: ClauseElement, parameters: Mapping[str, Any]) -> list[tuple]:
    """The rows `statement` returns (none for one that returns none), run in the session's transaction."""
    sql, order = _driver_sql(statement, session.get_bind().dialect)
    with driver_cursor(session) as cursor:
        cursor.execute(sql, parameters if order is None else [parameters[name] for name in order])
        return cursor.fetchall() if cursor.description else []


@contextmanager
def driver_cursor(session: Session) -> Iterator[Any]:
    """A DB-API cursor of the session's transaction, closed after the block."""
    cursor = session.connection().connection.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


@lru_cache(maxsize=256)
def _driver_sql(statement: ClauseElement, dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    """The statement as the dialect's driver takes it, compiled once, and for a driver taking
    parameters by position (SQLite's), their names in that order."""
    compiled = statement.compile(dialect=dialect)
    return str(compiled), tuple(compiled.positiontup) if compiled.positional else None
