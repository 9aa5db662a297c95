"""Inserting rows on a hot path without the ORM's unit of work or SQLAlchemy's execution."""

from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import Column, Insert, insert, inspect
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from .driver import Statement, driver_executemany, driver_rows


def insert_loaded(session: Session, instance: object, **related: Any) -> None:
    """INSERT a new `instance` by one statement and attach it to the session as if loaded from it.

    For writers that run on every request (a booking): the unit of work's flush costs about a
    millisecond of CPU per row, several times the database's work for it. The columns the instance
    was not given come back from the INSERT (its id and defaults), so nothing needs reloading; those
    given keep their values, as after a flush. Set foreign keys as ids; `related` gives relationships
    already known (e.g. `service=service`), which are set as loaded. Relationships not given load
    lazily, as on any loaded instance.
    """
    mapper = inspect(instance).mapper
    columns = _columns(mapper)
    given = {key: value for key, value in vars(instance).items() if key in columns}
    statement, returned = _insert_returning(mapper, frozenset(given))
    # By column name: an attribute may name its column apart (link_seed, manage_token_hash).
    row = insert_returning(session, statement, {columns[key].key: value for key, value in given.items()})
    # Straight into the instance's dict: make_transient_to_detached commits all of it as loaded.
    vars(instance).update(zip(returned, row, strict=True))
    for name, value in related.items():
        set_committed_value(instance, name, value)
    make_transient_to_detached(instance)
    session.add(instance)


def insert_returning(session: Session, statement: Insert, values: Mapping[str, Any]) -> tuple:
    """Run `statement`, an INSERT of one row RETURNING some of its columns, with `values` (by column name)
    in the session's write transaction; the row it returns."""
    return driver_rows(session, statement, values)[0]


def insert_rows(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    """INSERT `rows` (values by column name, the same columns in each) into `model`'s table in the
    session's transaction, leaving the session out of it: for rows nobody reads back in the transaction
    (a booking's outbox messages). Cheaper again than `insert_loaded`, which builds the instances and
    reads columns back."""
    driver_executemany(session, _plain_insert(model), rows)


def insert_statements(model: type, rows: list[dict[str, Any]]) -> list[Statement]:
    """`rows` as INSERTs into `model`'s table, for a writer that sends them with its other statements
    (`driver_batch`): rows nobody reads back in the transaction, as for `insert_rows`."""
    statement = _plain_insert(model)
    return [(statement, row) for row in rows]


@cache
def _plain_insert(model: type) -> Insert:
    return insert(inspect(model).local_table)


@cache
def _columns(mapper: Mapper) -> dict[str, Column]:
    """The mapped columns by attribute name."""
    return {prop.key: prop.columns[0] for prop in mapper.column_attrs}


@cache
def _insert_returning(mapper: Mapper, given: frozenset[str]) -> tuple[Insert, list[str]]:
    """The INSERT of the `given` attributes returning the others, and the names of those, in its order."""
    returned = [key for key in _columns(mapper) if key not in given]
    statement = insert(mapper.local_table).returning(*(_columns(mapper)[key] for key in returned))
    return statement, returned
