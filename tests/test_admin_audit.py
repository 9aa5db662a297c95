"""The admin audit log: admins only; filters by who, action, consultation, patient, dates; pages; CSV with
the chain's columns; a check of the whole chain. A patient's address is never in a URL."""

import csv
import hashlib
import hmac
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, quote_plus
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from clinic import audit
from clinic.audit import SYSTEM, Actor
from clinic.audit.search import AuditFilter, audit_filter, audit_page, searched_page
from clinic.extensions import db
from clinic.models import AuditEvent, StaffRole
from clinic.scheduling.booking import Consent
from clinic.scheduling.waitlist import WaitlistRequest, join_waitlist
from clinic.staff.members import StaffMember
from clinic.walkin.send_back import send_back
from clinic.walkin.take import take_next

from . import factories, notes_support
from .browser_forms import drawn_forms
from .conftest import TEST_KEYS, build_app
from .factories import sign_in
from .test_admin_outbox import csrf_token
from .test_audit import NEW_KEY, restart_with
from .test_schedule import text

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


PATHS = ("/admin/audit", "/admin/audit.csv")
POSTS = ("/admin/audit", "/admin/audit.csv", "/admin/audit/check")


def test_anonymous_visitors_are_sent_to_sign_in(client, session):
    for path in PATHS:
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=%2Fadmin%2Faudit")
    for path in POSTS:
        assert "/login" in client.post(path, data={"patient": "mary@example.org"}).location
    assert session.scalar(select(AuditEvent.id)) is None


@pytest.mark.parametrize("role", [StaffRole.CLINICIAN, StaffRole.RECEPTION])
def test_clinicians_and_reception_may_not_open_search_or_check_the_audit_log(client, session, role):
    person = factories.clinician(session, [factories.service(session)])
    sign_in(client, factories.linked_staff(session, person, role))
    session.commit()
    before = session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))

    answers = [client.get(path) for path in PATHS]
    answers += [client.post(path, data={"patient": "mary@example.org"}) for path in POSTS]

    assert [answer.status_code for answer in answers] == [403] * len(answers)
    assert all("whose account cannot open this page" in answer.get_data(as_text=True) for answer in answers)
    session.commit()
    since = select(AuditEvent.action).where(AuditEvent.id > (before or 0))
    assert set(session.scalars(since)) == {"access.refused"}  # the refusals only: no search was made


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


@pytest.mark.parametrize("typed", ["System", " SYSTEM ", "STAFF:{id}", "Staff:{id}"])
def test_who_is_read_in_any_case(admin_client, session, admin, typed):
    mine, systems = event(session, actor=Actor.staff(admin.id)), event(session, actor=SYSTEM)
    wanted = systems if "system" in typed.lower() else mine

    page = admin_client.get(
        "/admin/audit", query_string={"who": typed.format(id=admin.id), "action": "test.event"}
    )

    session.commit()
    assert ids_on(page.get_data(as_text=True), session) == [wanted.id]


@pytest.mark.parametrize("typed", ["Ada Jones", "staff", "staff:", "staff:twelve", "patients", "12"])
def test_who_that_names_nobody_is_refused_beside_the_field_not_shown_as_no_events(
    admin_client, session, typed
):
    event(session, actor=SYSTEM)

    for path in PATHS:
        response = admin_client.get(path, query_string={"who": typed})

        assert response.status_code == 422, path
        said = response.get_data(as_text=True)
        assert "Type a staff member&#39;s e-mail address, staff: and their number" in said
        assert "No events match" not in said


def test_an_action_is_read_in_any_case_and_one_no_event_has_is_refused_beside_the_field(
    admin_client, session
):
    booked = event(session, "consultation.booked")

    typed_in_capitals = admin_client.get("/admin/audit", query_string={"action": " Consultation.BOOKED "})
    mistyped = [admin_client.get(path, query_string={"action": "consultation.book"}) for path in PATHS]

    session.commit()
    assert ids_on(typed_in_capitals.get_data(as_text=True), session) == [booked.id]
    for response in mistyped:
        assert response.status_code == 422
        said = response.get_data(as_text=True)
        assert "No event has this action" in said and 'id="action-error"' in said


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


