"""Statements run on the DB-API cursor of a session's transaction, past SQLAlchemy's execution.

For the small statements a booking or a page runs every time (locks, lookups by key, the calendar
query, a booking's INSERTs): SQLAlchemy's execution of a statement costs about 150 µs of CPU on top of
the driver's 50–90, more than the database spends on it. The statement is still compiled by SQLAlchemy,
once, and its column types still convert what goes in and comes out (their bind and result processors,
and the columns' Python-side defaults of an INSERT); only the execution context and the Result around
the cursor are left out. No ORM events and no engine events fire for these statements.

A statement that only reads, from a session that reads without a transaction and holds no connection (a
page's reads on PostgreSQL: transactions.read_without_transaction), runs on a connection taken from the
engine's pool for that statement alone (`read_cursor`). The session would otherwise begin a transaction
object, take a connection and switch it to autocommit, then roll back, reset and return it: about 80 µs
of CPU a request, against 15 µs a statement for the pool's connection alone.
"""

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import ClauseElement, Insert
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, scoped_session

from .connections import on_a_standby

# The execution option marking a session's connection that reads without a transaction (see
# transactions.read_without_transaction): a write on it would commit on its own.
READING = "clinic_reading"


# A statement with its parameters' values, by name.
Statement = tuple[ClauseElement, Mapping[str, Any]]


def driver_rows(session: Session, statement: ClauseElement, parameters: Mapping[str, Any]) -> list[tuple]:
    """The rows `statement` returns (none for one that returns none), run in the session's transaction.

    A statement that SQLAlchemy must rewrite as it runs (an IN list of a length known then) goes through
    its execution instead: the same rows, at its cost."""
    prepared = _prepared(statement, session.get_bind().dialect, _keys(statement, parameters), many=False)
    if prepared is None:
        result = session.connection().execute(statement, parameters)
        return [tuple(row) for row in result] if result.returns_rows else []
    with _cursor_to(session, writes=prepared.writes) as cursor:
        cursor.execute(prepared.sql, prepared.bound(parameters))
        return _fetched(prepared, cursor)


def driver_executemany(session: Session, statement: ClauseElement, rows: list[Mapping[str, Any]]) -> None:
    """Run `statement` (one returning nothing) once for each of `rows`, all with the same keys, in the
    session's transaction: in one round trip on psycopg (its pipeline)."""
    prepared = _prepared(statement, session.get_bind().dialect, _keys(statement, rows[0]), many=True)
    if prepared is None:
        session.connection().execute(statement, rows)
        return
    if prepared.writes:
        refuse_unbegun_write(session.connection())
    with driver_cursor(session) as cursor:
        cursor.executemany(prepared.sql, [prepared.bound(row) for row in rows])


def driver_batch(session: Session, *statements: Statement) -> list[list[tuple]]:
    """The rows of each (statement, parameters), as `driver_rows` gives them, run in order in the session's
    transaction: on psycopg in one round trip (its pipeline mode), elsewhere one after the other.

    For statements sent without waiting for one another's answers, such as a lock and the reads that
    follow it. Each still runs as a statement of its own: under READ COMMITTED a read sent after a lock
    sees what the lock's previous holder committed, as when sent once the lock was taken.
    """
    if not statements:
        return []
    dialect = session.get_bind().dialect
    prepared = [_prepared(s, dialect, _keys(s, parameters), many=False) for s, parameters in statements]
    if len(statements) == 1 or dialect.driver != "psycopg" or None in prepared:
        return [driver_rows(session, statement, parameters) for statement, parameters in statements]
    with _cursor_to(session, writes=any(p.writes for p in prepared)) as cursor:
        pipelined = cursor.connection
        cursors = [cursor, *(pipelined.cursor() for _ in prepared[1:])]
        try:
            with pipelined.pipeline():
                for each, p, (_, parameters) in zip(cursors, prepared, statements, strict=True):
                    each.execute(p.sql, p.bound(parameters))
            return [_fetched(p, c) for p, c in zip(prepared, cursors, strict=True)]
        finally:
            for each in cursors[1:]:
                each.close()


def _fetched(prepared: "_Prepared", cursor: Any) -> list[tuple]:
    """The rows of the statement the cursor ran, none for one that returns none. Whether it returns any:
    psycopg's result says by its field count, where its `description` would make an object per column."""
    result = getattr(cursor, "pgresult", None)
    returns_rows = result.nfields > 0 if result is not None else bool(cursor.description)
    return prepared.rows(cursor.fetchall()) if returns_rows else []


