"""Pooled connections that PostgreSQL has closed are replaced before anyone uses them, and those to a
server that only reads once it refuses a write."""

import select

from sqlalchemy import event
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.exc import DisconnectionError

# PostgreSQL's SQLSTATE of a write in a transaction that may only read: on a standby, which the primary's
# address still leads to for a while after a failover (or the primary, demoted).
STANDBY = "25006"


def on_a_standby(error: BaseException) -> bool:
    """Whether the driver's `error` is a write refused by a server that only reads."""
    return getattr(error, "sqlstate", None) == STANDBY


def replace_closed_connections(engine: Engine) -> None:
    """Before the pool hands out a connection, check that PostgreSQL has not closed it: a restart,
    pg_terminate_backend or an idle timeout would otherwise fail the request that used it next.

    A server that ends a session first tells its client why, then closes the socket; between requests a
    connection is sent nothing else. So a socket with anything to read at checkout belongs to a
    connection to replace, and the pool opens a new one (up to three tries) before the request runs.
    Reading the socket's state costs no round trip, where the pool's pre-ping sent each request a
    `SELECT 1` first. Something sent that a connection could have survived (a notice, a changed setting)
    only costs a new connection.

    A write refused as the server only reads (a standby) is taken for a lost connection: the pool's
    connections are all replaced, and the request is answered as if PostgreSQL were away.
    """

    @event.listens_for(engine, "checkout")
    def _replace_if_closed(dbapi_connection, _record, _proxy) -> None:
        if closed_by_server(dbapi_connection):
            raise DisconnectionError("PostgreSQL closed this pooled connection")

    @event.listens_for(engine, "handle_error")
    def _replace_all_on_a_standby(context: ExceptionContext) -> None:
        # None of them will ever write, where a new connection to the same address may reach the new
        # primary: as a disconnect, this one is invalidated, and the pool's others with it.
        if on_a_standby(context.original_exception):
            context.is_disconnect = True


def closed_by_server(dbapi_connection: object) -> bool:
    """Whether PostgreSQL has closed (or is closing) this psycopg connection, idle since its last
    statement, as `replace_closed_connections` tells; False for SQLite's, whose file nobody closes."""
    if not hasattr(dbapi_connection, "fileno"):
        return False
    return dbapi_connection.closed or _has_input(dbapi_connection.fileno())


def _has_input(fileno: int) -> bool:
    """Whether the socket has data or its end to read, without waiting: poll, so any descriptor number
    works (select() cannot watch one past 1023)."""
    poll = select.poll()
    poll.register(fileno, select.POLLIN)
    return bool(poll.poll(0))