@pytest.mark.parametrize("typed", ["{}{}", "{} {}", " {}-{} ", "{}\u2013{}", "{} - {}"])
def test_a_reference_is_found_as_read_out_over_the_phone(admin_client, session, now, typed):
    """Only "K7F-3QZ9" (in any case) was read: "K7F3QZ9" and "K7F 3QZ9", as a patient reads it out or a
    word processor's dash writes it, were "No consultation or walk-in call has this reference"."""
    svc = factories.service(session)
    factories.clinician(session, [svc])
    session.commit()
    booked = factories.booking(session, svc, MONDAY_10, now=now).consultation
    first, rest = booked.reference.lower().split("-")

    page = admin_client.get("/admin/audit", query_string={"reference": typed.format(first, rest)})

    session.commit()
    (booked_event,) = audit.events_for(session, "consultation", booked.id)
    assert page.status_code == 200
    assert ids_on(page.get_data(as_text=True), session) == [booked_event.id]


def test_filters_by_whole_days_the_last_one_included(admin_client, session):
    days = [datetime(2026, 3, d, 23, 59, tzinfo=UTC) for d in (1, 2, 3, 4)]
    made = [event(session, at=day) for day in days]

    page = admin_client.get("/admin/audit", query_string={"since": "2026-03-02", "until": "2026-03-03"})

    session.commit()
    assert ids_on(page.get_data(as_text=True), session) == [made[2].id, made[1].id]


def test_days_are_the_hospitals_days_and_times_its_clock(admin_client, session):
    """At 00:30 in London in summer (23:30 UTC the day before) an event was filed under the day before,
    and shown at 23:30: an auditor asking for the 10th of June did not find it."""
    late, early = datetime(2026, 6, 9, 22, 59, tzinfo=UTC), datetime(2026, 6, 9, 23, 30, tzinfo=UTC)
    made = [event(session, at=late), event(session, at=early)]

    ninth = admin_client.get("/admin/audit", query_string={"since": "2026-06-09", "until": "2026-06-09"})
    tenth = admin_client.get("/admin/audit", query_string={"since": "2026-06-10", "until": "2026-06-10"})

    session.commit()
    assert ids_on(ninth.get_data(as_text=True), session) == [made[0].id]
    assert ids_on(tenth.get_data(as_text=True), session) == [made[1].id]
    page = text(tenth)
    assert "<td>2026-06-10 00:30:00 +0100</td>" in page
    assert "From (UK time)" in page and "When (UK time)" in page


