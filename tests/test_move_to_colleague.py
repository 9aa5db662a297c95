"""A clinician phones in sick: reception hands her bookings to colleagues of the same service, as the same
consultations (reference, invite, companion, reason), through the booking's own no-double-booking
transaction. Real pages, worker, SMTP server and provider fakes; races on SQLite and PostgreSQL."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import re
import threading
import time as clock
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from clinic.audit import Actor
from clinic.booking.calendar import form_value
from clinic.models import (
    AuditEvent,
    Consultation,
    ConsultationStatus,
    OutboxKind,
    OutboxStatus,
    StaffRole,
    utcnow,
)
from clinic.notify.ics import companion_invite_uid
from clinic.notify.wording import format_start
from clinic.scheduling.booking import BookingRequest, book
from clinic.scheduling.errors import SlotTaken
from clinic.scheduling.lifecycle import cancel, change_status, reschedule
from clinic.scheduling.timezones import zone

from . import factories, racing
from .conftest import TEST_KEYS
from .fakes.outbox import invite, last_invite, outbox, text  # noqa: F401 (fixture)
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)
from .racing import racing_engine
from .test_manage_link import open_link
from .test_schedule import login
from .test_schedule import text as page_text
from .test_schedule_actions import client, deliver, now, reloaded, tomorrow_at  # noqa: F401 (fixtures)

S = ConsultationStatus
LONDON = zone("Europe/London")
REASON = "Rash spreading after the new tablets"
INTERPRETER = {"name": "Ana Interpreter", "email": "ana@interpreters.example", "role": "interpreter"}
# Every day round the clock: two day-long shifts that overlap, so that no midnight splits a time soon after
# now (one shift of 00:00–23:30 failed these tests from 23:20 to 23:55).
WORKS_ALL_DAY = {"weekdays": range(7), "hours": [(time(0), time(0)), (time(12), time(12))]}


@pytest.fixture
def derm(session):
    """Dermatology: Dr Noor Haddad and two colleagues of the same service, who work every day; a five-minute
    grid, so a colleague is free within the waiting room's quarter of an hour."""
    department = factories.department(session, name="Dermatology")
    skin = factories.service(session, department, name="Skin review", slot_interval_minutes=5)
    haddad = factories.clinician(session, [skin], display_name="Dr Noor Haddad", **WORKS_ALL_DAY)
    lewis = factories.clinician(session, [skin], display_name="Dr Sam Lewis", **WORKS_ALL_DAY)
    brooks = factories.clinician(session, [skin], display_name="Dr Ada Brooks", **WORKS_ALL_DAY)
    session.commit()
    return {"department": department, "skin": skin, "haddad": haddad, "lewis": lewis, "brooks": brooks}


def off_sick(session, person, day_start: datetime) -> None:
    factories.time_off(session, person, day_start - timedelta(days=1), day_start + timedelta(days=2))
    session.commit()


def book_with_haddad(session, derm, start, **fields):
    return factories.booking(
        session,
        derm["skin"],
        start,
        now=utcnow(),
        clinician_id=derm["haddad"].id,
        reason=REASON,
        companion=factories.companion_details(**INTERPRETER),
        **fields,
    )


def test_reception_hands_a_sick_clinicians_booking_to_a_colleague_as_the_same_consultation(
    client, session, derm, outbox, smtp_server
):
    start = tomorrow_at(10)
    booked = book_with_haddad(session, derm, start)
    consultation = booked.consultation
    deliver(outbox)
    first = reloaded(session, consultation)
    reference, sequence = first.reference, first.invite_sequence
    uid = str(invite(smtp_server.inbox(first.patient.email)[0])[1]["UID"])
    patient, haddad, lewis = first.patient.email, derm["haddad"], derm["lewis"]
    mailed_before = {address: len(smtp_server.inbox(address)) for address in (patient, haddad.email)}
    off_sick(session, haddad, start)
    login(session, client, StaffRole.RECEPTION, department_id=derm["department"].id)
    base = f"/schedule/consultations/{consultation.id}/move"

    own = page_text(client.get(base))
    theirs = page_text(
        client.get(base, query_string={"clinician": lewis.id, "day": start.date().isoformat()})
    )
    moved = client.post(base, data={"start": form_value(start), "clinician": lewis.id})
    deliver(outbox)

    assert "Dr Sam Lewis" in own and "First available" in own
    assert form_value(start) in theirs
    assert moved.status_code == 303
    after = reloaded(session, consultation)
    assert (after.reference, after.uuid, after.clinician_id) == (reference, first.uuid, lewis.id)
    assert after.status is S.BOOKED and after.invite_sequence == sequence + 1
    assert after.reason_text == REASON
    assert after.companion is not None and after.companion.email == INTERPRETER["email"]
    assert after.companion.role.value == "interpreter"
    # One updated invite each, same UID (the interpreter's their own), SEQUENCE + 1.
    interpreter_uid = companion_invite_uid(after.companion.uuid, "clinic.example")
    for address, own_uid in ((patient, uid), (INTERPRETER["email"], interpreter_uid)):
        method, event = invite(smtp_server.inbox(address)[-1])
        assert (method, str(event["UID"]), int(event["SEQUENCE"])) == ("REQUEST", own_uid, sequence + 1)
        assert "Dr Sam Lewis" in text(smtp_server.inbox(address)[-1])
    assert len(smtp_server.inbox(patient)) == mailed_before[patient] + 1
    (method, event) = invite(smtp_server.inbox(haddad.email)[-1])
    assert (method, str(event["UID"])) == ("CANCEL", uid)
    assert event.decoded("DTSTART") == start  # the time it was on her calendar
    assert len(smtp_server.inbox(haddad.email)) == mailed_before[haddad.email] + 1
    (method, event) = invite(smtp_server.inbox(lewis.email)[-1])
    assert (method, str(event["UID"]), int(event["SEQUENCE"])) == ("REQUEST", uid, sequence + 1)
    for address in (patient, haddad.email, lewis.email, INTERPRETER["email"]):
        assert all(REASON not in text(m) for m in smtp_server.inbox(address))
    reminders = outbox.messages(after, OutboxKind.REMINDER)
    planned = {m.payload["sequence"] for m in reminders if m.status is OutboxStatus.PENDING}
    assert planned == {sequence + 1}


