# ruff: noqa: F811 - the fixtures imported below are the tests' parameters
"""Opening a list of patients is an audit event: the day, the week, the clashes and a clinician's hours each
record who saw which list (its page, department, clinician and date) and which consultations, by id only;
the day page's polled updates do not record each poll, yet no poll shows a list unrecorded."""

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from clinic import audit
from clinic.audit import Actor
from clinic.models import AuditEvent, Closure, StaffRole, utcnow
from clinic.scheduling.events import MAX_IDS_KEPT, ListShown, history, record_list_read

from . import factories
from .test_schedule import LONDON, clinic, login, text, today_at, visit  # noqa: F401 (clinic: a fixture)

IN_TWO_DAYS = 2
NAMES = ("Maria Visser", "Jan de Vries", "Lotte Bakker")


@pytest.fixture
def client(app):
    return factories.browser(app)


def shown_day() -> date:
    return today_at(10, days=IN_TWO_DAYS).astimezone(LONDON).date()


def book(session, clinic, **hours: int) -> dict:
    """A patient of each of Dr Okafor and Dr Raman (Cardiology) and Dr Jansen (Dermatology), in two days'
    time at the hour given for each (London's time)."""
    at = {who: today_at(hour, days=IN_TWO_DAYS) for who, hour in hours.items()}
    return {who: visit(session, clinic, who, at[who], name) for who, name in zip(at, NAMES, strict=True)}


@pytest.fixture
def booked(session, clinic):
    return book(session, clinic, okafor=10, raman=10, jansen=10)


def listed(session) -> list[AuditEvent]:
    session.rollback()  # a new read: the requests committed after the test's last one
    query = select(AuditEvent).where(AuditEvent.action == "consultations.listed")
    return list(session.scalars(query.order_by(AuditEvent.id)))


def signed_in(session, client, clinic, who: str):
    """`client` signed in as Dr Okafor, Cardiology's reception or an admin."""
    fields = {
        "clinician": {"role": StaffRole.CLINICIAN, "clinician_id": clinic["okafor"].id},
        "reception": {"role": StaffRole.RECEPTION, "department_id": clinic["cardiology"].id},
        "admin": {"role": StaffRole.ADMIN},
    }[who]
    return login(session, client, **fields)


# Who asks, what they ask for beyond the date, and what the list is of: (department, clinician, patients).
ROLES = {
    "clinician": ({}, ("cardiology", "okafor", ["okafor"])),
    "reception": ({}, ("cardiology", None, ["okafor", "raman"])),
    "admin": ({"department": "dermatology"}, ("dermatology", None, ["jansen"])),
}


def asked(clinic, who: str) -> dict:
    args, _ = ROLES[who]
    return {name: clinic[value].id for name, value in args.items()}


def scope(clinic, booked, who: str) -> tuple[dict, str, list[int]]:
    """The list's scope as its event's details and entity id name it, and the consultations in it."""
    _, (department, clinician, patients) = ROLES[who]
    whose = {"department_id": clinic[department].id}
    if clinician:
        whose["clinician_id"] = clinic[clinician].id
    named = " ".join(f"{name.removesuffix('_id')} {value}" for name, value in whose.items())
    return whose, named, [booked[name].id for name in patients]


def assert_names_no_one(event: AuditEvent) -> None:
    recorded = json.dumps([event.entity_id, event.details])
    assert not [name for name in NAMES if name in recorded]


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("page", ["day", "week"])
def test_opening_a_day_or_a_week_records_who_saw_which_list_by_ids(
    client, session, clinic, booked, who, page
):
    user = signed_in(session, client, clinic, who)
    address = "/schedule/" if page == "day" else "/schedule/week"

    response = client.get(address, query_string={"date": shown_day().isoformat(), **asked(clinic, who)})

    assert response.status_code == 200 and NAMES[2 if who == "admin" else 0] in text(response)
    day = shown_day() if page == "day" else shown_day() - timedelta(days=shown_day().weekday())
    whose, named, ids = scope(clinic, booked, who)
    [event] = listed(session)
    assert (event.actor, event.entity_type) == (f"staff:{user.id}", "consultation_list")
    assert event.entity_id == f"{page} {day.isoformat()} {named}"
    assert event.details == {
        "page": page,
        **whose,
        "day": day.isoformat(),
        "count": len(ids),
        "consultation_ids": ids,
    }
    assert_names_no_one(event)