@pytest.mark.parametrize(
    ("zone_name", "day", "inside", "outside"),
    [
        (
            "America/New_York",
            date(2026, 3, 8),
            datetime(2026, 3, 9, 3, 59, tzinfo=UTC),
            datetime(2026, 3, 9, 4, 0, tzinfo=UTC),
        ),
        (
            "Australia/Sydney",
            date(2026, 4, 5),
            datetime(2026, 4, 4, 13, 0, tzinfo=UTC),
            datetime(2026, 4, 4, 12, 59, tzinfo=UTC),
        ),
    ],
    ids=["a day the clocks go forward", "a day they go back"],
)
def test_a_day_runs_from_midnight_to_midnight_on_the_hospitals_clock(
    session, zone_name, day, inside, outside
):
    made = {at: event(session, at=at).id for at in (inside, outside)}
    wanted = audit_filter(session, since=day, until=day, days_in=ZoneInfo(zone_name))

    found = searched_page(session, wanted, actor=SYSTEM, now=datetime.now(UTC)).events

    assert [e.id for e in found] == [made[inside]]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    since=st.none() | st.dates(max_value=date(9998, 12, 31)),
    until=st.none() | st.dates(max_value=date(9998, 12, 31)),
    zone_name=st.sampled_from(["UTC", "Europe/London", "Europe/Berlin", "Asia/Tokyo", "Pacific/Kiritimati"]),
)
@example(since=date(1, 1, 1), until=date(1, 1, 1), zone_name="Europe/Berlin")
def test_any_day_a_filter_takes_finds_an_event_just_when_its_local_day_is_in_range(
    session, since, until, zone_name
):
    """A first day of 0001-01-01 (the form's own earliest) began before the first instant Python holds once
    read in a zone east of UTC: the page answered 500 (OverflowError)."""
    at = datetime(2026, 6, 9, 23, 30, tzinfo=UTC)
    made = (
        session.scalar(select(AuditEvent.id).where(AuditEvent.action == "test.fixed"))
        or event(session, "test.fixed", at=at).id
    )
    wanted = audit_filter(session, action="test.fixed", since=since, until=until, days_in=ZoneInfo(zone_name))

    found = [e.id for e in searched_page(session, wanted, actor=SYSTEM, now=datetime.now(UTC)).events]

    local_day = at.astimezone(ZoneInfo(zone_name)).date()
    inside = (since is None or since <= local_day) and (until is None or local_day <= until)
    assert found == ([made] if inside else [])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"who": "nobody@hospital.example"}, "No staff account has this e-mail address."),
        ({"reference": "ZZZ-ZZZZ"}, "No consultation or walk-in call has this reference."),
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
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert ",".join(rows[0]) == (
        "id,occurred_at,actor,action,entity_type,entity_id,remote_addr,details,seq,prev_hash,hash_version,key_id,hash"
    )
    assert [row[3] for row in rows[1:]] == ["test.event", "'=cmd|' /C calc'!A0"]
    # UTF-8's byte-order mark first, once: without it Excel reads the file in a legacy code page.
    assert response.get_data().startswith(b"\xef\xbb\xbfid,")
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

    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
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


@pytest.mark.parametrize(
    "take_action", ["consultation.taken", "consultation.booked"]
)  # the latter before 66dee8b
def test_a_walk_in_reference_finds_the_place_and_every_call_made_from_it(
    admin_client, session, now, take_action
):
    # A caller taken, sent back and taken again. The search by a call's reference listed only the call's
    # own events, none of the caller's place in the queue (joined, taken, sent back); the place's own
    # reference, the one in the caller's link, was "No consultation has this reference."
    svc = factories.service(session)
    doctor = factories.clinician(session, [svc])
    queue = factories.walk_in_queue(session, svc, [doctor])
    place = factories.walk_in(session, queue, now=now).entry
    factories.walk_in(session, queue, now=now)  # someone else's, taken later
    on_duty = StaffMember(1, StaffRole.CLINICIAN, clinician_id=doctor.id)
    first = take_next(session, queue.id, on_duty, now=now).consultation
    send_back(session, place, now, SYSTEM)
    session.commit()
    second = take_next(session, queue.id, on_duty, now=now + timedelta(minutes=1)).consultation
    session.execute(
        update(AuditEvent).where(AuditEvent.action == "consultation.taken").values(action=take_action)
    )
    session.commit()
    assert place.consultation_id == second.id
    everything = [
        *audit.events_for(session, "walk_in_entry", place.id),
        *audit.events_for(session, "consultation", first.id),
        *audit.events_for(session, "consultation", second.id),
    ]
    expected = sorted((e.id for e in everything), reverse=True)

    for reference in (first.reference, second.reference.lower(), place.reference):
        page = admin_client.get("/admin/audit", query_string={"reference": reference})

        assert page.status_code == 200, reference
        assert ids_on(page.get_data(as_text=True), session) == expected, reference


def book_for(session, now, address: str, at: datetime):
    svc = factories.service(session)
    factories.clinician(session, [svc])
    session.commit()
    return factories.booking(session, svc, at, now=now, patient=factories.patient_details(email=address))


