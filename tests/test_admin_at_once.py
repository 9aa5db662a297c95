"""Two admins saving at the same moment get what one admin after the other would: names, addresses and
links that must differ stay different (also in case alone), and the second is told why beside the field,
never a 500 from the database's unique constraint."""

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clinic.audit import Actor
from clinic.hospital.clinicians import ClinicianSettings, save_clinician
from clinic.hospital.departments import DepartmentSettings, save_department
from clinic.hospital.records import InvalidSetting
from clinic.hospital.service_settings import ServiceSettings, save_service
from clinic.hospital.walk_in_queues import QueueSettings, save_queue
from clinic.models import Clinician, Department, Service, StaffRole, StaffUser, WalkInQueue, utcnow
from clinic.staff.accounts import change_role, create_staff
from clinic.staff.errors import InvalidAccount

from . import factories, racing
from .browser_forms import form_values
from .test_schedule import login, text

ADMIN = Actor("staff:1")


def department(name: str, _ids: dict) -> Callable[[Session], object]:
    return lambda s: save_department(s, None, DepartmentSettings(name, "", True), now=utcnow(), actor=ADMIN)


def service(name: str, ids: dict) -> Callable[[Session], object]:
    settings = ServiceSettings(ids["department"], name, "", 30, 0, 0, 0, 60, 30, 0, None, True)
    return lambda s: save_service(s, None, settings, now=utcnow(), actor=ADMIN)


def clinician(email: str, ids: dict) -> Callable[[Session], object]:
    settings = ClinicianSettings("Dr Ada Jones", "", email, "Europe/London", ids["department"], [])
    return lambda s: save_clinician(s, None, settings, now=utcnow(), actor=ADMIN)


def queue(slug: str, ids: dict) -> Callable[[Session], object]:
    settings = QueueSettings(ids["department"], None, "Helpline", slug, "", "Europe/London", "", [])
    return lambda s: save_queue(s, None, settings, now=utcnow(), actor=ADMIN)


def new_account(role: StaffRole) -> Callable[[str, dict], Callable[[Session], object]]:
    """A new account of `role` with the address typed (a clinician login linked to the one clinician)."""
    return lambda email, ids: (
        lambda s: create_staff(
            s,
            email=email,
            display_name="Ada Jones",
            password="a long enough password",
            role=role,
            now=utcnow(),
            actor=ADMIN,
            clinician_id=ids["clinician"] if role is StaffRole.CLINICIAN else None,
        )
    )


RACES = {
    "departments named alike": (department, ["Cardiology", "CARDIOLOGY"], Department),
    "departments of one name": (department, ["Cardiology", "Cardiology"], Department),
    "services named alike": (service, ["Follow-up call", "follow-up CALL"], Service),
    "clinicians of one address": (clinician, ["ada@hospital.example", "ada@hospital.example"], Clinician),
    "walk-in queues of one address": (queue, ["nurse-helpline", "nurse-helpline"], WalkInQueue),
    "staff accounts of one address": (
        new_account(StaffRole.ADMIN),
        ["ada@hospital.example", "ADA@hospital.example"],
        StaffUser,
    ),
    "two logins of one clinician": (
        new_account(StaffRole.CLINICIAN),
        ["ada@hospital.example", "bob@hospital.example"],
        StaffUser,
    ),
}


@pytest.mark.parametrize("attempt, typed, model", RACES.values(), ids=RACES.keys())
def test_two_admins_saving_what_must_differ_at_once_save_one_and_tell_the_other(
    session, database_url, attempt, typed, model
):
    ids = {"department": factories.department(session).id}
    ids["clinician"] = factories.clinician(session, [factories.service(session)]).id
    session.commit()
    before = session.scalar(select(func.count()).select_from(model))
    engine = racing.racing_engine(database_url, 2, lambda sql: f"FROM {model.__tablename__}" in sql)

    outcomes = racing.race(engine, [attempt(value, ids) for value in typed])
    engine.dispose()

    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(refused) == 1, outcomes
    assert isinstance(refused[0], InvalidSetting | InvalidAccount), refused[0]
    session.rollback()
    assert session.scalar(select(func.count()).select_from(model)) == before + 1


def test_two_admins_linking_two_accounts_to_one_clinician_at_once_link_one(session, database_url):
    person = factories.clinician(session, [factories.service(session)])
    accounts = [factories.staff(session, role=StaffRole.ADMIN).id for _ in range(3)]
    clinician_id = person.id
    engine = racing.racing_engine(database_url, 2, lambda sql: "FROM staff_user" in sql)

    outcomes = racing.race(
        engine,
        [
            lambda s, user_id=user_id: change_role(
                s, user_id, StaffRole.CLINICIAN, now=utcnow(), actor=ADMIN, clinician_id=clinician_id
            )
            for user_id in accounts[:2]
        ],
    )
    engine.dispose()

    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(refused) == 1, outcomes
    assert isinstance(refused[0], InvalidAccount), refused[0]
    session.rollback()
    linked = select(func.count()).where(StaffUser.clinician_id == clinician_id)
    assert session.scalar(linked) == 1


def edit_pages(session) -> dict[str, tuple[str, str, str, str]]:
    """(page, a field, the value one admin types, a field another admin changes) of each catalogue row."""
    service = factories.service(session, name="Follow-up call")
    person = factories.clinician(session, [service], display_name="Dr Ada Jones", title="Consultant")
    queue = factories.walk_in_queue(session, service, [person], name="Nurse helpline")
    return {
        "department": (
            f"/admin/departments/{service.department_id}",
            "contact_phone",
            "+44 20 7946 0999",
            "name",
        ),
        "service": (f"/admin/services/{service.id}", "duration_minutes", "45", "name"),
        "clinician": (f"/admin/clinicians/{person.id}", "title", "Consultant dermatologist", "display_name"),
        "walk-in queue": (f"/admin/walk-in/{queue.id}", "description", "Talk to a nurse.", "name"),
    }


@pytest.mark.parametrize("kind", ["department", "service", "clinician", "walk-in queue"])
def test_an_admin_saving_a_page_opened_before_anothers_save_does_not_undo_it(app, session, kind):
    page, field, typed, other_field = edit_pages(session)[kind]
    first, second = factories.browser(app), factories.browser(app)
    login(session, first, StaffRole.ADMIN)
    login(session, second, StaffRole.ADMIN)
    opened_by_second = form_values(text(second.get(page)), "")
    drawn = form_values(text(first.get(page)), "")

    assert first.post(page, data={**drawn, field: typed}).status_code == 303
    answer = second.post(page, data={**opened_by_second, other_field: "Renamed"})

    assert answer.status_code == 409, answer.status_code
    said = text(answer)
    assert "since you opened this page: it shows what they saved" in said
    again = form_values(said, "")
    assert again[field].strip() == typed, (
        again
    )  # the page shows what is saved now, the other admin's change kept
    assert again[other_field] == "Renamed"  # and what they typed, to save again once they have checked
    assert second.post(page, data=again).status_code == 303
    assert form_values(text(first.get(page)), "")[field].strip() == typed
