"""Inserting a row on a hot path without the ORM's unit of work."""

from functools import cache
from typing import Any

from sqlalchemy import Column, Insert, insert, inspect
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value


def insert_loaded(session: Session, *instances: object, **related: Any) -> None:
    """INSERT new `instances` of one class by one statement and attach them to the session as if
    loaded from it.

    For writers that run on every request (a booking): the unit of work's flush costs about a
    millisecond of CPU per row, several times the database's work for it. The rows' columns come back
    from the INSERT (defaults included), so nothing needs reloading. Set foreign keys as ids;
    `related` gives relationships already known (e.g. `service=service`), which are set as loaded.
    Relationships not given load lazily, as on any loaded instance.
    """
    statement, columns = _insert_returning(inspect(instances[0]).mapper)
    given = [vars(instance) for instance in instances]
    values = [{column.key: row[key] for key, column in columns.items() if key in row} for row in given]
    rows = session.connection().execute(statement, values).all()
    for instance, row in zip(instances, rows, strict=True):
        # Straight into the instance's dict: make_transient_to_detached commits all of it as loaded.
        vars(instance).update(zip(columns, row, strict=True))
        for name, value in related.items():
            set_committed_value(instance, name, value)
        make_transient_to_detached(instance)
        session.add(instance)


def insert_rows(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    """INSERT `rows` (column values by attribute name) of `model` in the session's transaction, leaving
    the session out of it: for rows nobody reads back in the transaction (a booking's outbox messages).
    Cheaper again than `insert_loaded`, which builds the instances and reads every column back."""
    session.connection().execute(_plain_insert(model), rows)


@cache
def _plain_insert(model: type) -> Insert:
    return insert(inspect(model).local_table)


@cache
def _insert_returning(mapper: Mapper) -> tuple[Insert, dict[str, Column]]:
    """The INSERT returning every mapped column, and those columns by attribute name, in its order."""
    columns = {prop.key: prop.columns[0] for prop in mapper.column_attrs}
    # Rows come back in the order given, which several rows in one statement do not promise otherwise.
    return insert(mapper.local_table).returning(*columns.values(), sort_by_parameter_order=True), columns