def test_filters_by_patient_every_booking_made_with_their_address(admin_client, session, now):
    address = "Mary.Jones@example.org"
    first = book_for(session, now, address, MONDAY_10)
    second = book_for(session, now, address.lower(), MONDAY_10 + timedelta(hours=1))
    book_for(session, now, "someone.else@example.org", MONDAY_10 + timedelta(hours=2))

    page = admin_client.post("/admin/audit", data={"patient": address.upper()})
    unknown = admin_client.post("/admin/audit", data={"patient": "nobody@example.org"})

    session.commit()
    theirs = [audit.events_for(session, "consultation", b.consultation.id)[0].id for b in (first, second)]
    searched = session.scalars(select(AuditEvent.id).where(AuditEvent.action == "audit.patient_searched"))
    assert ids_on(page.get_data(as_text=True), session) == sorted([*searched, *theirs], reverse=True)
    assert unknown.status_code == 422 and "No patient has this e-mail address" in unknown.get_data(
        as_text=True
    )


def test_a_search_by_patient_finds_their_waitlist_and_walk_in_places_without_any_booking(
    admin_client, session, admin, now
):
    # A person who joined a waitlist and a walk-in queue with their address but never booked: the search
    # by their address answered "No patient has this e-mail address", their events unfindable by it.
    address = "Ada.Lovelace@example.org"
    svc = factories.service(session)
    factories.clinician(session, [svc])
    session.commit()
    request = WaitlistRequest(
        service_id=svc.id,
        first_day=date(2026, 3, 9),
        last_day=date(2026, 3, 13),
        patient=factories.patient_details(email=address),
        consent=Consent("2026-12-01"),
    )
    place = join_waitlist(session, request, now=now, keys=TEST_KEYS, actor=Actor()).entry
    queue = factories.walk_in_queue(session, svc, [factories.clinician(session, [svc])])
    call = factories.walk_in(session, queue, now=now, details=factories.caller_details(email=address)).entry
    factories.walk_in(session, queue, now=now)  # someone else's
    theirs = audit.events_for(session, "waitlist_entry", place.id) + audit.events_for(
        session, "walk_in_entry", call.id
    )
    assert [e.action for e in theirs] == ["waitlist.joined", "walk_in.joined"]

    page = admin_client.post("/admin/audit", data={"patient": address.upper()})

    assert page.status_code == 200
    session.commit()
    (searched,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.patient_searched"))
    shown = ids_on(page.get_data(as_text=True), session)
    assert shown == sorted([searched.id, *(e.id for e in theirs)], reverse=True)
    assert (searched.entity_type, searched.entity_id) == ("waitlist_entry", str(place.id))
    assert searched.details["waitlist_entry_ids"] == [place.id]
    assert searched.details["walk_in_entry_ids"] == [call.id]
    assert "ada" not in json.dumps(searched.details).lower()


def test_a_search_by_patient_is_audited_by_their_records_ids_never_their_address(
    admin_client, session, admin, now
):
    address = "Mary.Jones@example.org"
    first = book_for(session, now, address, MONDAY_10)
    second = book_for(session, now, address.lower(), MONDAY_10 + timedelta(hours=1))

    page = admin_client.post("/admin/audit", data={"patient": address})
    export = admin_client.post("/admin/audit.csv", data={"patient": address})

    assert (page.status_code, export.status_code) == (200, 200)
    session.commit()
    searches = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "audit.patient_searched").order_by(AuditEvent.id)
    ).all()
    patients = sorted(b.consultation.patient_id for b in (first, second))
    found = {
        "patient_ids": patients,
        "waitlist_entry_ids": [],
        "waitlist_offer_ids": [],
        "walk_in_entry_ids": [],
        "consultation_ids": [first.consultation.id, second.consultation.id],
        "consultation_note_ids": [],
    }
    assert [(e.actor, e.entity_type, e.entity_id, e.details) for e in searches] == [
        (f"staff:{admin.id}", "patient", str(patients[0]), found)
    ] * 2
    exported = session.scalar(select(AuditEvent).where(AuditEvent.action == "audit.exported"))
    assert exported.id == searches[1].id + 1 and exported.details == {"filters": ["patient"]}
    for event in session.scalars(select(AuditEvent)):
        assert "mary" not in json.dumps([event.entity_id, event.details, event.remote_addr]).lower()
    assert isinstance(audit.verify(session), audit.Verified)