def hand_to_lewis(session, derm, consultation, start) -> None:
    reschedule(
        session,
        consultation.id,
        start,
        now=utcnow(),
        actor=Actor("staff:1"),
        clinician_id=derm["lewis"].id,
        enforce_cutoff=False,
    )


def test_the_clinician_a_booking_is_handed_from_is_told_it_went_to_a_colleague_not_that_it_was_cancelled(
    session, derm, outbox, smtp_server
):
    """Dr Haddad was sent the ordinary "has been cancelled": read as the patient's cancellation, she might
    phone the patient or book them again. Her calendar must still drop the event (METHOD:CANCEL)."""
    start = tomorrow_at(14)
    booked = book_with_haddad(session, derm, start)
    deliver(outbox)
    haddad, patient = derm["haddad"], reloaded(session, booked.consultation).patient
    reference = booked.consultation.reference

    hand_to_lewis(session, derm, booked.consultation, start)
    deliver(outbox)

    mail = smtp_server.inbox(haddad.email)[-1]
    body = mail.get_body(("plain",)).get_content()
    method, event = invite(mail)
    assert str(mail["Subject"]) == f"Video consultation {reference} handed to Dr Sam Lewis"
    said = f"Video consultation {reference} on {format_start(start, haddad.time_zone)} has been handed to"
    assert f"{said} your colleague Dr Sam Lewis" in body
    assert "has been cancelled" not in body and "you do not need to contact the patient" in body
    assert (method, event.decoded("DTSTART")) == ("CANCEL", start)
    assert "handed to your colleague Dr Sam Lewis" in str(event["DESCRIPTION"])
    assert "LOCATION" not in event and "URL" not in event
    everything = text(mail)
    assert REASON not in everything and patient.name not in everything and patient.email not in everything
    assert "https://" not in everything  # no call, host or manage link: the call is no longer hers


def test_the_patient_and_companion_of_a_booking_handed_over_at_its_time_read_who_has_it_not_that_it_moved(
    session, derm, outbox, smtp_server
):
    """They were sent "Your video consultation has moved ... has moved to" the very time they had, with no
    word of the new clinician but a "With:" line further down: a patient would look for what changed."""
    start = tomorrow_at(14)
    booked = book_with_haddad(session, derm, start)
    deliver(outbox)
    patient = reloaded(session, booked.consultation).patient

    hand_to_lewis(session, derm, booked.consultation, start)
    deliver(outbox)

    for address in (patient.email, INTERPRETER["email"]):
        mail = smtp_server.inbox(address)[-1]
        opening = mail.get_body(("plain",)).get_content().replace("\r\n", "\n").split("\n\n")[1]
        said = str(mail["Subject"]) + "\n" + opening
        assert "moved" not in said, said
        assert "Dr Sam Lewis" in opening and "The time has not changed" in opening, opening
        assert format_start(start, patient.time_zone) in opening
        assert invite(mail)[0] == "REQUEST"


