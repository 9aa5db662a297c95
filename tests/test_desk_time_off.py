"""Reception records a clinician's absence: a department's desk records time off (and removes it) for its
own clinicians, audited as the desk member, when a clinician phones in sick before the clinic opens."""

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from clinic.audit import Actor
from clinic.models import AuditEvent, Consultation, ConsultationStatus, StaffRole, StaffUser, TimeOff, utcnow
from clinic.scheduling.hours import add_time_off
from clinic.scheduling.lifecycle import mark_no_shows

from . import factories
from .factories import sign_in
from .test_schedule import login, text

SICK_DAY = {"starts_at": "2030-07-01T00:00", "ends_at": "2030-07-02T00:00", "label": "Sick"}


@pytest.fixture
def client(app):
    return factories.browser(app)


@pytest.fixture
def sick(session):
    """A clinician of Cardiology, and a department beside it."""
    cardiology = factories.department(session, name="Cardiology")
    dermatology = factories.department(session, name="Dermatology")
    service = factories.service(session, cardiology)
    clinician = factories.clinician(session, [service], hours=[(time(9), time(17))], department=cardiology)
    session.commit()
    return {"clinician": clinician, "own": cardiology.id, "other": dermatology.id}


def page_of(sick) -> str:
    return f"/schedule/clinicians/{sick['clinician'].id}/time-off"


def wall(instant: datetime) -> str:
    """The instant as the time-off form takes it, in the clinician's zone (London)."""
    return instant.astimezone(ZoneInfo("Europe/London")).strftime("%Y-%m-%dT%H:%M")


def recorded(session) -> list[TimeOff]:
    session.commit()  # a new read, past the requests
    return list(session.scalars(select(TimeOff)))


def audited(session, action: str) -> list[str]:
    session.commit()
    return list(session.scalars(select(AuditEvent.actor).where(AuditEvent.action == action)))


def test_reception_records_a_clinicians_sick_day_and_it_is_audited_as_them(client, session, sick):
    desk = login(session, client, StaffRole.RECEPTION, department_id=sick["own"])

    added = client.post(page_of(sick), data=SICK_DAY)
    page = text(client.get(page_of(sick)))

    assert added.status_code == 303
    (off,) = recorded(session)
    assert off.clinician_id == sick["clinician"].id and off.label == "Sick"
    assert "Sick" in page and "Weekly hours" in page
    assert audited(session, "clinician.time_off_added") == [f"staff:{desk.id}"]


def test_reception_removes_time_off_it_recorded_and_it_is_audited(client, session, sick):
    desk = login(session, client, StaffRole.RECEPTION, department_id=sick["own"])
    client.post(page_of(sick), data=SICK_DAY)
    (off,) = recorded(session)

    removed = client.post(f"{page_of(sick)}/{off.id}/remove")

    assert removed.status_code == 303
    assert recorded(session) == []
    assert audited(session, "clinician.time_off_removed") == [f"staff:{desk.id}"]


def test_reception_cannot_change_weekly_hours(client, session, sick):
    login(session, client, StaffRole.RECEPTION, department_id=sick["own"])

    page = text(client.get(page_of(sick)))
    refused = client.post(
        f"/schedule/clinicians/{sick['clinician'].id}/hours",
        data={"weekday": "2", "start": "9:00", "end": "10:00"},
    )

    assert refused.status_code in (404, 405)
    assert "Add these hours" not in page


@pytest.mark.parametrize(
    ("role", "department", "opens"),
    [
        (StaffRole.ADMIN, None, 200),
        (StaffRole.RECEPTION, "own", 200),
        (StaffRole.RECEPTION, "other", 404),
        (StaffRole.CLINICIAN, "own", 403),
        (None, None, 302),
    ],
)
def test_only_admins_and_the_clinicians_own_reception_may_record_its_time_off(
    client, session, sick, role, department, opens
):
    if role is not None:
        login(session, client, role, department_id=sick.get(department))

    shown = client.get(page_of(sick))
    added = client.post(page_of(sick), data=SICK_DAY)

    assert shown.status_code == opens
    assert added.status_code == (303 if opens == 200 else opens)
    assert len(recorded(session)) == (1 if opens == 200 else 0)


