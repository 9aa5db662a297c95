"""Pooled connections that PostgreSQL has closed are replaced before anyone uses them."""

import select

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError


def replace_closed_connections(engine: Engine) -> None:
    """Before the pool hands out a connection, check that PostgreSQL has not closed it: a restart,
    pg_terminate_backend or an idle timeout would otherwise fail the request that used it next.

    A server that ends a session first tells its client why, then closes the socket; between requests a
    connection is sent nothing else. So a socket with anything to read at checkout belongs to a
    connection to replace, and the pool opens a new one (up to three tries) before the request runs.
    Reading the socket's state costs no round trip, where the pool's pre-ping sent each request a
    `SELECT 1` first. Something sent that a connection could have survived (a notice, a changed setting)
    only costs a new connection.
    """

    @event.listens_for(engine, "checkout")
    def _replace_if_closed(dbapi_connection, _record, _proxy) -> None:
        if dbapi_connection.closed or _has_input(dbapi_connection.fileno()):
            raise DisconnectionError("PostgreSQL closed this pooled connection")


def _has_input(fileno: int) -> bool:
    """Whether the socket has data or its end to read, without waiting: poll, so any descriptor number
    works (select() cannot watch one past 1023)."""
    poll = select.poll()
    poll.register(fileno, select.POLLIN)
    return bool(poll.poll(0))