def _cursor_to(session: Session, *, writes: bool) -> AbstractContextManager[Any]:
    """The cursor for statements that write (the session's transaction's, refused on a session that
    reads without one) or only read (`read_cursor`)."""
    if writes:
        refuse_unbegun_write(session.connection())
        return driver_cursor(session)
    return read_cursor(session)


def refuse_unbegun_write(connection: Connection) -> None:
    """Raise if `connection` reads without a transaction. An engine event calls this for every write
    SQLAlchemy executes (transactions.configure_postgresql); the writes here, which it never sees, call
    it themselves."""
    if connection.get_execution_options().get(READING):
        raise RuntimeError("a write outside begin_write(), on a session that reads without a transaction")


@contextmanager
def driver_cursor(session: Session) -> Iterator[Any]:
    """A DB-API cursor of the session's transaction, closed after the block.

    The driver's errors leave the block as SQLAlchemy's execution raises them (an IntegrityError, an
    OperationalError), so that a caller catches one family of errors whichever path ran the statement.
    """
    connection = session.connection()
    with _cursor(connection.connection, connection.engine, connection.invalidate) as cursor:
        yield cursor


@contextmanager
def read_cursor(session: Session) -> Iterator[Any]:
    """A DB-API cursor for statements that only read, closed after the block: the session's own (see
    `driver_cursor`), unless the session reads without a transaction and holds no connection. Then a
    connection of the pool's, in autocommit for the block and handed back as the pool gave it: no
    transaction object, no BEGIN and no ROLLBACK, and nothing the session would have to end.

    The same rows either way: outside a transaction each statement sees what was committed before it
    began, on any connection. A session in a transaction (a write's, or one a read through the ORM
    began) keeps its statements on its own connection, which sees its uncommitted writes and holds
    its locks; and a request never holds a second connection for its reads."""
    if isinstance(session, scoped_session):
        session = session()
    if not session.execution_options.get(READING) or session.get_transaction() is not None:
        with driver_cursor(session) as cursor:
            yield cursor
        return
    engine = session.get_bind()
    pooled = _checkout(engine)
    try:
        pooled.driver_connection.autocommit = True
        with _cursor(pooled, engine, pooled.invalidate) as cursor:
            yield cursor
    finally:
        _return_to_pool(pooled)


@contextmanager
def _cursor(connection: Any, engine: Engine, invalidate: Callable[[BaseException], None]) -> Iterator[Any]:
    """A cursor of `engine`'s pooled `connection`, closed after the block, which the driver's errors leave
    as SQLAlchemy's (`_as_sqlalchemy_raises`); `invalidate` discards the connection if one lost it."""
    cursor = connection.cursor()
    try:
        yield cursor
    except engine.dialect.loaded_dbapi.Error as error:
        raise _as_sqlalchemy_raises(engine, invalidate, cursor, error) from error
    finally:
        cursor.close()


def _checkout(engine: Engine) -> Any:
    """A connection of the engine's pool (whose checkout replaces one PostgreSQL closed). One that cannot
    be opened raises as SQLAlchemy's own checkout raises it: a DBAPIError, not the driver's error."""
    dialect = engine.dialect
    try:
        return engine.raw_connection()
    except dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(None, None, error, dialect.loaded_dbapi.Error, dialect=dialect) from error


def _return_to_pool(pooled: Any) -> None:
    """Back to the pool out of autocommit, as it hands connections out: whoever takes it next expects its
    first statement to begin a transaction. One that cannot be set back is invalidated instead."""
    if pooled.dbapi_connection is None:
        return  # invalidated, which gave it back to the pool
    try:
        pooled.driver_connection.autocommit = False
    except Exception as error:  # whatever went wrong, the connection must not be reused
        pooled.invalidate(error)
        return
    pooled.close()


def _as_sqlalchemy_raises(
    engine: Engine, invalidate: Callable[[BaseException], None], cursor: Any, error: Exception
) -> BaseException:
    """`error` wrapped as SQLAlchemy's execution wraps it, without the statement's parameters (patients'
    details); a connection it lost is invalidated, as there, so the pool does not hand it out again. A
    write refused by a standby loses the pool's every connection (see models.connections), as there."""
    dialect = engine.dialect
    standby = on_a_standby(error)
    lost = standby or dialect.is_disconnect(error, cursor.connection, cursor)
    if lost:
        invalidate(error)
    if standby:
        engine.dispose()
    return DBAPIError.instance(
        None, None, error, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
    )