def test_another_departments_reception_cannot_remove_the_clinicians_time_off(client, session, sick):
    login(session, client, StaffRole.RECEPTION, department_id=sick["own"])
    client.post(page_of(sick), data=SICK_DAY)
    (off,) = recorded(session)
    client.post("/logout")
    login(session, client, StaffRole.RECEPTION, department_id=sick["other"])

    refused = client.post(f"{page_of(sick)}/{off.id}/remove")

    assert refused.status_code == 404
    assert len(recorded(session)) == 1


@pytest.mark.parametrize("path", ["/schedule/hours", "/admin/", "/admin/clinicians/1/hours"])
def test_a_refused_staff_page_says_the_account_cannot_open_it_not_that_something_went_wrong(
    client, session, sick, path
):
    desk = login(session, client, StaffRole.RECEPTION, department_id=sick["own"])

    refused = client.get(path)

    assert refused.status_code == 403
    assert "Sorry, something went wrong" not in text(refused)
    assert f"signed in as {desk.display_name}, whose account cannot open this page" in text(refused)


def sign_in_as_clinician(session, client, clinician) -> None:
    """Sign `client` in with the clinician's own account, made now if they have none yet."""
    session.rollback()
    account = session.scalar(select(StaffUser).filter_by(clinician_id=clinician.id))
    account = account or factories.linked_staff(session, clinician, StaffRole.CLINICIAN)
    assert sign_in(client, account).status_code == 303
    session.rollback()


def clinicians_own_leave(session, sick, label: str) -> TimeOff:
    """1 to 15 August 2030 off, which the clinician planned themselves, with their note `label`."""
    clinician = sick["clinician"]
    own = add_time_off(
        session,
        clinician.id,
        datetime(2030, 8, 1, tzinfo=UTC),
        datetime(2030, 8, 15, tzinfo=UTC),
        label,
        now=utcnow(),
        actor=Actor.staff(factories.staff(session, role=StaffRole.CLINICIAN, clinician_id=clinician.id).id),
    )
    session.commit()
    return own


def test_reception_removes_only_time_off_the_desk_recorded_not_the_clinicians_own(client, session, sick):
    """The desk records an absence and may take back what it recorded; leave the clinician (or an admin)
    planned is theirs to change."""
    own = clinicians_own_leave(session, sick, "Leave")
    login(session, client, StaffRole.RECEPTION, department_id=sick["own"])
    client.post(page_of(sick), data=SICK_DAY)

    page = text(client.get(page_of(sick)))
    refused = client.post(f"{page_of(sick)}/{own.id}/remove")

    assert refused.status_code == 409 and "recorded at the desk" in text(refused)
    assert page.count('aria-label="Remove the time off') == 1  # the desk's own entry only
    assert len(recorded(session)) == 2


def test_reception_sees_when_a_clinician_is_away_but_not_the_note_they_wrote_for_themselves(
    client, session, sick
):
    """The note is "for yourself": it may say why someone is away, which the schedule's bands and the audit
    trail never show either. The desk reads the notes the desk wrote."""
    clinicians_own_leave(session, sick, "IVF treatment")
    login(session, client, StaffRole.RECEPTION, department_id=sick["own"])
    client.post(page_of(sick), data=SICK_DAY)

    page = text(client.get(page_of(sick)))

    assert "IVF treatment" not in page
    assert "1 August 2030" in page and "Sick" in page


