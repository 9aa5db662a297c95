"""Statements run on the DB-API cursor (clinic.models.driver): bound by name whatever the driver's style,
in the session's own transaction."""

from sqlalchemy import bindparam, select

from clinic.models import Department
from clinic.models.driver import driver_rows
from clinic.models.transactions import begin_write

from .factories import department as new_department

_BY_NAME_AND_ID = select(Department.id, Department.name).where(
    Department.name == bindparam("name"), Department.id > bindparam("after")
)


def test_parameters_are_bound_by_name_and_rows_come_as_the_driver_gives_them(session):
    department = new_department(session)
    session.commit()

    # Given in another order than the statement names them: SQLite's driver binds by position.
    found = driver_rows(session, _BY_NAME_AND_ID, {"after": 0, "name": department.name})
    missing = driver_rows(session, _BY_NAME_AND_ID, {"after": department.id, "name": department.name})

    assert [tuple(row) for row in found] == [(department.id, department.name)]
    assert missing == []


def test_they_run_in_the_sessions_transaction_and_see_its_uncommitted_writes(session):
    department = new_department(session)
    session.commit()
    begin_write(session)
    department.name = "Renamed, not committed"
    session.flush()

    seen = driver_rows(session, _BY_NAME_AND_ID, {"after": 0, "name": "Renamed, not committed"})
    session.rollback()

    assert [row[0] for row in seen] == [department.id]
    assert driver_rows(session, _BY_NAME_AND_ID, {"after": 0, "name": "Renamed, not committed"}) == []
