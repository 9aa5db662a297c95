"""Transactions that serialise writers, on SQLite and PostgreSQL alike."""

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, ExecutionContext
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.util import immutabledict

from .connections import STANDBY
from .driver import READING as _READING
from .driver import driver_cursor, refuse_unbegun_write

_IMMEDIATE = "clinic_begin_immediate"
# On a session whose reads autocommit, and on each connection it takes: see `read_without_transaction`.
_READ_OPTIONS = {"isolation_level": "AUTOCOMMIT", _READING: True}
# What `begin_write` opens on such a session: PostgreSQL's default, which the writers' locks are made for.
_WRITE_OPTIONS = {"isolation_level": "READ COMMITTED", _READING: False}
# Statements whose SQL was written out (text(), exec_driver_sql()) rather than compiled: their first word.
_WRITING_SQL = re.compile(r"\s*(INSERT|UPDATE|DELETE|MERGE|TRUNCATE|COPY)\b", re.IGNORECASE)
# SQLite's codes for a lock it could not take within the busy timeout; PostgreSQL's SQLSTATEs for one it
# could not take within lock_timeout (lock_not_available), and for a statement it ended (query_canceled:
# statement_timeout, or a DBA's pg_cancel_backend).
_BUSY = {"SQLITE_BUSY", "SQLITE_BUSY_SNAPSHOT", "SQLITE_BUSY_RECOVERY", "SQLITE_BUSY_TIMEOUT"}
_GAVE_UP = {"55P03", "57014"}
# PostgreSQL's SQLSTATEs, besides class 08 (connection exception), of a server that would not take a
# connection or ended it: too many connections; shutting down, crashed, still starting up; a standby.
_SERVER_AWAY = {"53300", "57P01", "57P02", "57P03", STANDBY}
# No room left on the disk under the database: SQLite's code, PostgreSQL's SQLSTATE (disk_full).
_SQLITE_FULL = "SQLITE_FULL"
_DISK_FULL = "53100"
# Characters of the driver's message that `driver_reason` keeps.
_REASON_LENGTH = 300
# Text values of a statement shorter than this are left in the driver's words (see `_texts_sent`).
_SHORTEST_HIDDEN = 4