def test_the_patient_and_companion_of_a_booking_moved_to_a_colleague_at_a_new_time_read_both_changes(
    session, derm, outbox, smtp_server
):
    """They were sent "has moved to 15:00", the new clinician named only in the "With:" line further down,
    where the handover at the same time says "is now with Dr Sam Lewis" in its first words."""
    start, later = tomorrow_at(14), tomorrow_at(15)
    booked = book_with_haddad(session, derm, start)
    deliver(outbox)
    patient = reloaded(session, booked.consultation).patient

    hand_to_lewis(session, derm, booked.consultation, later)
    deliver(outbox)

    for address in (patient.email, INTERPRETER["email"]):
        mail = smtp_server.inbox(address)[-1]
        paragraphs = mail.get_body(("plain",)).get_content().replace("\r\n", "\n").split("\n\n")
        subject, opening = str(mail["Subject"]), paragraphs[1]
        assert "moved" in subject and "new clinician" in subject, subject
        assert f"moved to {format_start(later, patient.time_zone)}" in opening, opening
        assert "now with Dr Sam Lewis" in opening, opening
        assert format_start(start, patient.time_zone) in paragraphs[2]  # the earlier time no longer applies
        assert REASON not in text(mail)
        assert invite(mail)[0] == "REQUEST"


def test_the_handover_mail_is_its_own_kind_in_the_outbox_not_a_cancellation(
    client, session, derm, outbox, smtp_server
):
    """It was stored as mail.cancellation, so the admin's outbox listed a cancellation of a booking that
    stands; what the worker sends is chosen by that kind alone."""
    start = tomorrow_at(16)
    booked = book_with_haddad(session, derm, start)
    deliver(outbox)

    hand_to_lewis(session, derm, booked.consultation, start)
    deliver(outbox)

    handed = outbox.only(booked.consultation, OutboxKind.HANDED_OVER, "clinician")
    assert handed.status is OutboxStatus.DONE
    assert outbox.messages(booked.consultation, OutboxKind.CANCELLATION) == []
    login(session, client, StaffRole.ADMIN)
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "mail.handed_over" in page and "mail.cancellation" not in page
    subject = str(smtp_server.inbox(derm["haddad"].email)[-1]["Subject"])
    assert subject.endswith("handed to Dr Sam Lewis")


def test_a_real_cancellation_still_tells_the_clinician_it_was_cancelled(session, derm, outbox, smtp_server):
    start = tomorrow_at(15)
    booked = book_with_haddad(session, derm, start)
    hand_to_lewis(session, derm, booked.consultation, start)
    deliver(outbox)

    cancel(session, booked.consultation.id, now=utcnow(), actor=Actor("staff:1"), enforce_cutoff=False)
    deliver(outbox)

    mail = smtp_server.inbox(derm["lewis"].email)[-1]
    reference = booked.consultation.reference
    assert str(mail["Subject"]) == f"Video consultation {reference} cancelled"
    assert "has been cancelled" in mail.get_body(("plain",)).get_content()
    assert "handed" not in text(mail) and invite(mail)[0] == "CANCEL"


def test_first_available_colleague_takes_the_booking_at_its_time(client, session, derm, outbox, smtp_server):
    start = tomorrow_at(11)
    booked = book_with_haddad(session, derm, start)
    factories.booking(session, derm["skin"], start, now=utcnow(), clinician_id=derm["lewis"].id)
    off_sick(session, derm["haddad"], start)
    login(session, client, StaffRole.RECEPTION, department_id=derm["department"].id)
    base = f"/schedule/consultations/{booked.consultation.id}/move"

    page = page_text(client.get(base, query_string={"clinician": "any", "day": start.date().isoformat()}))
    moved = client.post(base, data={"start": form_value(start), "clinician": "any"})

    assert form_value(start) in page and "No free times on this day" not in page
    assert moved.status_code == 303
    after = reloaded(session, booked.consultation)
    assert (after.clinician_id, after.starts_at) == (derm["brooks"].id, start)  # Lewis is busy then


def test_the_move_page_offers_the_times_the_consultation_alone_kept_busy_and_not_its_own_time(
    client, session, derm
):
    """The move sets the consultation's own time aside (lifecycle.reschedule checks with it excluded), so
    10:05 on the five-minute grid is Dr Haddad's to take, but the page counted it busy and never offered it,
    with her or with whoever is free first. Its own 10:00 is no new time: nobody else is in today."""
    start, wanted = tomorrow_at(10), tomorrow_at(10) + timedelta(minutes=5)
    booked = book_with_haddad(session, derm, start)
    for colleague in (derm["lewis"], derm["brooks"]):
        off_sick(session, colleague, start)
    login(session, client, StaffRole.RECEPTION, department_id=derm["department"].id)
    base = f"/schedule/consultations/{booked.consultation.id}/move"
    day = start.date().isoformat()

    own = page_text(client.get(base, query_string={"clinician": derm["haddad"].id, "day": day}))
    anyone = page_text(client.get(base, query_string={"clinician": "any", "day": day}))
    moved = client.post(base, data={"start": form_value(wanted), "clinician": "any"})

    assert form_value(wanted) in own and form_value(wanted) in anyone
    assert start not in offered_starts(own) and start not in offered_starts(anyone)
    assert moved.status_code == 303
    after = reloaded(session, booked.consultation)
    assert (after.clinician_id, after.starts_at) == (derm["haddad"].id, wanted)