@pytest.mark.parametrize("who", ROLES)
def test_opening_the_clashes_records_the_consultations_to_move(client, session, clinic, who):
    """Dr Okafor's and Dr Jansen's consultations in their lunch break (13:00 in each one's zone) are to
    move; Dr Raman's at 10:00 fits."""
    booked = book(session, clinic, okafor=13, raman=10, jansen=12)
    user = signed_in(session, client, clinic, who)

    assert client.get("/schedule/clashes", query_string=asked(clinic, who)).status_code == 200

    whose, named, ids = scope(clinic, booked, who)
    to_move = [consultation_id for consultation_id in ids if consultation_id != booked["raman"].id]
    [event] = listed(session)
    assert (event.actor, event.entity_id) == (f"staff:{user.id}", f"clashes {named}")
    assert event.details == {"page": "clashes", **whose, "count": len(to_move), "consultation_ids": to_move}
    assert_names_no_one(event)


@pytest.mark.parametrize("who", ["clinician", "admin"])
def test_a_clinicians_hours_page_records_the_bookings_it_lists_as_no_longer_fitting(
    client, session, clinic, who
):
    stranded = visit(session, clinic, "okafor", today_at(13, days=IN_TWO_DAYS), NAMES[0])
    user = signed_in(session, client, clinic, who)
    okafor = clinic["okafor"].id
    address = "/schedule/hours" if who == "clinician" else f"/admin/clinicians/{okafor}/hours"

    page = text(client.get(address))

    assert NAMES[0] in page
    [event] = listed(session)
    cardiology = clinic["cardiology"].id
    assert (event.actor, event.entity_id) == (
        f"staff:{user.id}",
        f"hours department {cardiology} clinician {okafor}",
    )
    assert event.details == {
        "page": "hours",
        "department_id": cardiology,
        "clinician_id": okafor,
        "count": 1,
        "consultation_ids": [stranded.id],
    }
    assert_names_no_one(event)


def test_the_admins_clinician_and_closures_pages_record_the_bookings_they_list(client, session, clinic):
    """The clinician's edit page lists their bookings to come, and the closures page the bookings in each
    closure, by patient: each is a list read like the schedule's."""
    start = today_at(10, days=IN_TWO_DAYS)
    booking = visit(session, clinic, "okafor", start, NAMES[0])
    session.add(
        Closure(department_id=None, starts_at=start - timedelta(hours=1), ends_at=start + timedelta(hours=3))
    )
    session.commit()
    user = signed_in(session, client, clinic, "admin")
    okafor = clinic["okafor"]

    pages = [text(client.get(f"/admin/clinicians/{okafor.id}")), text(client.get("/admin/closures"))]

    assert all(NAMES[0] in page for page in pages)
    events = listed(session)
    assert [(e.actor, e.entity_id) for e in events] == [
        (f"staff:{user.id}", f"clinician bookings department {okafor.department_id} clinician {okafor.id}"),
        (f"staff:{user.id}", "closures"),
    ]
    assert all(e.details["consultation_ids"] == [booking.id] for e in events)
    for event in events:
        assert_names_no_one(event)


def test_the_admins_cancel_page_records_the_read_of_its_one_consultation(client, session, clinic):
    consultation = visit(session, clinic, "okafor", today_at(10, days=IN_TWO_DAYS), NAMES[0])
    user = signed_in(session, client, clinic, "admin")

    asked = client.get(f"/admin/clinicians/{clinic['okafor'].id}/bookings/{consultation.id}/cancel")

    assert asked.status_code == 200 and NAMES[0] in text(asked)
    session.rollback()
    viewed = select(AuditEvent).where(AuditEvent.action == "consultation.viewed")
    [read] = session.scalars(viewed)
    assert (read.actor, read.entity_id) == (f"staff:{user.id}", str(consultation.id))
    assert read.details == {
        "reference": consultation.reference,
        "clinician_id": consultation.clinician_id,
        "view": "admin cancel page",
    }


