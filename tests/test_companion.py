"""A second participant: their own invite and link, included in moves and cancellations, replaceable,
and mails decided per recipient (a patient without e-mail gets none, the others still do)."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from clinic.audit import Actor
from clinic.models import AuditEvent, Companion, CompanionRole, OutboxKind, OutboxMessage, OutboxStatus
from clinic.notify.ics import companion_invite_uid
from clinic.scheduling.companions import (
    add_companion,
    check_companion_details,
    companion_for_token,
    remove_companion,
)
from clinic.scheduling.errors import ChangeNotAllowed, NotFound
from clinic.scheduling.lifecycle import cancel, reschedule
from clinic.scheduling.patients import InvalidDetails
from clinic.scheduling.tokens import companion_link

from . import factories
from .conftest import TEST_KEYS, TEST_SECRET
from .fakes.outbox import invite, open_clinic, outbox, text  # noqa: F401 (fixture)
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)
from .test_link_keys import old_token

TUESDAY_10 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
WEDNESDAY_11 = datetime(2026, 3, 4, 11, 0, tzinfo=UTC)
REASON = "Persistent cough, worried about my lungs"
BASE = "http://127.0.0.1:5000"
STAFF = Actor.staff(3, "10.0.0.3")


def book(session, now, companion=None, **fields):
    patient = factories.patient_details(name="Maria Santos Ferreira", email="maria@example.org")
    return factories.booking(
        session, open_clinic(session), TUESDAY_10, now=now, patient=patient, companion=companion, **fields
    )


def staff_invite(session, consultation, now, **fields) -> Companion:
    """Staff invite a companion (an interpreter unless `fields` say otherwise)."""
    details = factories.companion_details(**fields)
    return add_companion(session, consultation.id, details, now=now, actor=STAFF, keys=TEST_KEYS)


def token_of(link: str) -> str:
    return link.split("#t=", 1)[1]


def test_companion_details_are_checked_to_the_patients_standards():
    with pytest.raises(InvalidDetails) as refused:
        check_companion_details(name="  ", email="not-an-address", role="friend")

    assert set(refused.value.errors) == {"name", "email", "role"}
    assert check_companion_details(
        name=" Grace   Hopper ", email="Grace@Example.NET", role="interpreter"
    ) == factories.companion_details(name="Grace Hopper", email="Grace@example.net")


def test_a_companion_booked_with_the_patient_gets_their_own_invite_with_their_own_link(
    session, now, outbox, smtp_server
):
    guest = factories.companion_details(name="Grace Hopper", email="grace@example.net")
    booked = book(session, now, companion=guest, reason=REASON)
    outbox.drain()

    consultation = outbox.refreshed(booked.consultation)
    (mail,) = smtp_server.inbox("grace@example.net")
    (patient_mail,) = smtp_server.inbox("maria@example.org")
    method, event = invite(mail)
    _, patient_event = invite(patient_mail)
    link = str(event["LOCATION"])
    assert method == "REQUEST" and event["SEQUENCE"] == 0
    assert event["UID"] == companion_invite_uid(consultation.companion.uuid, "clinic.example")
    assert event["UID"] != patient_event["UID"] and consultation.companion.uuid not in event["UID"]
    assert event.attendees == ["mailto:grace@example.net"]
    assert link.startswith(f"{BASE}/g/{consultation.reference}#t=") and link in text(mail)
    assert companion_for_token(
        session, consultation.reference, token_of(link), keys=TEST_KEYS, now=now, grace_days=7
    )
    body = text(mail)
    assert "Maria's video consultation" in body
    for private in (
        "Ferreira",
        "maria@example.org",
        booked.manage_token,
        "/c/",
        "cough",
        consultation.meeting_host_url,
    ):
        assert private not in body


def test_a_move_sends_the_companion_an_update_and_a_cancellation_a_cancel(session, now, outbox, smtp_server):
    consultation = book(
        session, now, companion=factories.companion_details(email="carer@example.net")
    ).consultation
    outbox.drain()
    reschedule(session, consultation.id, WEDNESDAY_11, now=now, actor=Actor())
    outbox.drain()
    cancel(session, consultation.id, now=now, actor=Actor())
    outbox.drain()

    invites = [invite(mail) for mail in smtp_server.inbox("carer@example.net")]
    assert [method for method, _ in invites] == ["REQUEST", "REQUEST", "CANCEL"]
    assert [event["SEQUENCE"] for _, event in invites] == [0, 1, 2]
    assert invites[1][1].start == WEDNESDAY_11
    assert len({event["UID"] for _, event in invites}) == 1


def test_the_companion_is_reminded_like_the_patient(session, now, outbox, smtp_server):
    consultation = book(
        session, now, companion=factories.companion_details(email="relative@example.net")
    ).consultation
    outbox.drain(until=TUESDAY_10)

    reminders = [
        m for m in outbox.messages(consultation, OutboxKind.REMINDER) if m.status is OutboxStatus.DONE
    ]
    assert sorted(m.audience for m in reminders) == ["companion", "companion", "patient", "patient"]
    assert len(smtp_server.inbox("relative@example.net")) == 3  # the invitation and two reminders


def test_staff_add_a_companion_later_who_is_invited_and_reminded(session, now, outbox, smtp_server):
    consultation = book(session, now).consultation
    outbox.drain()

    companion = staff_invite(session, consultation, now, email="late@example.net")
    outbox.drain(until=TUESDAY_10)

    (invitation, *reminders) = smtp_server.inbox("late@example.net")
    assert invite(invitation)[0] == "REQUEST" and "You are invited to join Maria" in text(invitation)
    assert len(reminders) == 2
    link = companion_link(companion, base_url=BASE, keys=TEST_KEYS)
    assert link in text(invitation)


def test_a_companion_invited_before_the_bookings_reminders_were_planned_is_reminded_once(
    session, now, outbox, smtp_server
):
    consultation = book(session, now).consultation
    staff_invite(session, consultation, now, email="quick@example.net")

    outbox.drain(until=TUESDAY_10)  # the booking's plan and theirs both see them

    assert len(smtp_server.inbox("quick@example.net")) == 3  # the invitation and two reminders
    assert {m.status for m in outbox.messages(consultation, OutboxKind.PLAN_REMINDERS)} == {OutboxStatus.DONE}


def test_replacing_a_companion_cancels_the_first_invites_the_second_and_retires_the_first_link(
    session, now, outbox, smtp_server
):
    consultation = book(
        session, now, companion=factories.companion_details(email="first@example.net")
    ).consultation
    first = consultation.companion
    first_link = companion_link(first, base_url=BASE, keys=TEST_KEYS)
    outbox.drain()

    second = staff_invite(session, consultation, now, email="second@example.net", role=CompanionRole.CARER)
    outbox.drain()

    assert [invite(m)[0] for m in smtp_server.inbox("first@example.net")] == ["REQUEST", "CANCEL"]
    assert [invite(m)[0] for m in smtp_server.inbox("second@example.net")] == ["REQUEST"]
    assert outbox.refreshed(consultation).companion.id == second.id
    assert session.get(Companion, first.id).removed_at == now  # kept on record
    keys = session.scalars(select(OutboxMessage.idempotency_key)).all()
    assert len(keys) == len(set(keys))
    with pytest.raises(NotFound):
        companion_for_token(
            session, consultation.reference, token_of(first_link), keys=TEST_KEYS, now=now, grace_days=7
        )


def test_a_removed_companion_is_told_and_gets_no_more_reminders(session, now, outbox, smtp_server):
    consultation = book(
        session, now, companion=factories.companion_details(email="gone@example.net")
    ).consultation
    outbox.drain()

    remove_companion(session, consultation.id, now=now, actor=STAFF)
    outbox.drain(until=TUESDAY_10)

    assert [invite(m)[0] for m in smtp_server.inbox("gone@example.net")] == ["REQUEST", "CANCEL"]
    assert len(smtp_server.inbox("maria@example.org")) == 4  # the call's new link, and the reminders still go
    with pytest.raises(NotFound):
        remove_companion(session, consultation.id, now=now, actor=STAFF)


def test_adding_and_removing_are_audited_with_ids_only(session, now):
    consultation = book(session, now).consultation
    companion = staff_invite(session, consultation, now, name="Zed Quux")
    remove_companion(session, consultation.id, now=now, actor=STAFF)

    events = session.scalars(select(AuditEvent).where(AuditEvent.action.like("companion.%"))).all()
    r = consultation.reference
    assert [(e.action, e.actor, e.details) for e in events] == [
        (
            action,
            "staff:3",
            {"reference": r, "clinician_id": consultation.clinician_id, "companion_id": companion.id},
        )
        for action in ("companion.added", "companion.removed")
    ]
    assert all("Quux" not in str(e.details) for e in events)


@pytest.mark.parametrize("state", ["cancelled", "over"])
def test_a_companion_cannot_be_added_to_a_consultation_that_is_cancelled_or_over(session, now, state):
    consultation = book(session, now).consultation
    when = now
    if state == "cancelled":
        cancel(session, consultation.id, now=now, actor=Actor())
    else:
        when = consultation.ends_at

    with pytest.raises(ChangeNotAllowed):
        staff_invite(session, consultation, when)
    assert session.scalars(select(Companion)).all() == []


def test_a_patient_without_email_gets_no_mail_while_the_clinician_and_companion_do(
    session, now, outbox, smtp_server
):
    consultation = book(
        session, now, companion=factories.companion_details(email="helper@example.net")
    ).consultation
    outbox.drain()
    consultation.patient.email = None  # as staff record a patient who has no address
    session.commit()

    reschedule(session, consultation.id, WEDNESDAY_11, now=now, actor=Actor())
    outbox.drain(until=WEDNESDAY_11)

    mailed = [
        m
        for m in outbox.messages(consultation, OutboxKind.UPDATE, OutboxKind.REMINDER)
        if m.payload["sequence"] == 1
    ]
    assert {m.audience for m in mailed} == {"clinician", "companion"}
    assert all(m.status is OutboxStatus.DONE for m in mailed)
    assert len(smtp_server.inbox("maria@example.org")) == 1  # the confirmation, sent while it had one
    assert len(smtp_server.inbox(consultation.clinician.email)) == 2
    assert len(smtp_server.inbox("helper@example.net")) == 4  # invitation, update, two reminders


@pytest.mark.parametrize("meeting_made", [True, False], ids=["meeting made", "meeting not made yet"])
def test_a_removed_companions_cancel_raises_the_sequence_of_the_last_invite_they_were_sent(
    session, now, outbox, smtp_server, meeting_made
):
    # RFC 5546 §3.2.5: "When a VEVENT is cancelled, the SEQUENCE property value MUST be incremented";
    # a CANCEL at the SEQUENCE of the REQUEST it answers may be taken as no newer, leaving the call in
    # the calendar of someone uninvited from it. The patient's reminders still go, once each.
    consultation = book(
        session, now, companion=factories.companion_details(email="gone@example.net")
    ).consultation
    if meeting_made:
        outbox.drain()
        reschedule(session, consultation.id, WEDNESDAY_11, now=now, actor=Actor())
    outbox.drain()

    remove_companion(session, consultation.id, now=now, actor=STAFF)
    outbox.drain(until=WEDNESDAY_11)

    invites = [invite(mail) for mail in smtp_server.inbox("gone@example.net")]
    assert [method for method, _ in invites][-1] == "CANCEL"
    sequences = [event["SEQUENCE"] for _, event in invites]
    assert sequences == sorted(set(sequences)), sequences
    reminders = [m for m in smtp_server.inbox("maria@example.org") if m.get_body(("calendar",)) is None]
    assert len(reminders) == 2


def test_a_replaced_companions_mail_still_being_retried_does_not_hold_up_the_next_ones(
    session, now, outbox, smtp_server
):
    # Staff replace an interpreter whose address the mail server cannot reach yet (450, try later): the new
    # interpreter's invitation and reminders waited behind the mails still retried to the first one, as if
    # they went to the same person, for as long as those were retried (up to OUTBOX_MAX_ATTEMPTS).
    smtp_server.defer_recipient("typo@example.nett", times=1000)
    consultation = book(
        session, now, companion=factories.companion_details(email="typo@example.nett")
    ).consultation
    outbox.drain()

    staff_invite(session, consultation, outbox.clock.now, email="right@example.net")
    outbox.drain()

    assert [invite(m)[0] for m in smtp_server.inbox("right@example.net")] == ["REQUEST"]


def _calendar_after(invites) -> dict[str, str]:
    """What a calendar holds after `invites` (METHOD, VEVENT) arrive in this order: per UID, the newest by
    SEQUENCE then DTSTAMP wins (RFC 5546 §2.1.5), and a CANCEL takes the event off."""
    newest: dict[str, tuple[tuple, str]] = {}
    for method, event in invites:
        uid, rank = str(event["UID"]), (event["SEQUENCE"], event.stamp)
        if uid not in newest or rank >= newest[uid][0]:
            newest[uid] = (rank, method)
    return {uid: method for uid, (_, method) in newest.items()}


@pytest.mark.parametrize("meeting_made", [True, False], ids=["meeting made", "meeting not made yet"])
@pytest.mark.parametrize("arrival", ["in order", "reversed"])
def test_a_companion_sharing_the_patients_address_never_takes_the_consultation_off_the_patients_calendar(
    session, now, outbox, smtp_server, meeting_made, arrival
):
    # A carer often reads the patient's mail at one family address. Their invites carried the patient's UID:
    # the calendar kept whichever came last (the companion's link in the patient's entry), and the carer's
    # removal sent a CANCEL of that UID, which took the patient's own consultation off their calendar
    # (at once if the call's meeting was not made yet: no new link follows it).
    patient = factories.patient_details(name="Maria Santos Ferreira", email="family@example.org")
    consultation = factories.booking(
        session,
        open_clinic(session),
        TUESDAY_10,
        now=now,
        patient=patient,
        companion=factories.companion_details(name="Rui Ferreira", email="family@example.org"),
    ).consultation
    if meeting_made:
        outbox.drain()
    remove_companion(session, consultation.id, now=now, actor=STAFF)
    outbox.drain(until=TUESDAY_10 - timedelta(days=2))

    mails = smtp_server.inbox("family@example.org")
    invites = [invite(mail) for mail in mails if mail.get_body(("calendar",))]
    to_patient = [i for i in invites if i[1]["ATTENDEE"].params["CN"] == "Maria Santos Ferreira"]
    to_companion = [i for i in invites if i[1]["ATTENDEE"].params["CN"] == "Rui Ferreira"]
    assert to_patient and to_companion[-1][0] == "CANCEL"
    assert {str(e["UID"]) for _, e in to_patient}.isdisjoint(str(e["UID"]) for _, e in to_companion)
    held = _calendar_after(invites if arrival == "in order" else invites[::-1])
    assert held[str(to_patient[0][1]["UID"])] == "REQUEST"


def test_a_companion_link_rederived_from_their_invites_uid_opens_nothing(session, now, outbox, smtp_server):
    # A join link sent before CLINIC_MANAGE_TOKEN_KEY was an HMAC of the companion's UUID under SECRET_KEY,
    # and still opens until it expires: an invite that carries that UUID would let whoever holds the key
    # and the invite make it (README, "Manage and join links": never from values that invites carry).
    consultation = book(
        session, now, companion=factories.companion_details(email="legacy@example.net")
    ).consultation
    invited = consultation.companion
    sent_before = old_token(TEST_SECRET, "companion-link", invited.uuid)
    invited.link_seed = hashlib.sha256(sent_before.encode()).hexdigest()
    session.commit()
    outbox.drain()

    _, event = invite(smtp_server.inbox("legacy@example.net")[0])
    carried = str(event["UID"]).partition("@")[0]
    for key in (TEST_SECRET, *TEST_KEYS.keys):
        with pytest.raises(NotFound):
            companion_for_token(
                session,
                consultation.reference,
                old_token(key, "companion-link", carried),
                keys=TEST_KEYS,
                now=now,
                grace_days=7,
            )
    found = companion_for_token(
        session, consultation.reference, sent_before, keys=TEST_KEYS, now=now, grace_days=7
    )
    assert found.id == invited.id  # the link it was sent still opens