def test_the_move_page_offers_a_colleague_the_consultations_own_time_and_is_held_to_their_day_alone(
    client, session, derm
):
    """With Dr Lewis, 10:00 is a handover at the same time, and Dr Haddad's booking does not stand in his
    way; his own 10:30 booking stands in the way of 10:05 with him, though not of 10:05 with whoever is free
    first (Dr Haddad, her booking set aside)."""
    start, his = tomorrow_at(10), tomorrow_at(10) + timedelta(minutes=30)
    booked = book_with_haddad(session, derm, start)
    factories.booking(session, derm["skin"], his, now=utcnow(), clinician_id=derm["lewis"].id)
    off_sick(session, derm["brooks"], start)
    login(session, client, StaffRole.RECEPTION, department_id=derm["department"].id)
    base = f"/schedule/consultations/{booked.consultation.id}/move"
    day = start.date().isoformat()

    lewis = page_text(client.get(base, query_string={"clinician": derm["lewis"].id, "day": day}))
    anyone = page_text(client.get(base, query_string={"clinician": "any", "day": day}))
    moved = client.post(base, data={"start": form_value(start), "clinician": "any"})

    assert form_value(start) in lewis and form_value(start) in anyone
    assert form_value(start + timedelta(minutes=5)) not in lewis  # his 10:30 booking is in its way
    assert form_value(start + timedelta(minutes=5)) in anyone
    assert moved.status_code == 303
    after = reloaded(session, booked.consultation)
    assert (after.clinician_id, after.starts_at) == (derm["lewis"].id, start)


def test_a_colleague_outside_the_service_or_department_is_refused_beside_the_field(client, session, derm):
    booked = book_with_haddad(session, derm, tomorrow_at(12))
    stranger = factories.clinician(session, [factories.service(session)], **WORKS_ALL_DAY)
    session.commit()
    login(session, client, StaffRole.RECEPTION, department_id=derm["department"].id)

    moved = client.post(
        f"/schedule/consultations/{booked.consultation.id}/move",
        data={"start": form_value(tomorrow_at(12)), "clinician": stranger.id},
    )

    assert moved.status_code == 404 or moved.status_code == 422
    assert "That clinician does not offer this service." in page_text(moved)
    assert reloaded(session, booked.consultation).clinician_id == derm["haddad"].id


def next_grid_start(minutes_ahead: int) -> datetime:
    """A start on the five-minute grid at least `minutes_ahead` from now."""
    soon = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=minutes_ahead)
    return soon + timedelta(minutes=-soon.minute % 5)


def test_a_patient_waiting_for_the_sick_clinician_is_handed_to_a_colleague_free_now_and_stays_checked_in(
    client, session, derm, outbox, smtp_server
):
    start = next_grid_start(5)
    booked = book_with_haddad(session, derm, start)
    change_status(session, booked.consultation.id, S.ARRIVED, now=utcnow(), actor=Actor("patient"))
    off_sick(session, derm["haddad"], start)
    login(session, client, StaffRole.RECEPTION, department_id=derm["department"].id)
    base = f"/schedule/consultations/{booked.consultation.id}"

    offered = page_text(client.get(base))
    later = client.post(
        f"{base}/move", data={"start": form_value(tomorrow_at(9)), "clinician": derm["lewis"].id}
    )
    handed = client.post(f"{base}/move", data={"start": form_value(start), "clinician": derm["lewis"].id})

    assert "Hand to another clinician" in offered
    assert later.status_code == 422 and "has checked in and is waiting" in page_text(later)
    assert handed.status_code == 303
    after = reloaded(session, booked.consultation)
    assert (after.status, after.clinician_id, after.reference) == (
        S.ARRIVED,
        derm["lewis"].id,
        booked.consultation.reference,
    )
    patient = factories.browser(client.application)
    open_link(patient, booked)
    patient_page = page_text(patient.get(f"/c/{booked.consultation.reference}"))
    assert "Dr Sam Lewis" in patient_page and "Dr Noor Haddad" not in patient_page