@pytest.mark.parametrize(
    ("recorded_by", "adding", "may_remove"),
    [
        ("desk", StaffRole.RECEPTION, True),
        ("clinician", StaffRole.RECEPTION, False),
        ("clinician", StaffRole.CLINICIAN, True),
        ("clinician", StaffRole.ADMIN, True),
    ],
)
def test_time_off_that_overlaps_is_refused_with_only_what_the_one_adding_may_do(
    client, session, sick, recorded_by, adding, may_remove
):
    """Reception are told to remove and add again only time off the desk recorded, which they may remove;
    the clinician's own leave they are told to keep clear of, or to ask the clinician or an admin."""
    clinician = sick["clinician"]
    if recorded_by == "desk":
        login(session, client, StaffRole.RECEPTION, department_id=sick["own"])
        client.post(page_of(sick), data=SICK_DAY)
        client.post("/logout")
    else:
        clinicians_own_leave(session, sick, "Leave")
    if adding is StaffRole.CLINICIAN:  # the clinician who planned the leave
        sign_in_as_clinician(session, client, clinician)
    else:
        login(session, client, adding, department_id=sick["own"])
    page = "/schedule/time-off" if adding is StaffRole.CLINICIAN else page_of(sick)
    overlapping = {"starts_at": "2030-07-01T12:00", "ends_at": "2030-08-02T00:00", "label": "Sick"}

    refused = client.post(page, data=overlapping)

    said = text(refused)
    assert refused.status_code == 422 and "This overlaps time off already planned" in said
    assert ("remove it and add the time off again" in said) is may_remove
    if not may_remove:
        assert f"ask {clinician.display_name} or an admin to change it" in said


@pytest.mark.parametrize("role", [StaffRole.RECEPTION, StaffRole.CLINICIAN, StaffRole.ADMIN])
def test_a_booking_the_sick_day_strands_is_offered_only_what_the_reader_may_do_with_it(
    client, session, sick, role
):
    """Each booking listed as no longer fitting says what to do: move it, cancel it, or change the hours
    back; the last only to those who may change the hours (never the desk), where they can."""
    clinician = sick["clinician"]
    factories.consultation(session, clinician.services[0], clinician, datetime(2030, 7, 1, 10, tzinfo=UTC))
    if role is StaffRole.CLINICIAN:
        sign_in_as_clinician(session, client, clinician)
    else:
        login(session, client, role, department_id=sick["own"])
    page = "/schedule/time-off" if role is StaffRole.CLINICIAN else page_of(sick)
    client.post(page, data=SICK_DAY)

    listed = text(client.get("/schedule/hours" if role is StaffRole.CLINICIAN else page))

    assert "move it" in listed and "cancel it" in listed
    assert ("change the hours back" in listed) is (role is not StaffRole.RECEPTION)
    if role is StaffRole.ADMIN:  # not on the desk's page, which changes time off only: on the admin's
        admins_page = f"/admin/clinicians/{clinician.id}/hours"
        assert f'<a href="{admins_page}">change the hours back</a>' in listed
        assert client.get(admins_page).status_code == 200


@pytest.mark.parametrize(
    ("role", "readers"),
    [
        (StaffRole.CLINICIAN, "Only you and the admins read it, not the desk."),
        (StaffRole.RECEPTION, "{name}, the admins and the desk read it."),
        (StaffRole.ADMIN, "{name} and the admins read it, not the desk."),
    ],
)
def test_the_time_off_note_says_who_reads_it_to_whoever_writes_it(client, session, sick, role, readers):
    """A note is shown to the clinician and the admins, and to the desk only if the desk wrote it
    (removable_time_off): "for yourself" told reception a note they wrote for the clinician was their own."""
    clinician = sick["clinician"]
    if role is StaffRole.CLINICIAN:
        sign_in_as_clinician(session, client, clinician)
    else:
        login(session, client, role, department_id=sick["own"])

    page = text(client.get("/schedule/hours" if role is StaffRole.CLINICIAN else page_of(sick)))

    assert "Note for yourself" not in page
    assert readers.format(name=clinician.display_name) in page