@dataclass(frozen=True)
class _Prepared:
    """A statement as the dialect's driver takes it, with what converts its values on the way."""

    sql: str
    writes: bool  # an INSERT, UPDATE or DELETE
    order: tuple[str, ...] | None  # the parameters' names in order, for a driver taking them by position
    constants: dict[str, Any]  # the values the statement holds itself (a LIMIT, an IN list), converted
    defaults: tuple[tuple[str, Callable[[], Any]], ...]  # an INSERT's columns not given: their defaults
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]  # each given parameter's type conversion, if any
    results: tuple[Callable[[Any], Any] | None, ...]  # each returned column's, if any has one

    def bound(self, parameters: Mapping[str, Any]) -> Mapping[str, Any] | list[Any]:
        if self.constants or self.defaults or self.binds:
            parameters = {**self.constants, **parameters}
            for name, default in self.defaults:
                parameters[name] = default()
            for name, convert in self.binds:
                parameters[name] = convert(parameters[name])
        return parameters if self.order is None else [parameters[name] for name in self.order]

    def rows(self, rows: list[tuple]) -> list[tuple]:
        if not self.results:
            return rows
        converts = self.results
        return [tuple(v if c is None else c(v) for c, v in zip(converts, row, strict=True)) for row in rows]


def _keys(statement: ClauseElement, parameters: Mapping[str, Any]) -> frozenset[str] | None:
    """The columns an INSERT is given, which decide its SQL; None for any other statement."""
    return frozenset(parameters) if isinstance(statement, Insert) else None


@lru_cache(maxsize=256)
def _prepared(
    statement: ClauseElement, dialect: Dialect, keys: frozenset[str] | None, *, many: bool
) -> _Prepared | None:
    """The statement ready for the driver; None if SQLAlchemy's execution must rewrite it as it runs (for an
    IN list or a value to render that the caller gives) or run a column's default. `many`: for
    executemany, where an INSERT asks for nothing back (run once, SQLAlchemy's adds RETURNING of the new
    row's key)."""
    column_keys = None if keys is None else sorted(keys)
    compiled = statement.compile(dialect=dialect, column_keys=column_keys, for_executemany=many)
    given = {name for bind, name in compiled.bind_names.items() if bind.required}
    defaults = tuple((column.key, _default(column.default)) for column in compiled.insert_prefetch)
    if (
        compiled.escaped_bind_names
        or any(bind.required for bind in compiled.literal_execute_params | compiled.post_compile_params)
        or any(bind.callable is not None for bind in compiled.binds.values())  # a value known when it runs
        or any(default is None for _, default in defaults)
    ):
        return None
    # The statement's own values: IN lists spread into one parameter per item and values to render in the
    # SQL written into it (string_agg's separator), as SQLAlchemy's execution does.
    expanded = compiled.construct_expanded_state(dict.fromkeys(given))
    convert = {**compiled._bind_processors, **expanded.processors}
    defaulted = {name for name, _ in defaults}
    constants = {
        name: convert[name](value) if name in convert else value
        for name, value in expanded.parameters.items()
        if name not in given and name not in defaulted
    }
    # Without the driver's type code: no type of ours reads it (Numeric would, and has no column here).
    results = tuple(c.type._cached_result_processor(dialect, None) for c in compiled._result_columns)
    return _Prepared(
        sql=expanded.statement,
        writes=compiled.isinsert or compiled.isupdate or compiled.isdelete,
        order=tuple(expanded.positiontup) if compiled.positional else None,
        constants=constants,
        defaults=defaults,
        binds=tuple((name, convert[name]) for name in given | defaulted if name in convert),
        results=results if any(results) else (),
    )


def _default(default: Any) -> Callable[[], Any] | None:
    """A column's Python-side default as a function of nothing, for a constant or a callable of no
    arguments (`utcnow`, `dict`); None for any other (a sequence, SQL), which SQLAlchemy's execution runs."""
    if default.is_scalar:
        return lambda: default.arg
    if default.is_callable and getattr(default.arg, "__wrapped__", None) is not None:
        return lambda: default.arg(None)  # SQLAlchemy wrapped the callable of no arguments to take a context
    return None