def offered_starts(page: str) -> list[datetime]:
    """The times a move page offers, as instants."""
    return [
        datetime.strptime(value, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
        for value in re.findall(r'name="start" value="(\d{4}-\d\d-\d\dT\d\d:\d\dZ)"', page)
    ]


def test_the_move_page_offers_a_patient_waiting_only_the_times_the_move_accepts(client, session, derm):
    """A patient checked in may be handed only to a call whose waiting room is open already: the page offered
    every free time of the days shown, and each one past the room's quarter of an hour was refused."""
    start = next_grid_start(5)
    booked = book_with_haddad(session, derm, start)
    change_status(session, booked.consultation.id, S.ARRIVED, now=utcnow(), actor=Actor("patient"))
    off_sick(session, derm["haddad"], start)
    login(session, client, StaffRole.RECEPTION, department_id=derm["department"].id)
    base = f"/schedule/consultations/{booked.consultation.id}/move"
    room_opens = timedelta(minutes=client.application.config["JOIN_WINDOW_MINUTES"])

    lewis = offered_starts(page_text(client.get(base, query_string={"clinician": derm["lewis"].id})))
    anyone = offered_starts(page_text(client.get(base, query_string={"clinician": "any"})))
    latest = utcnow() + room_opens
    moved = client.post(base, data={"start": form_value(lewis[-1]), "clinician": derm["lewis"].id})

    assert start in lewis and start in anyone
    assert all(offered <= latest for offered in lewis + anyone)
    assert moved.status_code == 303
    assert reloaded(session, booked.consultation).status is S.ARRIVED


def test_the_move_page_of_a_patient_waiting_whom_nobody_can_see_soon_says_so_and_what_to_do(
    client, session, derm
):
    """Nobody free within the waiting room's quarter of an hour: the page said there were no free times in
    the coming weeks, untrue, and offered nothing to do instead."""
    start = next_grid_start(5)
    booked = book_with_haddad(session, derm, start)
    change_status(session, booked.consultation.id, S.ARRIVED, now=utcnow(), actor=Actor("patient"))
    for person in ("haddad", "lewis", "brooks"):
        off_sick(session, derm[person], start)
    login(session, client, StaffRole.RECEPTION, department_id=derm["department"].id)

    page = page_text(
        client.get(
            f"/schedule/consultations/{booked.consultation.id}/move", query_string={"clinician": "any"}
        )
    )

    assert not offered_starts(page)
    assert "Nobody is free within 15 minutes" in page and "cancel the consultation" in page
    assert "There are no free times" not in page


def test_the_patients_own_move_stays_with_their_clinician_and_never_once_checked_in(session, derm):
    start = next_grid_start(5)
    booked = book_with_haddad(session, derm, start)
    change_status(session, booked.consultation.id, S.ARRIVED, now=utcnow(), actor=Actor("patient"))

    with pytest.raises(Exception, match="has begun"):
        reschedule(
            session, booked.consultation.id, start + timedelta(hours=1), now=utcnow(), actor=Actor("patient")
        )

    assert reloaded(session, booked.consultation).starts_at == start


def hand_over(session, consultation, colleague) -> None:
    """Reception hands the booking, at its time, to `colleague`."""
    reschedule(
        session,
        consultation.id,
        consultation.starts_at,
        now=utcnow(),
        actor=Actor("staff:1"),
        clinician_id=colleague.id,
        enforce_cutoff=False,
    )


@pytest.mark.parametrize("provider", ["jitsi", "teams", "zoom", "webhook"])
def test_the_meeting_follows_the_new_clinician_as_its_provider_requires(
    session, derm, outbox, fake_providers, smtp_server, provider
):
    """Teams makes the clinician co-organizer only when it makes a meeting: handed over, the consultation
    gets a new one and the old is cancelled there. The others move the meeting (Jitsi's host token and the
    webhook's host name the new clinician)."""
    outbox.configure(MEETING_PROVIDER=provider)
    start = tomorrow_at(15)
    booked = book_with_haddad(session, derm, start)
    deliver(outbox)
    old = reloaded(session, booked.consultation)
    old_id, old_join = old.meeting_external_id, old.meeting_join_url

    hand_over(session, booked.consultation, derm["lewis"])
    deliver(outbox)

    after = reloaded(session, booked.consultation)
    assert after.meeting_join_url
    if provider == "teams":
        assert after.meeting_external_id != old_id and after.meeting_join_url != old_join
        assert [m.external_id for m in fake_providers.live_meetings("teams")] == [after.meeting_external_id]
        made = fake_providers.graph_meetings.values()
        (meeting,) = [m for m in made if m["id"] == after.meeting_external_id]
        assert derm["lewis"].email in str(meeting["participants"])
    else:
        assert after.meeting_external_id == old_id
        assert outbox.statuses(after, OutboxKind.MEETING_UPDATE) == [OutboxStatus.DONE]
    (_, event) = invite(smtp_server.inbox(after.patient.email)[-1])
    assert str(event["LOCATION"]) == after.meeting_join_url


def test_a_booking_handed_over_while_its_teams_meeting_is_being_made_gets_one_for_the_new_clinician(
    session, derm, outbox, fake_providers, smtp_server
):
    """Teams names the co-organizer only when it makes a meeting. Handed over while the worker waits for
    Graph to make the first one, for the old clinician, that meeting is cancelled there and another made
    under a new key (Graph's createOrGet would answer the old key with the old meeting)."""
    outbox.configure(MEETING_PROVIDER="teams", PROVIDER_READ_TIMEOUT=30.0)
    booked = book_with_haddad(session, derm, tomorrow_at(15))
    fake_providers.stall_next(1, 3.0, path_contains="createOrGet")  # answered, later than the hand-over

    def drain_in_worker() -> None:
        with outbox.app.app_context():
            deliver(outbox)

    worker = threading.Thread(target=drain_in_worker)
    worker.start()
    while not fake_providers.requests_to("createOrGet"):  # the create is at Graph, stalled
        clock.sleep(0.01)
    hand_over(session, booked.consultation, derm["lewis"])
    worker.join()
    outbox.drain(until=utcnow() + timedelta(minutes=30))  # the mails that found no meeting, retried

    after = reloaded(session, booked.consultation)
    (live,) = fake_providers.live_meetings("teams")
    assert live.external_id == after.meeting_external_id
    made = fake_providers.graph_meetings[live.external_id]
    assert derm["lewis"].email in str(made["participants"])
    assert derm["haddad"].email not in str(made["participants"])
    (_, event) = last_invite(smtp_server.inbox(after.patient.email))
    assert str(event["LOCATION"]) == after.meeting_join_url


def test_a_teams_create_whose_answer_was_lost_before_a_hand_over_is_made_again_for_the_new_clinician(
    session, derm, outbox, fake_providers, smtp_server
):
    """Graph made the meeting, for the old clinician, but its answer came too late; the booking is then
    handed over. The retry must not be answered with that meeting (createOrGet by the same key), and that
    meeting, which nobody was told of, must not stay live in the organizer's calendar."""
    outbox.configure(MEETING_PROVIDER="teams")
    booked = book_with_haddad(session, derm, tomorrow_at(15))
    fake_providers.stall_next(1, 3.0, path_contains="createOrGet")  # over the 1.5 s the worker waits
    deliver(outbox)
    assert outbox.statuses(booked.consultation, OutboxKind.MEETING_CREATE) == [OutboxStatus.PENDING]
    while not fake_providers.live_meetings("teams"):  # Graph finishes making it after the worker gave up
        clock.sleep(0.05)

    hand_over(session, booked.consultation, derm["lewis"])
    outbox.drain(until=utcnow() + timedelta(minutes=30))

    after = reloaded(session, booked.consultation)
    made = fake_providers.graph_meetings[after.meeting_external_id]
    assert made["participants"]["attendees"] == [{"upn": derm["lewis"].email, "role": "coorganizer"}]
    (_, event) = last_invite(smtp_server.inbox(after.patient.email))
    assert str(event["LOCATION"]) == after.meeting_join_url
    assert [m.external_id for m in fake_providers.live_meetings("teams")] == [after.meeting_external_id]


def test_two_moves_and_a_booking_racing_for_one_colleagues_time_give_one_winner(session, database_url, derm):
    start = tomorrow_at(10) + timedelta(days=7)  # from the clock: the bookings below are made now
    made_at = start - timedelta(days=3)
    ids = [
        book_with_haddad(
            session, derm, start + timedelta(hours=hour), patient=factories.patient_details()
        ).consultation.id
        for hour in (1, 2)
    ]
    session.commit()
    lewis = derm["lewis"].id
    engine = racing_engine(database_url, 3, lambda sql: "blocked_from" in sql)
    request = BookingRequest(derm["skin"].id, start, factories.patient_details(), clinician_id=lewis)

    def move(consultation_id):
        return lambda s: reschedule(
            s,
            consultation_id,
            start,
            now=made_at,
            actor=Actor("staff:1"),
            clinician_id=lewis,
            enforce_cutoff=False,
        )

    outcomes = racing.race(
        engine,
        [move(ids[0]), move(ids[1]), lambda s: book(s, request, now=made_at, keys=TEST_KEYS, actor=Actor())],
    )
    engine.dispose()

    winners = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, SlotTaken) for o in outcomes if isinstance(o, Exception)), outcomes
    session.rollback()
    at_that_time = select(func.count()).where(
        Consultation.clinician_id == lewis, Consultation.starts_at == start, Consultation.status == S.BOOKED
    )
    assert session.scalar(at_that_time) == 1