@pytest.mark.parametrize("cursor", ["2147483648", "999999999999999999", "0"])
def test_a_page_link_below_an_id_no_event_can_have_starts_from_the_newest(admin_client, session, now, cursor):
    # Ids are 32-bit: on PostgreSQL a larger cursor (a link edited, or copied from another system) was a 500
    # ("integer out of range"); on SQLite it listed the newest events as if they were an older page.
    newest = event(session, at=now)

    response = admin_client.get("/admin/audit", query_string={"older_than": cursor})

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert ids_on(page, session)[0] == newest.id and "Newest events" not in page


def test_a_patients_address_is_in_no_url_and_their_events_page_by_posting_it(admin_client, session, now):
    address = "Mary.Jones+audit@example.org"
    booked = book_for(session, now, address, MONDAY_10).consultation
    for _ in range(60):
        audit.record(session, SYSTEM, "test.event", entity_type="consultation", entity_id=booked.id, now=now)
    session.commit()

    first = admin_client.post("/admin/audit", data={"patient": address, "action": "test.event"})
    older = next(f for f in drawn_forms(first.get_data(as_text=True)) if "older_than" in f.values)
    second = admin_client.post(older.action, data=older.values)
    (export,) = [f for f in drawn_forms(first.get_data(as_text=True)) if f.action == "/admin/audit.csv"]
    exported = admin_client.post(export.action, data=export.values)
    from_a_link = admin_client.get("/admin/audit", query_string={"patient": address})

    for answer in (first, second):
        urls = re.findall(r'(?:href|action|src)="([^"]*)"', answer.get_data(as_text=True))
        assert urls and not [url for url in urls if _names(url, address)]
    assert (older.method, export.method) == ("post", "post")
    assert older.values["patient"] == export.values["patient"] == address
    session.commit()
    made = session.scalars(
        select(AuditEvent.id).where(AuditEvent.action == "test.event").order_by(AuditEvent.id.desc())
    ).all()
    assert ids_on(first.get_data(as_text=True), session) == made[:50]
    assert ids_on(second.get_data(as_text=True), session) == made[50:]
    assert len(list(csv.reader(io.StringIO(exported.get_data().decode("utf-8-sig"))))) == 1 + 60
    assert from_a_link.status_code == 422 and "it is not taken from a link" in from_a_link.get_data(
        as_text=True
    )


def _names(url: str, address: str) -> bool:
    return any(
        form in url.lower() for form in {address.lower(), quote(address).lower(), quote_plus(address).lower()}
    )


def test_the_filter_form_without_a_patient_answers_with_a_link_to_its_page(admin_client):
    response = admin_client.post("/admin/audit", data={"action": "staff.login", "patient": " "})

    assert response.status_code == 303
    assert response.location == "/admin/audit?action=staff.login"


def test_the_export_carries_the_chain_which_an_auditor_can_check_from_the_csv_alone(
    admin_client, session, now
):
    for n in range(3):
        event(session, "test.event", entity=("test", n), at=now + timedelta(seconds=n))

    response = admin_client.get("/admin/audit.csv")

    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    rows.sort(key=lambda row: int(row["seq"]))
    assert [int(row["seq"]) for row in rows] == list(range(1, len(rows) + 1))
    assert [row["prev_hash"] for row in rows] == ["0" * 64] + [row["hash"] for row in rows[:-1]]
    keys = audit.settings_for(session).keys_by_id
    assert all(row["hash"] == hmac_from_csv(row, keys[row["key_id"]]) for row in rows)


def hmac_from_csv(row: dict[str, str], key: bytes) -> str:
    """The event's HMAC as README's "The audit trail" tells an auditor to recompute it from an export."""
    signed_key_id = [row["key_id"]] if row["hash_version"] == "2" else []
    fields = [
        int(row["seq"]),
        *signed_key_id,
        row["prev_hash"],
        row["occurred_at"],
        row["actor"],
        row["action"],
        row["entity_type"],
        row["entity_id"],
        row["remote_addr"] or None,
        json.loads(row["details"]),
    ]
    body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def checked(session) -> AuditEvent:
    return session.scalar(select(AuditEvent).where(AuditEvent.action == "audit.checked"))


