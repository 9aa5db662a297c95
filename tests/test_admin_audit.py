"""The admin audit log: admins only; filters by who, action, consultation, patient, dates; pages; CSV."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from clinic import audit
from clinic.audit import SYSTEM, Actor
from clinic.audit_search import AuditFilter, audit_page
from clinic.models import AuditEvent, StaffRole

from . import factories, notes_support
from .factories import sign_in

MONDAY_10 = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


@pytest.fixture
def client(app):
    return factories.browser(app)


@pytest.fixture
def admin(session):
    return factories.staff(session)


@pytest.fixture
def admin_client(client, session, admin):
    sign_in(client, admin)
    session.commit()
    return client


def event(session, action="test.event", *, actor=SYSTEM, entity=("test", 1), at=None):
    recorded = audit.record(
        session, actor, action, entity_type=entity[0], entity_id=entity[1], now=at or datetime.now(UTC)
    )
    session.commit()
    return recorded


def ids_on(page: str, session) -> list[int]:
    """The event ids the page lists, in order (from the first cell of each row)."""
    known = session.scalars(select(AuditEvent.id)).all()
    return [n for n in sorted(known, reverse=True) if f"<td>{n}</td>" in page]


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for path in ("/admin/audit", "/admin/audit.csv"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=%2Fadmin%2Faudit")


@pytest.mark.parametrize("role", [StaffRole.CLINICIAN, StaffRole.RECEPTION])
def test_clinicians_and_reception_may_not_open_the_audit_log(client, session, role):
    person = factories.clinician(session, [factories.service(session)])
    sign_in(client, factories.linked_staff(session, person, role))

    for path in ("/admin/audit", "/admin/audit.csv"):
        response = client.get(path)
        assert response.status_code == 403
        assert "Admins only" in response.get_data(as_text=True)


def test_the_nav_links_to_the_audit_log(admin_client):
    assert 'href="/admin/audit"' in admin_client.get("/admin/").get_data(as_text=True)


def test_filters_by_who_as_staff_email_or_actor_name(admin_client, session, admin):
    mine = event(session, actor=Actor.staff(admin.id))
    systems = event(session, actor=SYSTEM)

    by_email = admin_client.get(
        "/admin/audit", query_string={"who": admin.email.upper(), "action": "test.event"}
    )
    by_name = admin_client.get("/admin/audit", query_string={"who": "system", "action": "test.event"})

    session.commit()
    assert ids_on(by_email.get_data(as_text=True), session) == [mine.id]
    assert ids_on(by_name.get_data(as_text=True), session) == [systems.id]


def test_filters_by_action_and_by_consultation_reference(admin_client, session, now):
    svc = factories.service(session)
    factories.clinician(session, [svc])
    session.commit()
    booked = factories.booking(session, svc, MONDAY_10, now=now).consultation
    other = event(session, "consultation.booked", entity=("consultation", booked.id + 1000))

    by_reference = admin_client.get("/admin/audit", query_string={"reference": booked.reference.lower()})
    by_action = admin_client.get("/admin/audit", query_string={"action": "consultation.booked"})

    session.commit()
    (booked_event,) = audit.events_for(session, "consultation", booked.id)
    assert ids_on(by_reference.get_data(as_text=True), session) == [booked_event.id]
    assert ids_on(by_action.get_data(as_text=True), session) == [other.id, booked_event.id]


def test_filters_by_whole_utc_days_the_last_one_included(admin_client, session):
    days = [datetime(2026, 3, d, 23, 59, tzinfo=UTC) for d in (1, 2, 3, 4)]
    made = [event(session, at=day) for day in days]

    page = admin_client.get("/admin/audit", query_string={"since": "2026-03-02", "until": "2026-03-03"})

    session.commit()
    assert ids_on(page.get_data(as_text=True), session) == [made[2].id, made[1].id]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"who": "nobody@hospital.example"}, "No staff account has this e-mail address."),
        ({"reference": "ZZZ-ZZZZ"}, "No consultation has this reference."),
        ({"since": "2 March"}, "Enter a date as YYYY-MM-DD"),
        ({"since": "2026-03-03", "until": "2026-03-02"}, "Enter a day on or after the first day."),
        ({"until": "9999-12-31"}, "Enter a date before the year 9999."),
        ({"action": "x" * 81}, "Keep it under 80 characters."),
    ],
)
def test_a_filter_that_cannot_match_says_why_beside_the_field(admin_client, session, query, message):
    for path in ("/admin/audit", "/admin/audit.csv"):
        response = admin_client.get(path, query_string=query)
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
    session.commit()
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "audit.exported")) is None


def test_pages_run_newest_first_and_continue_below_the_last_id(admin_client, session, now):
    made = [event(session, entity=("test", n), at=now) for n in range(5)]

    first = audit_page(session, AuditFilter(action="test.event"), per_page=2)
    second = audit_page(session, AuditFilter(action="test.event"), older_than=first.older_than, per_page=2)
    last = audit_page(session, AuditFilter(action="test.event"), older_than=second.older_than, per_page=2)

    assert [e.id for e in first.events + second.events + last.events] == [e.id for e in reversed(made)]
    assert last.older_than is None


def test_the_page_links_to_older_events_keeping_the_filters(admin_client, session, now):
    for n in range(55):
        audit.record(session, SYSTEM, "test.event", entity_type="test", entity_id=n, now=now)
    session.commit()

    page = admin_client.get("/admin/audit", query_string={"action": "test.event"}).get_data(as_text=True)

    assert "Older events" in page and "action=test.event" in page and "older_than=" in page
    assert admin_client.get("/admin/audit", query_string={"older_than": "not-a-number"}).status_code == 200


def test_the_export_is_csv_of_every_match_and_is_itself_audited(admin_client, session, admin, now):
    event(session, "=cmd|' /C calc'!A0", at=now)  # a value a spreadsheet would run
    event(session, "test.event", at=now)

    response = admin_client.get(
        "/admin/audit.csv", query_string={"since": "2026-03-02", "until": "2026-03-02"}
    )

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == [
        "id",
        "occurred_at",
        "actor",
        "action",
        "entity_type",
        "entity_id",
        "remote_addr",
        "details",
    ]
    assert [row[3] for row in rows[1:]] == ["test.event", "'=cmd|' /C calc'!A0"]
    session.commit()
    exported = session.scalar(select(AuditEvent).where(AuditEvent.action == "audit.exported"))
    assert exported.actor == f"staff:{admin.id}"
    assert exported.details == {"filters": ["since", "until"]}
    assert isinstance(audit.verify(session), audit.Verified)


def test_a_large_export_streams_every_row(admin_client, session, now):
    for n in range(1500):
        audit.record(
            session, SYSTEM, "bulk.event", entity_type="test", entity_id=n, now=now + timedelta(seconds=n)
        )
    session.commit()

    response = admin_client.get("/admin/audit.csv", query_string={"action": "bulk.event"})

    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1 + 1500
    assert rows[1][5] == "1499" and rows[-1][5] == "0"


def test_a_consultation_reference_finds_its_note_versions_events_too(app, admin_client, session, now):
    case = notes_support.booked(app, session, now)
    signed = notes_support.sign(session, case, notes_support.NOTE, now=now)
    other = notes_support.booked(app, session, now, start=notes_support.TUESDAY_10 + timedelta(hours=1))
    notes_support.sign(session, other, notes_support.NOTE, now=now)

    page = admin_client.get("/admin/audit", query_string={"reference": case.consultation.reference})

    session.commit()
    about_the_note = audit.events_for(session, "consultation_note", signed.note_id)
    assert about_the_note and {e.action for e in about_the_note} >= {"note.signed"}
    expected = audit.events_for(session, "consultation", case.id) + about_the_note
    assert ids_on(page.get_data(as_text=True), session) == sorted((e.id for e in expected), reverse=True)


def test_filters_by_patient_every_booking_made_with_their_address(admin_client, session, now):
    svc = factories.service(session)
    factories.clinician(session, [svc])
    session.commit()
    address = "Mary.Jones@example.org"
    first = factories.booking(
        session, svc, MONDAY_10, now=now, patient=factories.patient_details(email=address)
    )
    second = factories.booking(
        session,
        svc,
        MONDAY_10 + timedelta(hours=1),
        now=now,
        patient=factories.patient_details(email=address.lower()),
    )
    factories.booking(session, svc, MONDAY_10 + timedelta(hours=2), now=now)  # someone else's

    page = admin_client.get("/admin/audit", query_string={"patient": address.upper()})
    unknown = admin_client.get("/admin/audit", query_string={"patient": "nobody@example.org"})

    session.commit()
    theirs = [audit.events_for(session, "consultation", b.consultation.id)[0].id for b in (first, second)]
    assert ids_on(page.get_data(as_text=True), session) == sorted(theirs, reverse=True)
    assert unknown.status_code == 422 and "No patient has this e-mail address" in unknown.get_data(
        as_text=True
    )