def test_a_list_showing_nobody_records_nothing(client, session, clinic):
    signed_in(session, client, clinic, "clinician")

    for address in (
        "/schedule/",
        "/schedule/week",
        "/schedule/clashes",
        "/schedule/updates",
        "/schedule/week/updates",
        "/schedule/hours",
    ):
        assert client.get(address, query_string={"date": shown_day().isoformat()}).status_code == 200

    assert listed(session) == []


def test_the_day_pages_polls_record_nothing_more_while_its_load_covers_them(client, session, clinic, booked):
    signed_in(session, client, clinic, "reception")
    query = {"date": shown_day().isoformat()}
    client.get("/schedule/", query_string=query)

    polls = [client.get("/schedule/updates", query_string=query) for _ in range(4)]

    assert all(NAMES[0] in text(poll) for poll in polls)
    assert [event.details["page"] for event in listed(session)] == ["day"]


def test_a_poll_of_a_day_no_page_load_recorded_records_it_once(client, session, clinic, booked):
    user = signed_in(session, client, clinic, "clinician")
    client.get("/schedule/")  # today: nobody booked, nothing recorded

    polls = [
        client.get("/schedule/updates", query_string={"date": shown_day().isoformat()}) for _ in range(3)
    ]

    assert all(NAMES[0] in text(poll) for poll in polls)
    [event] = listed(session)
    assert (event.actor, event.details["day"]) == (f"staff:{user.id}", shown_day().isoformat())
    assert event.details["consultation_ids"] == [booked["okafor"].id]


def test_a_list_read_again_records_again_once_the_last_record_is_older_than_asked(session):
    shown, actor, now = ListShown("day", 3, None, date(2026, 12, 7)), Actor.staff(12), utcnow()
    record_list_read(session, shown, [41, 42], now, actor)
    again = timedelta(minutes=15)

    record_list_read(session, shown, [41, 42], now + timedelta(minutes=14), actor, again_after=again)
    record_list_read(
        session, shown, [41, 42], now + timedelta(minutes=14), Actor.staff(13), again_after=again
    )
    record_list_read(session, ListShown("day", 3, 7, date(2026, 12, 7)), [41], now, actor, again_after=again)
    record_list_read(session, shown, [41, 42], now + timedelta(minutes=16), actor, again_after=again)

    recorded = [(event.actor, event.entity_id) for event in listed(session)]
    assert recorded == [
        ("staff:12", "day 2026-12-07 department 3"),
        ("staff:13", "day 2026-12-07 department 3"),
        ("staff:12", "day 2026-12-07 department 3 clinician 7"),
        ("staff:12", "day 2026-12-07 department 3"),
    ]


def test_a_long_list_records_how_many_it_showed_but_not_each_id():
    shown = ListShown("week", 3, None, date(2026, 12, 7))

    assert shown.details(range(MAX_IDS_KEPT))["consultation_ids"] == list(range(MAX_IDS_KEPT))
    assert shown.details(range(MAX_IDS_KEPT + 1)) == {
        "page": "week",
        "department_id": 3,
        "day": "2026-12-07",
        "count": MAX_IDS_KEPT + 1,
    }


def test_list_reads_chain_like_every_other_event_and_stay_out_of_a_consultations_history(
    client, session, clinic, booked
):
    opened = booked["okafor"]
    details = f"/schedule/consultations/{opened.id}"  # read before the requests: see `login`
    signed_in(session, client, clinic, "reception")
    query = {"date": shown_day().isoformat()}

    pages = (
        "/schedule/",
        "/schedule/week",
        "/schedule/updates",
        "/schedule/week/updates",
        "/schedule/clashes",
    )
    for address in (*pages, details):
        assert client.get(address, query_string=query).status_code == 200

    assert len(listed(session)) == 2  # the day and the week: no clashes, and the polls covered by their pages
    assert isinstance(audit.verify(session), audit.Verified)
    assert history(session, opened) == []  # its reads, alone or in lists, are not changes