def test_checking_the_trail_says_it_is_intact_with_its_count_and_last_time_and_is_audited(
    admin_client, session, admin
):
    made = [event(session, at=MONDAY_10 + timedelta(minutes=n)) for n in range(3)]  # after the sign-in's

    response = admin_client.post("/admin/audit/check")
    page = admin_client.get(response.location).get_data(as_text=True)

    assert response.status_code == 303 and response.location == "/admin/audit"
    session.commit()
    count = made[-1].seq
    assert (
        f"Audit chain intact: {count} events up to event {made[-1].id} (2026-03-09 10:02:00 UTC), "
        f"anchored at event {made[-1].id}." in page
    )
    assert "<title>Audit chain intact – Audit log" in page
    assert (checked(session).actor, checked(session).details) == (
        f"staff:{admin.id}",
        {"intact": True, "events": count, "last_event_id": made[-1].id},
    )


def test_checking_the_trail_names_an_edited_event_and_why_and_is_audited(admin_client, session):
    second = [event(session) for _ in range(3)][1]
    session.execute(update(AuditEvent).where(AuditEvent.id == second.id).values(actor="staff:99"))
    session.commit()

    page = admin_client.post("/admin/audit/check", follow_redirects=True).get_data(as_text=True)

    assert (
        f"Audit chain BROKEN at event {second.id}: its hash does not match its contents "
        "(edited, or rehashed without the key)" in page
    )
    notice = re.search(r'<div class="notice flash([^"]*)" role="(\w+)"[^>]*>(.*?)</div>', page, re.S)
    assert notice.group(1, 2) == (" notice-urgent", "alert")  # the error's colour, and read out at once
    assert "<p><strong>Error</strong></p>" in notice.group(3)  # not by its colour alone
    assert "<title>Error: Audit chain broken – Audit log" in page
    session.commit()
    assert checked(session).details == {"intact": False, "event_id": second.id}


def test_checking_a_trail_with_a_declared_break_warns_in_words_naming_what_cannot_be_checked(
    app, admin_client, session
):
    """Not the plain notice of an intact chain, nor a broken one's: a warning, said in the title and on the
    page, not by its colour alone, with what was declared and which events could not be checked."""
    before = event(session)  # and the sign-in's, under the app's key: then that key is lost
    lost = before.key_id
    restart_with(app, NEW_KEY, [], lost=(lost,))

    page = admin_client.post("/admin/audit/check", follow_redirects=True).get_data(as_text=True)

    notice = re.search(r'<div class="notice flash([^"]*)"[^>]*>(.*?)</div>', page, re.S)
    assert notice.group(1) == " notice-warning"
    assert "<p><strong>Warning</strong></p>" in notice.group(2)
    assert "Audit chain intact with a declared break: " in notice.group(2)
    assert f"Events 1 to {before.id}, signed by key id {lost} (declared lost), cannot be verified" in page
    assert "<title>Warning: Audit chain intact with a declared break – Audit log" in page


def test_checking_an_intact_trail_shows_no_warning(admin_client, session):
    event(session)

    page = admin_client.post("/admin/audit/check", follow_redirects=True).get_data(as_text=True)

    assert '<div class="notice flash" role="status"' in page
    assert "Warning" not in page


def test_the_check_and_a_search_by_patient_need_the_pages_csrf_token(database_url, tmp_path, session, now):
    admin = factories.staff(session)
    book_for(session, now, "mary@example.org", MONDAY_10)
    app = build_app(database_url, str(tmp_path / "csrf"), WTF_CSRF_ENABLED=True)
    with app.app_context():
        client = factories.browser(app)
        sign_in(client, admin, csrf_token=csrf_token(client.get("/login")))
        forged = [status(client.post(path, data={"patient": "mary@example.org"})) for path in POSTS]
        token = csrf_token(client.get("/admin/audit"))
        sent = {"patient": "mary@example.org", "csrf_token": token}
        genuine = [status(client.post(path, data=sent)) for path in POSTS]
        db.session.remove()
        db.engine.dispose()

    assert forged == [400, 400, 400]
    assert genuine == [200, 200, 303]


def status(response) -> int:
    response.close()  # the export streams within its request: it ends here
    return response.status_code