def test_taking_back_a_sick_day_already_begun_keeps_the_bookings_it_stranded_off_the_no_show_list(
    client, session, sick
):
    """A sick day recorded at the desk from three hours ago; the clinician back at work, the desk takes it
    back: the booking of two hours ago that nobody took stays to move or cancel, never the patient's
    no-show, as the absence so far happened. What is still to come is given back."""
    now = utcnow()
    clinician = sick["clinician"]
    missed = factories.consultation(
        session, clinician.services[0], clinician, now - timedelta(hours=2), status=ConsultationStatus.BOOKED
    )
    desk = login(session, client, StaffRole.RECEPTION, department_id=sick["own"])
    began = {"starts_at": wall(now - timedelta(hours=3)), "ends_at": wall(now + timedelta(days=1))}
    client.post(page_of(sick), data=began | {"label": "Sick"})
    (off,) = recorded(session)

    offered = text(client.get(page_of(sick)))
    taken_back = client.post(f"{page_of(sick)}/{off.id}/remove")
    mark_no_shows(session, now=utcnow(), after=timedelta(minutes=30))

    assert 'aria-label="End the time off from' in offered and ">End now</button>" in offered
    assert taken_back.status_code == 303 and "That time off ends now." in text(client.get(page_of(sick)))
    session.rollback()
    assert session.get(Consultation, missed.id).status is ConsultationStatus.BOOKED
    (kept,) = recorded(session)
    assert kept.starts_at == off.starts_at and off.starts_at < kept.ends_at <= utcnow()
    assert audited(session, "clinician.time_off_ended") == [f"staff:{desk.id}"]


def time_off_row(page: str, day: str) -> str:
    """The text of the time-off table's row starting on `day` ("1 August 2030")."""
    table = page.partition("<h2>Time off</h2>")[2]
    row = next(row for row in re.findall(r"<tr>(.*?)</tr>", table, re.DOTALL) if day in row)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()


@pytest.mark.parametrize(
    ("recorder", "reader"),
    [
        (StaffRole.ADMIN, StaffRole.RECEPTION),
        (StaffRole.ADMIN, StaffRole.CLINICIAN),
        (StaffRole.RECEPTION, StaffRole.CLINICIAN),
        (StaffRole.RECEPTION, StaffRole.ADMIN),
        (StaffRole.CLINICIAN, StaffRole.RECEPTION),
    ],
)
def test_time_off_says_who_recorded_it_not_that_it_is_the_clinicians_own(
    client, session, sick, recorder, reader
):
    """Leave an admin (or the desk) recorded for a clinician was shown to the desk as "<clinician>'s own",
    and to the clinician as theirs with no word of who put it there: each row now names who recorded it,
    "you" for the reader's own."""
    clinician = sick["clinician"]
    if recorder is StaffRole.CLINICIAN:
        by = factories.linked_staff(session, clinician, StaffRole.CLINICIAN)
    else:
        by = factories.staff(session, role=recorder, department_id=sick["own"], display_name="Sam Recorder")
    add_time_off(
        session,
        clinician.id,
        datetime(2030, 8, 1, tzinfo=UTC),
        datetime(2030, 8, 15, tzinfo=UTC),
        "Leave",
        now=utcnow(),
        actor=Actor.staff(by.id),
    )
    session.commit()
    if reader is StaffRole.CLINICIAN:
        sign_in_as_clinician(session, client, clinician)
        page = text(client.get("/schedule/hours"))
    else:
        login(session, client, reader, department_id=sick["own"])
        page = text(client.get(page_of(sick)))

    row = time_off_row(page, "1 August 2030")

    assert "'s own" not in row
    if recorder is StaffRole.CLINICIAN:
        assert f"{clinician.display_name} Leave" not in row  # the note is the clinician's, not the desk's
        assert row.startswith("Thursday 1 August 2030") and f"{clinician.display_name} Not shown" in row
    else:
        assert f"Sam Recorder ({recorder.value})" in row


def test_time_off_the_reader_recorded_says_so(client, session, sick):
    login(session, client, StaffRole.RECEPTION, department_id=sick["own"])
    client.post(page_of(sick), data=SICK_DAY)

    row = time_off_row(text(client.get(page_of(sick))), "1 July 2030")

    assert "(UK time, GMT+1) You Sick" in row