def test_a_move_is_audited_from_and_to_by_time_and_clinician_and_its_history_says_so(client, session, derm):
    start, later = tomorrow_at(10), tomorrow_at(13)
    booked = book_with_haddad(session, derm, start)
    haddad, lewis = derm["haddad"], derm["lewis"]
    desk = login(session, client, StaffRole.RECEPTION, department_id=derm["department"].id)
    base = f"/schedule/consultations/{booked.consultation.id}"

    client.post(f"{base}/move", data={"start": form_value(later), "clinician": lewis.id})
    page = page_text(client.get(base))

    session.commit()
    (event,) = session.scalars(
        select(AuditEvent).where(
            AuditEvent.entity_id == str(booked.consultation.id),
            AuditEvent.action == "consultation.rescheduled",
        )
    )
    assert event.actor == f"staff:{desk.id}"
    assert event.details["changed"] == ["starts_at", "clinician_id"]
    assert event.details["from"] == {"starts_at": start.isoformat(), "clinician_id": haddad.id}
    assert event.details["to"] == {"starts_at": later.isoformat(), "clinician_id": lewis.id}
    assert "Haddad" not in str(event.details) and "Patient" not in str(event.details)
    history = page.partition('<ol class="history">')[2].partition("</ol>")[0]
    line = next(item for item in history.split("<li>") if "moved" in item)
    assert "10:00" in line and "13:00" in line and "from Dr Noor Haddad to Dr Sam Lewis" in line


