"""Admins keep the departments; every catalogue page is for admins only."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from clinic.models import (
    AuditEvent,
    Clinician,
    Department,
    EntryStatus,
    QueueStatus,
    StaffRole,
    WalkInEntry,
    WalkInQueue,
    utcnow,
)
from clinic.walkin.rounds import walk_in_round

from . import factories
from .browser_forms import form_values
from .test_schedule import login, text
from .test_walk_in import SESSIONS


@pytest.fixture
def client(app):
    return factories.browser(app)


@pytest.fixture
def department(session) -> Department:
    found = factories.department(session, name="Dermatology", contact_phone="+44 20 7946 0001")
    session.commit()
    return found


def stored(session, department: Department) -> Department:
    session.commit()
    session.expire_all()
    return session.get(Department, department.id)


def catalogue_requests(session) -> list[tuple[str, str]]:
    """(method, path) of every catalogue page and form."""
    service = factories.service(session)
    clinician = factories.clinician(session, [service])
    booked = factories.consultation(session, service, clinician, utcnow() + timedelta(days=3))
    queue = f"/admin/walk-in/{factories.walk_in_queue(session, service, [clinician]).id}"
    session.commit()
    department, who = service.department_id, f"/admin/clinicians/{clinician.id}"
    pages = ["/admin/departments", "/admin/services", "/admin/clinicians", "/admin/closures", f"{who}/hours"]
    pages += ["/admin/walk-in"]
    forms = [
        "/admin/departments/new",
        f"/admin/departments/{department}",
        "/admin/services/new",
        f"/admin/services/{service.id}",
        "/admin/clinicians/new",
        who,
        "/admin/walk-in/new",
        queue,
    ]
    posts = [
        f"{who}/active",
        f"{who}/bookings/{booked.id}/cancel",
        f"{who}/hours",
        f"{who}/hours/{clinician.availability_rules[0].id}/remove",
        f"{who}/time-off",
        "/admin/closures",
        "/admin/closures/1/remove",
        f"{queue}/status",
    ]
    return [("GET", path) for path in pages + forms] + [("POST", path) for path in forms + posts]


def test_anonymous_visitors_are_sent_to_sign_in(client, session):
    for method, path in catalogue_requests(session):
        response = client.open(path, method=method)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=%2Fadmin")


@pytest.mark.parametrize("role", [StaffRole.CLINICIAN, StaffRole.RECEPTION])
def test_clinicians_and_reception_may_not_open_or_post_to_the_catalogue(client, session, role):
    requests = catalogue_requests(session)
    login(session, client, role)
    before = session.scalar(select(func.max(AuditEvent.id))) or 0

    for method, path in requests:
        assert client.open(path, method=method, data={"name": "Taken over"}).status_code == 403, path
    session.commit()
    since = select(AuditEvent.action).where(AuditEvent.id > before)
    assert set(session.scalars(since)) == {"access.refused"}  # the refusals only: nothing was changed


def test_the_admin_index_and_menu_link_to_every_catalogue_page(client, session):
    login(session, client, StaffRole.ADMIN)

    page = text(client.get("/admin/"))

    for path in (
        "/admin/departments",
        "/admin/services",
        "/admin/clinicians",
        "/admin/closures",
        "/admin/walk-in",
    ):
        assert page.count(f'href="{path}"') == 2  # the menu and the index


def test_an_admin_adds_a_department_and_it_is_audited(client, session):
    login(session, client, StaffRole.ADMIN)

    response = client.post(
        "/admin/departments/new",
        data={"name": " Sleep  clinic ", "contact_phone": "+44 20 7946 0002", "active": "y"},
    )

    assert response.status_code == 303
    session.commit()
    added = session.scalar(select(Department).where(Department.name == "Sleep clinic"))
    assert added.contact_phone == "+44 20 7946 0002" and added.active
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "department.saved"))
    assert event.entity_id == str(added.id) and event.actor.startswith("staff:")
    assert "Sleep clinic" in text(client.get("/admin/departments"))


@pytest.mark.parametrize(
    "body",
    [{"data": b"", "content_type": "application/x-www-form-urlencoded"}, {"data": b"{}", "content_type": ""}],
    ids=["empty form", "not a form"],
)
def test_an_edit_posted_without_its_fields_is_refused_and_changes_nothing(client, session, body):
    """A post whose fields were lost on the way, or not sent as a form (a script, a proxy), is not filled
    in from the row being edited: that saved whatever the row's attributes held, a walk-in queue's hours
    (a list: 500) and a clinician without their services."""
    service = factories.service(session)
    clinician = factories.clinician(session, [service])
    queue = factories.walk_in_queue(session, service, [clinician])
    session.commit()
    ids = service.department_id, service.id, clinician.id, queue.id
    login(session, client, StaffRole.ADMIN)
    audited = session.scalar(select(func.count()).select_from(AuditEvent))
    session.rollback()

    answers = [
        client.post(path, **body).status_code
        for path in (
            f"/admin/departments/{ids[0]}",
            f"/admin/services/{ids[1]}",
            f"/admin/clinicians/{ids[2]}",
            f"/admin/walk-in/{ids[3]}",
        )
    ]

    assert answers == [422] * 4
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == audited
    session.expire_all()
    assert [s.id for s in session.get(Clinician, ids[2]).services] == [ids[1]]


def test_an_admin_closes_a_department_and_its_services_are_no_longer_offered(client, session, department):
    service = factories.service(session, department, name="Mole mapping")
    factories.clinician(session, [service])
    session.commit()
    login(session, client, StaffRole.ADMIN)

    response = client.post(
        f"/admin/departments/{department.id}",
        data={"name": "Dermatology", "contact_phone": "+44 20 7946 0001"},
    )

    assert response.status_code == 303
    assert stored(session, department).active is False
    assert "Mole mapping" not in text(client.get("/book"))
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "department.saved"))
    assert event.details == {"changed": ["active"], "from": {"active": True}, "to": {"active": False}}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "dermatology"}, "name", "Another department has this name."),
        ({"name": ""}, "name", "Enter the department&#39;s name."),
        ({"name": "x" * 121}, "name", "Keep it under 120 characters."),
        ({"name": "Sleep", "contact_phone": "1" * 41}, "contact_phone", "Keep it under 40 characters."),
        *(
            ({"name": "Sleep", "contact_phone": typed}, "contact_phone", "Enter a phone number using digits")
            for typed in ("Call the switchboard", "020 7946 0000 ext. 12", "0800 123 4567 (Mon-Fri)")
        ),
        ({"name": "Sleep", "contact_phone": "23456"}, "contact_phone", "Enter the whole phone number"),
    ],
)
def test_a_wrong_department_is_refused_beside_its_field(client, session, department, data, field, message):
    login(session, client, StaffRole.ADMIN)

    response = client.post("/admin/departments/new", data=data)

    assert response.status_code == 422
    assert message in text(response) and f'id="{field}-error"' in text(response)
    session.commit()
    assert session.scalar(select(func.count()).select_from(Department)) == 1


@pytest.mark.parametrize("typed", ["+44 (0)20 7946 0000", "020-7946-0000", " 0161 496 0000 ", ""])
def test_a_department_phone_number_patients_can_dial_is_kept(client, session, typed):
    login(session, client, StaffRole.ADMIN)

    response = client.post("/admin/departments/new", data={"name": "Sleep", "contact_phone": typed})

    assert response.status_code == 303
    session.commit()
    saved = session.scalar(select(Department).where(Department.name == "Sleep"))
    assert saved.contact_phone == " ".join(typed.split())


def test_the_department_list_is_paged(client, session):
    for n in range(51):
        factories.department(session, name=f"Department {n:02}")
    session.commit()
    login(session, client, StaffRole.ADMIN)

    first, second = text(client.get("/admin/departments")), text(client.get("/admin/departments?page=2"))

    assert "Department 49" in first and "Department 50" not in first and 'rel="next"' in first
    assert "Department 50" in second and 'rel="prev"' in second
    assert client.get("/admin/departments?page=x").status_code == 200


def test_a_department_that_does_not_exist_is_not_found(client, session):
    login(session, client, StaffRole.ADMIN)

    assert client.get("/admin/departments/2147483647").status_code == 404
    assert client.post("/admin/departments/2147483647", data={"name": "Ghost"}).status_code == 404


def test_closing_a_department_closes_its_walk_in_queues_as_the_page_says_beforehand(
    client, session, department
):
    service = factories.service(session, department, name="Mole mapping")
    queue = factories.walk_in_queue(session, service, [factories.clinician(session, [service])])
    waiting = factories.walk_in(session, queue, now=utcnow()).entry
    session.commit()
    queue_id, slug, address = queue.id, queue.slug, f"/admin/departments/{department.id}"
    login(session, client, StaffRole.ADMIN)

    page = text(client.get(address))
    sent = {key: value for key, value in form_values(page, "").items() if key != "active"}  # unticked
    saved = client.post(address, data=sent)
    walk_in_round(session, utcnow(), answer_within=timedelta(minutes=2), sessions=SESSIONS)

    assert saved.status_code == 303
    assert session.get(WalkInQueue, queue_id).status is QueueStatus.CLOSED
    listed = text(client.get("/admin/walk-in"))
    assert "<td>Closed</td>" in listed and "<td>Open</td>" not in listed
    session.expire_all()
    assert session.get(WalkInEntry, waiting.id).status is EntryStatus.CLOSED
    join_page = client.get(f"/walk-in/{slug}")
    assert join_page.status_code == 200 and "closed" in text(join_page)
    assert f"also closes its walk-in queues: {queue.name}" in page


def test_a_queue_of_a_closed_department_is_not_opened(client, session, department):
    service = factories.service(session, department)
    queue = factories.walk_in_queue(session, service, [], status=QueueStatus.CLOSED)
    department.active = False
    session.commit()
    login(session, client, StaffRole.ADMIN)

    answer = client.post(f"/admin/walk-in/{queue.id}/status", data={"status": "open"})

    assert "Open its department first" in text(client.get(answer.location))
    session.expire_all()
    assert session.get(WalkInQueue, queue.id).status is QueueStatus.CLOSED


@pytest.mark.parametrize(
    "look_alike",
    [
        "Dermatology\u200b",  # a zero-width space, as pasted from a web page
        "Derma\u00adtology",  # a soft hyphen, as pasted from a word processor
        "Ｄｅｒｍａｔｏｌｏｇｙ",  # fullwidth letters
    ],
)
def test_a_name_that_looks_like_another_departments_is_refused(client, session, department, look_alike):
    """Patients choosing a department saw two that read alike: only the stored text differed."""
    login(session, client, StaffRole.ADMIN)

    response = client.post("/admin/departments/new", data={"name": look_alike})

    assert response.status_code == 422 and "Another department has this name." in text(response)
    session.commit()
    assert session.scalar(select(func.count()).select_from(Department)) == 1


def test_a_name_written_with_decomposed_accents_is_the_same_name(client, session):
    factories.department(session, name="Pédiatrie")  # é as one character, as most keyboards type it
    session.commit()
    login(session, client, StaffRole.ADMIN)

    response = client.post("/admin/departments/new", data={"name": "Pe\u0301diatrie"})  # e + combining acute

    assert response.status_code == 422 and "Another department has this name." in text(response)


@pytest.mark.parametrize("invisible", ["\u200b", "\u00ad\u2060", "\ufeff \u200b"])
def test_a_name_of_invisible_characters_alone_is_refused_as_no_name(client, session, invisible):
    login(session, client, StaffRole.ADMIN)

    response = client.post("/admin/departments/new", data={"name": invisible})

    assert response.status_code == 422 and "Enter the department&#39;s name." in text(response)
    session.commit()
    assert session.scalar(select(func.count()).select_from(Department)) == 0