def configure_sqlite(engine: Engine, *, lock_wait: float = 10.0, take_write_lock: bool = True) -> None:
    """Set SQLite's pragmas and give pysqlite real transactions (SQLAlchemy's documented recipe).

    pysqlite by default sends BEGIN only before the first INSERT/UPDATE, so a booking's
    availability check runs outside any transaction and racing bookings all succeed. We
    take over BEGIN ourselves and, for transactions opened by `begin_write`, issue
    `BEGIN IMMEDIATE` so the write lock is held before the check. `take_write_lock=False`
    leaves pysqlite's default in place; it exists only so a test can show that race.
    `lock_wait` is how many seconds a writer waits for the lock before SQLite gives up (`is_busy`).
    """
    busy_timeout_ms = round(lock_wait * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        if take_write_lock:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        # WAL lets readers run beside the one writer; it persists in the file, so set it once.
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() not in ("wal", "memory"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    if take_write_lock:

        @event.listens_for(engine, "begin")
        def _on_begin(connection):
            immediate = connection.get_execution_options().get(_IMMEDIATE, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def configure_postgresql(engine: Engine) -> None:
    """Refuse a write on a connection that reads without a transaction (`read_without_transaction`): it
    would commit on its own, statement by statement, where every write belongs in `begin_write`."""

    @event.listens_for(engine, "before_cursor_execute")
    def _refuse_unbegun_write(connection, _cursor, statement, _parameters, context, _executemany):
        if _writes(statement, context):
            refuse_unbegun_write(connection)


def _writes(statement: str, context: ExecutionContext | None) -> bool:
    if context is not None and (context.isinsert or context.isupdate or context.isdelete):
        return True
    return _WRITING_SQL.match(statement) is not None


def is_busy(error: DBAPIError) -> bool:
    """Whether the database gave up on the statement: waiting for SQLite's write lock ("database is
    locked", SQLITE_BUSY), or on PostgreSQL for any lock past lock_timeout, or running past the
    statement_timeout a DBA set (or ended by one). The transaction was rolled back and nothing of it was
    stored, so the same request may simply be tried again."""
    cause = error.orig
    return getattr(cause, "sqlite_errorname", None) in _BUSY or getattr(cause, "sqlstate", None) in _GAVE_UP


def is_out_of_reach(error: DBAPIError) -> bool:
    """Whether the database could not be reached or dropped the connection (PostgreSQL down, restarting,
    full, cut off or only reading; SQLite's file not there): the request's transaction went with the
    connection, and the request may be tried again once the database answers."""
    if error.connection_invalidated:
        return True
    cause = error.orig
    if getattr(cause, "sqlite_errorname", None) == "SQLITE_CANTOPEN":
        return True
    if not hasattr(cause, "sqlstate"):  # not psycopg's
        return False
    if cause.sqlstate is None:  # psycopg's own: refused, reset or timed out before the server said why
        return isinstance(error, OperationalError)
    return cause.sqlstate.startswith("08") or cause.sqlstate in _SERVER_AWAY


def driver_reason(error: DBAPIError, password: str | None) -> str:
    """What the driver said of `error`, on one line with no secret, for a log or the monitor: the error's
    kind and its message's first line (with the next where that only heads a list, as libpq's of several
    hosts tried), the database URL's `password` left out, and the text values the statement sent (the
    driver may quote one it could not read: an e-mail address, a patient's name). The kind alone,
    "OperationalError", told a database that does not exist, a permanent mistake, from a short outage."""
    lines = [line.strip() for line in str(error.orig).splitlines() if line.strip()]
    said = " ".join(lines[:2] if len(lines) > 1 and lines[0].endswith(":") else lines[:1])
    if password:
        said = said.replace(password, "***")
    for value in sorted(_texts_sent(error.params), key=len, reverse=True):  # a value inside another: after it
        said = said.replace(value, "(a value sent)")
    kind = type(error.orig).__name__
    return f"{kind}: {said[:_REASON_LENGTH]}" if said else kind


def _texts_sent(params: object) -> set[str]:
    """The text values among a statement's parameters (a mapping or sequence of them, or a list of those for
    several rows); none of a few characters, which would blot out the driver's own words."""
    if isinstance(params, str):
        return {params} if len(params) >= _SHORTEST_HIDDEN else set()
    values = params.values() if isinstance(params, Mapping) else params
    if not isinstance(values, Iterable):
        return set()
    return set().union(*(_texts_sent(value) for value in values))


def is_full(error: DBAPIError) -> bool:
    """Whether the disk under the database is full: the write was rolled back and nothing of it stored. Reads
    are still served; writes fail until someone makes room, so this is worth IT's attention."""
    cause = error.orig
    return (
        getattr(cause, "sqlite_errorname", None) == _SQLITE_FULL
        or getattr(cause, "sqlstate", None) == _DISK_FULL
    )


def begin_write(session: Session) -> None:
    """Start the session's transaction as a serialising write transaction.

    On SQLite this is `BEGIN IMMEDIATE` (one writer at a time, waiting up to the busy
    timeout); on PostgreSQL an ordinary transaction, in which callers lock rows. A read
    transaction already open is ended first (see `end_transaction`): SQLite cannot upgrade it
    to a writer once another connection has written.
    """
    if isinstance(session, scoped_session):
        session = session()
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("begin_write() called with unflushed changes in the session")
        end_transaction(session)
    reading = session.execution_options.get(_READING, False)
    session.connection(execution_options={_IMMEDIATE: True, **(_WRITE_OPTIONS if reading else {})})


def read_without_transaction(session: Session) -> None:
    """From now until `stop_reading`, let the session's reads on PostgreSQL run outside any transaction,
    each SELECT committing on its own; `begin_write` still opens a transaction for a write.

    For a request: its reads cost their statements' round trips alone, where a transaction around them
    added three (BEGIN, the check that nothing was written, COMMIT; see `end_unwritten`). A read loses no
    consistency by it: under READ COMMITTED each statement of a transaction takes its own snapshot too.
    A session already in a transaction, and SQLite's (`configure_sqlite` sends their BEGIN), keep theirs.
    """
    if isinstance(session, scoped_session):
        session = session()
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        session.execution_options = session.execution_options.union(_READ_OPTIONS)


def stop_reading(session: Session, *, failed: bool = False) -> None:
    """End what `read_without_transaction` began, and the session's transaction with it: a read's ends
    without a round trip, one that wrote nothing by COMMIT (see `end_unwritten`); any other, and any
    transaction of a request that `failed`, by the rollback (which the session's close would do)."""
    if isinstance(session, scoped_session):
        session = session()
    if failed or _reads_autocommit(session):  # a read's rollback sends nothing: no transaction is open
        session.rollback()
    else:
        end_unwritten(session)
    if session.execution_options.get(_READING):
        session.execution_options = immutabledict(
            {name: value for name, value in session.execution_options.items() if name not in _READ_OPTIONS}
        )


def _reads_autocommit(session: Session) -> bool:
    transaction = session.get_transaction()
    if transaction is None or not transaction.is_active:
        return False
    # The connections it holds, never a new one: a transaction whose connection could not be had (the
    # database out of reach) ran nothing, and a second attempt here would raise from Flask's teardown.
    held = transaction.connections
    return not held or any(connection.get_execution_options().get(_READING, False) for connection in held)


def serialising(connection: Connection) -> Connection:
    """`connection` (Core, held by its caller) with every transaction it begins from now on a serialising
    write transaction, as `begin_write` makes one for a session."""
    return connection.execution_options(**{_IMMEDIATE: True})


def autocommitting(connection: Connection) -> Connection:
    """`connection` (Core, held by its caller) with each statement on PostgreSQL its own transaction: no
    BEGIN, COMMIT or ROLLBACK round trips around it (two of the three a one-statement transaction takes),
    and no rollback to make psycopg forget what it prepared (see `end_unwritten`). Only for a caller
    whose every transaction is one statement, or a read: nothing makes two statements atomic any more.
    SQLite's connections are left as they are: `configure_sqlite` sends their BEGIN itself."""
    if connection.dialect.name != "postgresql":
        return connection
    return connection.execution_options(isolation_level="AUTOCOMMIT")


def commit_as_written(session: Session) -> None:
    """Commit, and keep the session's objects loaded as they were written rather than expire them: a
    writer that read and wrote its rows under lock need not read them back (one round trip, and the
    ORM's loading of each row), and its caller may use them after the session is closed."""
    if isinstance(session, scoped_session):
        session = session()
    expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire_on_commit


def end_unwritten(session: Session) -> None:
    """Commit the session's PostgreSQL transaction if it wrote nothing; leave any other to the rollback of
    the session's close.

    psycopg forgets every statement it has prepared when a transaction rolls back (it cannot tell what
    the rollback undid), and each request's transaction ended in one: no statement stayed prepared past
    its request, so PostgreSQL parsed and planned every statement of every page anew (about a third of a
    millisecond for the slot search's). A transaction PostgreSQL gave no transaction id changed no row:
    committing it undoes nothing a rollback would have undone, and keeps what psycopg prepared.
    """
    if isinstance(session, scoped_session):
        session = session()
    transaction = session.get_transaction()
    if (
        transaction is None  # a request that read nothing, or committed: nothing to look up
        or not transaction.is_active
        or session.in_nested_transaction()
        or session.new
        or session.dirty
        or session.deleted
    ):
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        return
    try:
        with driver_cursor(session) as cursor:
            cursor.execute("SELECT txid_current_if_assigned() IS NULL")
            (unwritten,) = cursor.fetchone()
    except DBAPIError:
        return  # a failed transaction, or a lost connection: the rollback deals with either
    if unwritten:
        session.commit()


def end_transaction(session: Session) -> None:
    """End the session's transaction: committed if it wrote nothing (see `end_unwritten`), else rolled back.

    For a read ended before a write: when a rollback ended it, each booking made psycopg forget what its
    connection had prepared, and under load hardly a statement of any page stayed prepared."""
    if isinstance(session, scoped_session):
        session = session()
    if not _reads_autocommit(session):
        end_unwritten(session)
    if session.in_transaction():
        session.rollback()


@contextmanager
def write_transaction(session: Session) -> Iterator[None]:
    """A serialising write transaction (see `begin_write`), committed on success, else rolled back."""
    begin_write(session)
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise


def lock_rule(session: Session, rule: str) -> None:
    """Hold the lock of `rule` until the write transaction ends: for a writer that checks a rule over many
    rows before it writes (no two departments named alike), which no row lock covers, so that writers of
    the same rule are served one after the other and each checks what the one before wrote. On PostgreSQL
    an advisory lock, taken before the check: under READ COMMITTED its statements then see the last
    holder's rows; SQLite's BEGIN IMMEDIATE holds the database's one write lock already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_RULE_LOCK, {"rule": f"clinic.rule:{rule}"})


_RULE_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:rule, 0))")