def test_reception_moves_all_of_a_sick_clinicians_day_to_colleagues_and_hears_which_could_not_be(
    client, session, derm
):
    ten, eleven = tomorrow_at(10), tomorrow_at(11)
    free_then = book_with_haddad(session, derm, ten).consultation
    nobody_free = book_with_haddad(session, derm, eleven).consultation
    for colleague in ("lewis", "brooks"):
        factories.booking(session, derm["skin"], eleven, now=utcnow(), clinician_id=derm[colleague].id)
    off_sick(session, derm["haddad"], ten)
    login(session, client, StaffRole.RECEPTION, department_id=derm["department"].id)
    day = ten.astimezone(LONDON).date()

    offered = page_text(client.get("/schedule/clashes"))
    moved = client.post(
        "/schedule/clashes/move", data={"clinician": derm["haddad"].id, "day": day.isoformat()}
    )
    told = page_text(client.get("/schedule/clashes"))

    assert "Move all of Dr Noor Haddad" in offered and "to the first available colleague" in offered
    assert moved.status_code == 303
    assert reloaded(session, free_then).clinician_id == derm["lewis"].id
    assert reloaded(session, nobody_free).clinician_id == derm["haddad"].id
    assert "Moved 1 of 2" in told and f"Not moved: {nobody_free.patient.name} at 11:00" in told


@pytest.mark.parametrize(
    "role, may_move",
    [(StaffRole.RECEPTION, True), (StaffRole.ADMIN, True), (StaffRole.CLINICIAN, False), (None, False)],
)
def test_only_reception_and_admins_move_a_sick_clinicians_day_to_colleagues(
    client, session, derm, role, may_move
):
    """Handing a day's bookings to colleagues is the desk's (the clashes page offers it to reception and
    admins alone): a clinician's own post of its form, even for their own day, is refused with 403 and moves
    nothing, as a visitor signed out is sent to sign in."""
    ten = tomorrow_at(10)
    booked = book_with_haddad(session, derm, ten).consultation
    off_sick(session, derm["haddad"], ten)
    if role is StaffRole.CLINICIAN:
        login(session, client, role, clinician_id=derm["haddad"].id)
    elif role is not None:
        login(session, client, role, department_id=derm["department"].id)
    day = ten.astimezone(LONDON).date().isoformat()

    answer = client.post("/schedule/clashes/move", data={"clinician": derm["haddad"].id, "day": day})

    after = reloaded(session, booked)
    if may_move:
        assert answer.status_code == 303 and after.clinician_id != derm["haddad"].id
    else:
        assert answer.status_code == (403 if role else 302), answer.status_code
        assert (after.clinician_id, after.starts_at) == (derm["haddad"].id, ten)


def test_moving_a_sick_clinicians_day_the_clocks_go_back_names_each_run_of_the_repeated_hour(
    client, session, derm
):
    # Sunday 31 October 2027: UK clocks go back from 02:00 GMT+1 to 01:00 GMT+0, so 01:30 comes twice.
    first, second = (datetime(2027, 10, 31, hour, 30, tzinfo=UTC) for hour in (0, 1))
    for start, name in ((first, "First Sunday"), (second, "Second Sunday")):
        patient = factories.patient_details(name=name)
        factories.consultation(session, derm["skin"], derm["haddad"], start, patient=patient)
    off_sick(session, derm["haddad"], first)
    login(session, client, StaffRole.RECEPTION, department_id=derm["department"].id)

    client.post("/schedule/clashes/move", data={"clinician": derm["haddad"].id, "day": "2027-10-31"})
    told = page_text(client.get("/schedule/clashes"))

    assert "First Sunday at 01:30 (GMT+1)" in told and "Second Sunday at 01:30 (GMT+0)" in told


