"""The race tests' own engine: its pause after a check must hold on every path a check can take."""

import time as clock

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic.models import Clinician
from clinic.models.driver import driver_rows

from .racing import racing_engine

CHECK = select(Clinician.id)


@pytest.mark.parametrize(
    "run",
    [
        pytest.param(lambda session: session.execute(CHECK).all(), id="through SQLAlchemy"),
        pytest.param(lambda session: driver_rows(session, CHECK, {}), id="past it, on the driver's cursor"),
    ],
)
def test_a_picked_out_select_pauses_after_returning_its_rows(session, database_url, run):
    """`session` makes the database and its tables; the racer reads them on an engine of its own."""
    engine = racing_engine(database_url, 1, lambda sql: "FROM clinician" in sql)
    with Session(engine) as racer:
        started = clock.monotonic()
        run(racer)
        took = clock.monotonic() - started
    engine.dispose()
    assert took >= 0.02