def test_moving_a_sick_clinicians_day_names_the_patients_without_e_mail_to_phone(client, session, derm):
    """Those with an e-mail are told by it; one booked by phone without one hears only if staff call."""
    ten, eleven = tomorrow_at(10), tomorrow_at(11)
    book_with_haddad(session, derm, ten)
    by_phone = factories.patient_details(name="Phoned Patient", email=None)
    factories.consultation(session, derm["skin"], derm["haddad"], eleven, patient=by_phone)
    off_sick(session, derm["haddad"], ten)
    login(session, client, StaffRole.RECEPTION, department_id=derm["department"].id)
    day = ten.astimezone(LONDON).date()

    client.post("/schedule/clashes/move", data={"clinician": derm["haddad"].id, "day": day.isoformat()})
    told = re.sub(r"\s+", " ", page_text(client.get("/schedule/clashes")))

    assert "Moved 2 of 2" in told
    assert "The patients are told" not in told
    assert (
        "Phoned Patient has no e-mail: phone them or print the letter. The others are told by e-mail." in told
    )


def test_a_clinician_moving_their_own_waiting_patient_is_offered_no_colleague_they_cannot_choose(
    client, session, derm
):
    """A clinician moves their consultations only with themselves (front_desk.bookable_clinicians): their
    pages offered to hand a waiting patient "to another clinician", and, with no time of theirs soon, told
    them to choose another one; handing over is the desk's."""
    start = next_grid_start(5)
    booked = book_with_haddad(session, derm, start).consultation
    later = book_with_haddad(session, derm, tomorrow_at(10)).consultation
    change_status(session, booked.id, S.ARRIVED, now=utcnow(), actor=Actor("patient"))
    off_sick(session, derm["haddad"], start)
    login(session, client, StaffRole.CLINICIAN, clinician_id=derm["haddad"].id)

    waiting = page_text(client.get(f"/schedule/consultations/{booked.id}"))
    coming = page_text(client.get(f"/schedule/consultations/{later.id}"))
    move = re.sub(r"\s+", " ", page_text(client.get(f"/schedule/consultations/{booked.id}/move")))

    assert "another clinician" not in waiting and "Move to another time<" in waiting
    assert "Move to another time<" in coming and "or clinician" not in coming
    assert not offered_starts(move)
    assert "another clinician" not in move and "Choose another, or" not in move
    assert "You are not free within 15 minutes" in move and "ask reception to hand" in move


def test_reception_moving_a_waiting_patient_of_a_service_nobody_else_gives_is_not_told_to_choose_another(
    client, session, derm
):
    alone = factories.service(session, derm["department"], name="Patch test", slot_interval_minutes=5)
    derm["haddad"].services.append(alone)
    session.commit()
    start = next_grid_start(5)
    booked = factories.booking(session, alone, start, now=utcnow(), clinician_id=derm["haddad"].id)
    change_status(session, booked.consultation.id, S.ARRIVED, now=utcnow(), actor=Actor("patient"))
    off_sick(session, derm["haddad"], start)
    login(session, client, StaffRole.RECEPTION, department_id=derm["department"].id)

    move = page_text(client.get(f"/schedule/consultations/{booked.consultation.id}/move"))

    assert "another clinician" not in move and "Choose another, or" not in move
    assert "Dr Noor Haddad is not free within 15 minutes, and nobody else gives this service" in move


@pytest.mark.parametrize(
    "form",
    [{"again": True}, {"clinician": "not-a-number"}, {"day": "2030-02-30"}],
    ids=["sent twice", "no such clinician", "no such day"],
)
def test_moving_a_day_with_nothing_left_to_move_says_so_not_moved_0_of_0(client, session, derm, form):
    """The form sent again (a double click, or a page left open after a colleague moved them), or with
    values no day of clashes has, told reception "Moved 0 of 0." It now says nothing was left to move."""
    ten = tomorrow_at(10)
    book_with_haddad(session, derm, ten)
    off_sick(session, derm["haddad"], ten)
    login(session, client, StaffRole.RECEPTION, department_id=derm["department"].id)
    sent = {"clinician": derm["haddad"].id, "day": ten.astimezone(LONDON).date().isoformat()}
    if form.pop("again", False):
        client.post("/schedule/clashes/move", data=sent)
        client.get("/schedule/clashes")  # the first answer's message, read

    answer = client.post("/schedule/clashes/move", data={**sent, **form})
    told = re.sub(r"\s+", " ", page_text(client.get("/schedule/clashes")))

    assert answer.status_code == 303
    assert "Moved 0 of 0" not in told
    assert "Nothing was moved: no booking of that clinician on that day is left to move." in told
