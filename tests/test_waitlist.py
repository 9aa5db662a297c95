"""The waitlist: a freed time offered by the worker to the first patients waiting for it, taken in one step,
gone for the others, ended when nobody takes it; nobody offered the same time twice; every step audited."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from clinic.audit import SYSTEM, Actor
from clinic.jobs.claims import claim_due_messages
from clinic.jobs.housekeeping import housekeep
from clinic.models import (
    AuditEvent,
    Consultation,
    OfferStatus,
    OutboxKind,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
)
from clinic.models.transactions import write_transaction
from clinic.privacy.retention import RetentionPeriods
from clinic.scheduling.booking import Consent
from clinic.scheduling.errors import NotFound, OfferExpired, OfferGone
from clinic.scheduling.lifecycle import cancel, reschedule
from clinic.scheduling.offer_hold import OfferDay
from clinic.scheduling.offers import FreedTime, OfferRules, offer_freed_time, take_offer
from clinic.scheduling.patients import InvalidDetails
from clinic.scheduling.tokens import offer_token, waitlist_link, waitlist_token
from clinic.scheduling.waitlist import WaitlistRequest, entry_for_token, join_waitlist, leave_waitlist
from clinic.staff.sessions import SessionRules
from config import defaults

from . import factories
from .conftest import TEST_KEYS
from .fakes.outbox import open_clinic, outbox  # noqa: F401 (fixture)
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)

TUESDAY_10 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # 26 hours after the tests' `now`
TUESDAY = date(2026, 3, 3)
SECRET_REASON = "Recurring chest pain after surgery"
WHOLE_DAY = OfferDay(ZoneInfo("Europe/London"), 0, 24)
RULES = OfferRules(per_time=3, lifetime=timedelta(hours=2), day=WHOLE_DAY)


def join(session, service, now, n, *, first=TUESDAY, last=TUESDAY, clinician_id=None, **patient):
    request = WaitlistRequest(
        service_id=service.id,
        first_day=first,
        last_day=last,
        patient=factories.patient_details(n, **patient),
        consent=Consent("2026-12-01"),
        clinician_id=clinician_id,
    )
    return join_waitlist(session, request, now=now, keys=TEST_KEYS, actor=Actor()).entry


def freed(session, service, now, start=TUESDAY_10):
    """A booking at `start` (with a reason, which no waitlist mail may carry), then cancelled."""
    booked = factories.booking(session, service, start, now=now, reason=SECRET_REASON).consultation
    return cancel(session, booked.id, now=now, actor=Actor())


def offers(session, **where) -> list[WaitlistOffer]:
    session.commit()
    query = select(WaitlistOffer).filter_by(**where).order_by(WaitlistOffer.id)
    return list(session.scalars(query.execution_options(populate_existing=True)))


def take(session, offer, now, **options):
    return take_offer(session, offer.id, now=now, keys=TEST_KEYS, actor=Actor(), **options)


def text(mail) -> str:
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def offer_mails(smtp_server, address: str) -> list:
    """The mails `address` was sent about offers: all but the confirmation that they joined the list."""
    return [mail for mail in smtp_server.inbox(address) if not mail["Subject"].startswith("You are on the")]


def test_a_cancelled_time_is_mailed_to_the_first_three_waiting_patients(session, now, outbox, smtp_server):
    service = open_clinic(session, name="Heart follow-up")
    waiting = [join(session, service, now + timedelta(minutes=n), n) for n in range(4)]
    consultation = freed(session, service, now)

    outbox.drain()

    made = offers(session)
    assert [o.entry_id for o in made] == [e.id for e in waiting[:3]]  # first come, first offered
    assert {(o.clinician_id, o.starts_at, o.status) for o in made} == {
        (consultation.clinician_id, TUESDAY_10, OfferStatus.OFFERED)
    }
    for entry, offer in zip(waiting[:3], made, strict=True):
        (mail,) = offer_mails(smtp_server, entry.email)
        body = text(mail)
        assert "Tuesday 3 March 2026, 10:00 (UK time, GMT+0)" in body
        assert "Service: Heart follow-up" in body
        assert f"/o/{offer.reference}#t={offer_token(TEST_KEYS, offer)}" in body
        assert f"/w/{entry.reference}#t={waitlist_token(TEST_KEYS, entry)}" in body
    assert offer_mails(smtp_server, waiting[3].email) == []


def test_no_waitlist_mail_carries_clinical_detail(session, now, outbox, smtp_server):
    service = open_clinic(session)
    first, second = join(session, service, now, 1), join(session, service, now, 2)
    freed(session, service, now)
    outbox.drain()
    take(session, offers(session, entry_id=first.id)[0], now)
    outbox.drain()

    mails = smtp_server.inbox(first.email) + smtp_server.inbox(second.email)
    # Each one's confirmation of joining, the offer to each, the booking's confirmation, and "it has gone"
    # to the second.
    assert len(mails) == 6
    for mail in mails:
        assert SECRET_REASON not in mail.as_string()
        assert "reason" not in text(mail).lower()


def test_taking_an_offer_books_the_time_and_the_others_are_told_it_has_gone(
    session, now, outbox, smtp_server
):
    service = open_clinic(session)
    first, second, third = (join(session, service, now, n) for n in range(3))
    freed(session, service, now)
    outbox.drain()

    booked = take(session, offers(session, entry_id=second.id)[0], now)
    outbox.drain()

    assert booked.consultation.starts_at == TUESDAY_10
    assert booked.consultation.patient.email == second.email
    assert {o.entry_id: o.status for o in offers(session)} == {
        first.id: OfferStatus.GONE,
        second.id: OfferStatus.TAKEN,
        third.id: OfferStatus.GONE,
    }
    assert session.get(WaitlistEntry, second.id).status is WaitlistStatus.BOOKED
    assert session.get(WaitlistEntry, first.id).status is WaitlistStatus.WAITING  # still waiting
    for entry in (first, third):
        subjects = [mail["Subject"] for mail in smtp_server.inbox(entry.email)]
        assert subjects[-1].startswith("The time we offered you has gone")
    subjects = [mail["Subject"] for mail in smtp_server.inbox(second.email)]
    assert subjects[-1].startswith("Your video consultation is booked")  # the booking's own confirmation


def test_a_second_click_on_a_taken_offer_returns_the_same_booking(session, now, outbox):
    service = open_clinic(session)
    entry = join(session, service, now, 1)
    freed(session, service, now)
    outbox.drain()
    (offer,) = offers(session)

    first, again = take(session, offer, now), take(session, offer, now)

    assert again.consultation.id == first.consultation.id and again.replayed
    assert session.scalar(select(func.count()).select_from(Consultation).filter_by(status="booked")) == 1
    assert session.get(WaitlistEntry, entry.id).status is WaitlistStatus.BOOKED


def test_a_time_booked_by_someone_else_meanwhile_is_gone_and_changes_nothing(session, now, outbox):
    service = open_clinic(session)
    join(session, service, now, 1)
    freed(session, service, now)
    outbox.drain()
    (offer,) = offers(session)
    factories.booking(session, service, TUESDAY_10, now=now)  # booked on the pages before the patient clicks

    with pytest.raises(OfferGone):
        take(session, offer, now)

    assert offers(session)[0].status is OfferStatus.GONE
    assert session.scalar(select(func.count()).select_from(Consultation).filter_by(status="booked")) == 1


def test_a_time_booked_again_before_the_worker_runs_is_offered_to_nobody(session, now, outbox, smtp_server):
    service = open_clinic(session)
    entry = join(session, service, now, 1)
    freed(session, service, now)
    factories.booking(session, service, TUESDAY_10, now=now)  # taken again on the pages at once

    outbox.drain()

    assert offers(session) == []
    assert offer_mails(smtp_server, entry.email) == []


def test_the_offer_job_run_twice_offers_nobody_the_same_time_twice(session, now, outbox):
    service = open_clinic(session)
    entries = [join(session, service, now, n) for n in range(2)]
    consultation = freed(session, service, now)
    time = FreedTime(service.id, consultation.clinician_id, TUESDAY_10)

    for _ in range(2):
        with write_transaction(session):
            offer_freed_time(
                session, time, consultation, now=now, rules=OfferRules(5, timedelta(hours=2), WHOLE_DAY)
            )

    assert sorted(o.entry_id for o in offers(session)) == sorted(e.id for e in entries)


def test_cancel_rebook_cancel_offers_each_waiting_patient_the_time_once(session, now, outbox, smtp_server):
    service = open_clinic(session)
    outbox.configure(WAITLIST_OFFERS_PER_TIME=5)
    entries = [join(session, service, now, n) for n in range(2)]
    freed(session, service, now)
    outbox.drain()
    freed(session, service, now)  # booked again on the pages, and cancelled again
    outbox.drain()

    assert sorted(o.entry_id for o in offers(session)) == sorted(e.id for e in entries)
    assert [len(offer_mails(smtp_server, e.email)) for e in entries] == [1, 1]


def test_the_database_refuses_a_second_offer_of_the_same_time_to_one_patient(session, now):
    service = open_clinic(session)
    entry = join(session, service, now, 1)
    consultation = freed(session, service, now)
    time = FreedTime(service.id, consultation.clinician_id, TUESDAY_10)
    with write_transaction(session):
        (offer,) = offer_freed_time(session, time, consultation, now=now, rules=RULES)

    twin = WaitlistOffer(
        reference="TWN-0000",
        entry_id=entry.id,
        freed_by_id=consultation.id,
        service_id=service.id,
        clinician_id=offer.clinician_id,
        starts_at=offer.starts_at,
        expires_at=offer.expires_at,
        link_seed="0" * 64,
        status=OfferStatus.OFFERED,
    )
    session.add(twin)
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_a_moved_consultation_offers_the_time_it_left(session, now, outbox, smtp_server):
    service = open_clinic(session)
    entry = join(session, service, now, 1)
    booked = factories.booking(session, service, TUESDAY_10, now=now).consultation
    reschedule(session, booked.id, TUESDAY_10 + timedelta(hours=2), now=now, actor=Actor())

    outbox.drain()

    (offer,) = offers(session)
    assert (offer.entry_id, offer.starts_at) == (entry.id, TUESDAY_10)


def test_only_patients_the_time_suits_are_offered_it(session, now, outbox):
    service = open_clinic(session)
    other_doctor = factories.clinician(session, [service])
    session.commit()
    join(session, service, now, 1, clinician_id=other_doctor.id)  # waits for another clinician
    join(session, service, now, 2, first=TUESDAY + timedelta(days=1), last=TUESDAY + timedelta(days=3))
    join(session, open_clinic(session), now, 3)  # another service
    suited = join(session, service, now, 4, time_zone="America/New_York")  # Tuesday 05:00 there
    consultation = freed(session, service, now)
    assert consultation.clinician_id != other_doctor.id

    outbox.drain()

    assert [o.entry_id for o in offers(session)] == [suited.id]


def test_an_offer_not_taken_in_time_expires_and_goes_to_the_next_in_line(session, now, outbox, smtp_server):
    service = open_clinic(session)
    outbox.configure(WAITLIST_OFFERS_PER_TIME=1, WAITLIST_OFFER_LIFETIME="2h")
    first, second = join(session, service, now, 1), join(session, service, now, 2)
    freed(session, service, now)
    outbox.drain()
    (offer,) = offers(session)
    assert offer.expires_at == now + timedelta(hours=2)

    later = outbox.clock.advance(timedelta(hours=2))
    tidy_up(session, later)
    outbox.drain()

    assert {o.entry_id: o.status for o in offers(session)} == {
        first.id: OfferStatus.EXPIRED,
        second.id: OfferStatus.OFFERED,
    }
    assert len(offer_mails(smtp_server, second.email)) == 1
    with pytest.raises(OfferExpired):
        take(session, offer, later)


def test_an_offer_ends_at_the_latest_when_its_time_can_last_be_booked(session, now, outbox):
    service = open_clinic(session, min_notice_minutes=120)
    outbox.configure(WAITLIST_OFFER_LIFETIME="3d")
    join(session, service, now, 1)
    freed(session, service, now)
    outbox.drain()

    # Not at the start: from two hours before it the booking's notice refuses it.
    assert offers(session)[0].expires_at == TUESDAY_10 - timedelta(hours=2)


def test_a_time_freed_at_night_is_held_into_the_next_morning(session, now, outbox, smtp_server):
    """Cancelled at 01:00 London, an offer of two hours stood until 03:00, ending before the patient woke;
    its two hours now count from 08:00, when the hospital's day begins."""
    service = open_clinic(session, min_notice_minutes=120)
    outbox.configure(WAITLIST_OFFER_LIFETIME="2h", WAITLIST_OFFER_DAY_STARTS=8, WAITLIST_OFFER_DAY_ENDS=21)
    wednesday_10 = TUESDAY_10 + timedelta(days=1)
    wednesday = TUESDAY + timedelta(days=1)
    entry = join(session, service, now, 1, first=wednesday, last=wednesday)
    night = outbox.clock.now = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # 01:00 GMT
    freed(session, service, night, start=wednesday_10)
    outbox.drain()

    (offer,) = offers(session)
    assert offer.expires_at == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    assert "ends on Tuesday 3 March 2026, 10:00" in " ".join(
        text(offer_mails(smtp_server, entry.email)[0]).split()
    )


def test_entries_past_their_last_day_expire(session, now):
    service = open_clinic(session)
    entry = join(session, service, now, 1)  # Tuesday only
    wednesday = datetime(2026, 3, 4, 0, 0, tzinfo=UTC)

    tidy_up(session, wednesday - timedelta(seconds=1))
    assert session.get(WaitlistEntry, entry.id, populate_existing=True).status is WaitlistStatus.WAITING
    tidy_up(session, wednesday)
    assert session.get(WaitlistEntry, entry.id, populate_existing=True).status is WaitlistStatus.EXPIRED


def test_an_ended_entry_and_its_offers_are_deleted_after_the_retention_period(session, now, outbox):
    service = open_clinic(session)
    left, waiting = join(session, service, now, 1), join(session, service, now, 2)
    freed(session, service, now)
    outbox.drain()
    leave_waitlist(session, left.id, now=now, actor=Actor())
    month = timedelta(days=30)

    tidy_up(session, now + month)
    assert len(offers(session)) == 2
    tidy_up(session, now + month + timedelta(seconds=1))

    session.expire_all()
    assert session.scalars(select(WaitlistEntry.id)).all() == [waiting.id]  # expired since, kept a month
    assert [o.entry_id for o in offers(session)] == [waiting.id]


def test_leaving_the_list_withdraws_open_offers(session, now, outbox, smtp_server):
    service = open_clinic(session)
    entry = join(session, service, now, 1)
    freed(session, service, now)
    outbox.drain()

    leave_waitlist(session, entry.id, now=now, actor=Actor())

    assert session.get(WaitlistEntry, entry.id, populate_existing=True).status is WaitlistStatus.LEFT
    (offer,) = offers(session)
    assert offer.status is OfferStatus.GONE
    with pytest.raises(OfferGone):
        take(session, offer, now)


def test_the_leave_link_opens_its_entry_only(session, now):
    service = open_clinic(session)
    entry, other = join(session, service, now, 1), join(session, service, now, 2)

    assert (
        entry_for_token(session, entry.reference, waitlist_token(TEST_KEYS, entry), keys=TEST_KEYS) == entry
    )
    with pytest.raises(NotFound):
        entry_for_token(session, entry.reference, waitlist_token(TEST_KEYS, other), keys=TEST_KEYS)


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [
        (date(2026, 3, 1), TUESDAY, "first_day"),  # yesterday
        (TUESDAY, date(2026, 3, 2), "last_day"),  # before the first
        (TUESDAY, date(2026, 6, 1), "last_day"),  # past the service's 60-day horizon
    ],
)
def test_days_that_cannot_be_offered_are_refused_beside_their_field(session, now, first, last, field):
    service = open_clinic(session)
    with pytest.raises(InvalidDetails) as refused:
        join(session, service, now, 1, first=first, last=last)
    assert field in refused.value.errors
    assert session.scalar(select(func.count()).select_from(WaitlistEntry)) == 0


def test_every_join_offer_take_and_leave_is_audited_with_ids_only(session, now, outbox):
    service = open_clinic(session)
    first, second = join(session, service, now, 1), join(session, service, now, 2)
    freed(session, service, now)
    outbox.drain()
    take(session, offers(session, entry_id=first.id)[0], now)
    leave_waitlist(session, second.id, now=now, actor=SYSTEM)

    events = session.scalars(select(AuditEvent).where(AuditEvent.action.like("waitlist.%"))).all()
    actions = sorted(e.action for e in events)
    assert actions == sorted(
        ["waitlist.joined"] * 2
        + ["waitlist.offered"] * 2
        + ["waitlist.offer_taken", "waitlist.offer_gone", "waitlist.left"]
    )
    for event in events:
        assert first.email not in str(event.details) and first.name not in str(event.details)


def test_offer_mails_are_outbox_messages_of_the_consultation_that_freed_the_time(session, now, outbox):
    service = open_clinic(session)
    join(session, service, now, 1)
    consultation = freed(session, service, now)
    outbox.drain()

    kinds = [
        m.kind for m in outbox.messages(consultation) if m.kind.value.startswith(("waitlist", "mail.wait"))
    ]
    assert kinds == [OutboxKind.WAITLIST_OFFERS, OutboxKind.WAITLIST_OFFER_MAIL]
    assert all(m.status.value == "done" for m in outbox.messages(consultation, *kinds))
    assert outbox.messages(consultation, OutboxKind.WAITLIST_OFFER_MAIL)[0].payload == {
        "offer_id": offers(session)[0].id
    }


def tidy_up(session, at: datetime) -> None:
    """One round of the worker's housekeeping at `at`."""
    housekeep(
        session,
        at,
        noshow_after=timedelta(minutes=30),
        retention=_retention(),
        walk_in_answer_within=timedelta(minutes=3),
        staff_sessions=SessionRules.from_config(defaults()),
    )


def _retention() -> RetentionPeriods:
    return RetentionPeriods.from_config(defaults())  # the periods a hospital gets unless it sets its own


def test_joining_the_waitlist_is_confirmed_by_one_mail_with_the_link_to_leave(
    session, now, outbox, smtp_server
):
    """An elderly patient had nothing to show they were on the list, nor how to leave it."""
    service = open_clinic(session, name="Heart follow-up")
    entry = join(session, service, now, 1)

    outbox.drain()
    outbox.drain()

    (mail,) = smtp_server.inbox(entry.email)
    body = " ".join(text(mail).split())
    assert "You are on the waitlist" in mail["Subject"]
    assert "Heart follow-up" in body and "Tuesday 3 March 2026" in body
    assert waitlist_link(entry, base_url="http://127.0.0.1:5000", keys=TEST_KEYS) in body
    assert str(entry.birth_date.year) not in body


def test_a_patient_who_left_before_the_confirmation_went_is_not_sent_it(session, now, outbox, smtp_server):
    service = open_clinic(session)
    entry = join(session, service, now, 1)
    leave_waitlist(session, entry.id, now=now, actor=Actor())

    outbox.drain()

    assert smtp_server.inbox(entry.email) == []


def _withdraw(session, record) -> None:
    """As the admin pages do: a service, a department or a clinician deactivated."""
    record.active = False
    session.commit()


@pytest.mark.parametrize("withdrawn", ["service", "department", "clinician", "clinician's service"])
def test_a_patient_waiting_for_what_is_no_longer_offered_is_told_their_place_has_ended(
    session, now, outbox, smtp_server, withdrawn
):
    """Deactivated, a service or the clinician a patient waited for left them waiting, told nothing, until
    their last day went by: no time of it could ever be offered."""
    service = open_clinic(session, name="Heart follow-up")
    (clinician,) = service.clinicians
    entry = join(session, service, now, 1, clinician_id=clinician.id)
    outbox.drain()
    if withdrawn == "service":
        _withdraw(session, service)
    elif withdrawn == "department":
        _withdraw(session, service.department)
    elif withdrawn == "clinician":
        _withdraw(session, clinician)
    else:
        clinician.services.remove(service)
        session.commit()

    tidy_up(session, now + timedelta(minutes=1))
    tidy_up(session, now + timedelta(minutes=2))  # once only
    outbox.drain(until=now + timedelta(minutes=2))

    ended = session.get(WaitlistEntry, entry.id, populate_existing=True)
    assert ended.status is WaitlistStatus.CLOSED and ended.ended_at == now + timedelta(minutes=1)
    (mail,) = offer_mails(smtp_server, entry.email)
    body = " ".join(text(mail).split())
    assert "no longer" in mail["Subject"]
    assert "Heart follow-up" in body and "no longer offered" in body
    # Where to book instead: the service's other clinicians while it is offered, else every service.
    still_offered = withdrawn.startswith("clinician")
    elsewhere = f"/clinician?service={service.id}" if still_offered else ""
    assert f"Book a time:\nhttp://127.0.0.1:5000/book{elsewhere}\n" in text(mail)
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "waitlist.closed"))
    assert entry.email not in str(event.details)


def test_patients_waiting_for_any_clinician_stay_when_one_clinician_goes(session, now, outbox):
    service = open_clinic(session)
    (clinician,) = service.clinicians
    entry = join(session, service, now, 1)  # any clinician

    _withdraw(session, clinician)
    tidy_up(session, now + timedelta(minutes=1))

    assert session.get(WaitlistEntry, entry.id, populate_existing=True).status is WaitlistStatus.WAITING


def test_an_open_offer_of_a_place_closed_with_its_service_is_gone_and_not_mailed(
    session, now, outbox, smtp_server
):
    service = open_clinic(session)
    entry = join(session, service, now, 1)
    freed(session, service, now)
    outbox.drain()
    (offer,) = offers(session)

    _withdraw(session, service)
    tidy_up(session, now + timedelta(minutes=1))

    assert offers(session)[0].status is OfferStatus.GONE
    assert session.get(WaitlistEntry, entry.id, populate_existing=True).status is WaitlistStatus.CLOSED
    with pytest.raises(OfferGone):
        take(session, offer, now + timedelta(minutes=1))


def test_an_offered_time_booked_another_way_ends_the_offer_and_its_patient_is_told(
    session, now, outbox, smtp_server
):
    """An offer whose time was booked on the pages stayed open until it expired: its page said the time was
    free for the patient, and they heard nothing until they tried to book it."""
    service = open_clinic(session)
    entry = join(session, service, now, 1)
    freed(session, service, now)
    outbox.drain()
    factories.booking(session, service, TUESDAY_10, now=now)  # booked on the pages

    tidy_up(session, now + timedelta(minutes=1))
    tidy_up(session, now + timedelta(minutes=2))  # told once
    outbox.drain(until=now + timedelta(minutes=2))

    (offer,) = offers(session)
    assert offer.status is OfferStatus.GONE and offer.decided_at == now + timedelta(minutes=1)
    subjects = [mail["Subject"] for mail in offer_mails(smtp_server, entry.email)]
    assert len(subjects) == 2 and subjects[-1].startswith("The time we offered you has gone")
    assert "on the waitlist" not in text(offer_mails(smtp_server, entry.email)[-1]).split("\n\n")[1]
    assert session.get(WaitlistEntry, entry.id).status is WaitlistStatus.WAITING


def test_an_offer_whose_time_was_booked_before_its_mail_went_is_withdrawn_unsent(
    session, now, outbox, smtp_server
):
    service = open_clinic(session)
    entry = join(session, service, now, 1)
    consultation = freed(session, service, now)
    with write_transaction(session):  # the worker offered it, its mail not yet sent
        time = FreedTime(service.id, consultation.clinician_id, TUESDAY_10)
        offer_freed_time(session, time, consultation, now=now, rules=RULES)
    factories.booking(session, service, TUESDAY_10, now=now)

    outbox.drain()

    assert offer_mails(smtp_server, entry.email) == []
    assert offers(session)[0].status is OfferStatus.GONE


def test_a_patient_on_the_waitlist_twice_is_offered_a_time_once_and_others_get_the_place(
    session, now, outbox, smtp_server
):
    """Joined twice (another tab, other days), a patient was offered one time twice, taking two of the
    offers a time gets: one person was mailed it twice, and the next in line never."""
    service = open_clinic(session)
    first = join(session, service, now, 1)
    join(session, service, now, 1, email="PATIENT1@example.org", last=date(2026, 3, 5))  # again, other days
    sibling = join(session, service, now, 1, birth_date=date(2012, 5, 1))  # same address, another person
    others = [join(session, service, now, n) for n in (2, 3)]

    freed(session, service, now)
    outbox.drain()

    assert [o.entry_id for o in offers(session)] == [first.id, sibling.id, others[0].id]


def test_booking_from_one_place_ends_the_patients_other_places_for_the_service(session, now, outbox):
    """A patient on the list twice who booked from one place went on waiting in the other, and was offered
    more times of a service they had booked."""
    service = open_clinic(session)
    first = join(session, service, now, 1)
    again = join(session, service, now, 1, email="PATIENT1@example.org", last=date(2026, 3, 5))
    sibling = join(session, service, now, 1, birth_date=date(2012, 5, 1))
    freed(session, service, now)
    outbox.drain()

    take(session, offers(session, entry_id=first.id)[0], now)
    freed(session, service, now, start=TUESDAY_10 + timedelta(hours=1))
    outbox.drain()

    statuses = {
        e.id: e.status
        for e in session.scalars(select(WaitlistEntry).execution_options(populate_existing=True))
    }
    assert statuses == {
        first.id: WaitlistStatus.BOOKED,
        again.id: WaitlistStatus.BOOKED,
        sibling.id: WaitlistStatus.WAITING,
    }
    assert offers(session, entry_id=again.id) == []


@pytest.mark.parametrize("withdrawn", ["service", "clinician"])
def test_an_offer_taken_after_its_service_or_clinician_was_withdrawn_is_gone(session, now, outbox, withdrawn):
    """Taken before housekeeping ended it, such an offer raised the booking's NotFound: the patient's click
    was answered 404 (no such page) and the offer stayed open."""
    service = open_clinic(session)
    join(session, service, now, 1)
    freed(session, service, now)
    outbox.drain()
    (offer,) = offers(session)
    _withdraw(session, service if withdrawn == "service" else service.clinicians[0])

    with pytest.raises(OfferGone):
        take(session, offer, now)

    assert offers(session)[0].status is OfferStatus.GONE


def test_a_patient_whose_days_went_by_is_told_once_that_their_place_has_ended(
    session, now, outbox, smtp_server
):
    """A place whose last day went by ended silently: the patient, told nothing, went on waiting for a mail
    that would never come, and never learnt to book another way."""
    service = open_clinic(session, name="Heart follow-up")
    entry = join(session, service, now, 1)  # Tuesday only
    freed(session, service, now)  # offered a time, with a reason stored that no mail may carry
    outbox.drain()
    wednesday = datetime(2026, 3, 4, 0, 0, tzinfo=UTC)
    outbox.clock.now = wednesday

    tidy_up(session, wednesday)
    tidy_up(session, wednesday + timedelta(minutes=1))  # the next round, or another worker's
    session.commit()
    # A worker that claimed the mail was killed before sending it: its lease runs out, another sends it.
    claim_due_messages(session, "killed-worker", wednesday, 10, lease=timedelta(minutes=1))
    session.commit()
    outbox.drain()
    outbox.clock.now = wednesday + timedelta(minutes=2)
    outbox.drain()
    outbox.drain()

    assert session.get(WaitlistEntry, entry.id, populate_existing=True).status is WaitlistStatus.EXPIRED
    mails = [mail for mail in offer_mails(smtp_server, entry.email) if "ended" in mail["Subject"]]
    assert len(mails) == 1
    (mail,) = mails
    body = " ".join(text(mail).split())
    assert "Heart follow-up" in body and "Tuesday 3 March 2026" in body
    assert f"Book a time: http://127.0.0.1:5000/book/clinician?service={service.id}" in body
    assert SECRET_REASON not in mail.as_string() and "reason" not in body.lower()
    assert str(entry.birth_date.year) not in body


def test_a_place_left_or_booked_before_its_days_went_by_is_not_told_it_ended(
    session, now, outbox, smtp_server
):
    service = open_clinic(session)
    left, booked = join(session, service, now, 1), join(session, service, now, 2)
    leave_waitlist(session, left.id, now=now, actor=Actor())
    freed(session, service, now)
    outbox.drain()
    take(session, offers(session, entry_id=booked.id)[0], now)
    wednesday = datetime(2026, 3, 4, 0, 0, tzinfo=UTC)

    tidy_up(session, wednesday)
    outbox.drain(until=wednesday + timedelta(minutes=5))

    for entry in (left, booked):
        assert not [mail for mail in smtp_server.inbox(entry.email) if "ended" in mail["Subject"]]


@pytest.mark.parametrize("withdrawn", ["clinician", "clinician's service"])
def test_an_offer_of_a_clinician_no_longer_offering_the_service_ends_and_housekeeping_goes_on(
    session, now, outbox, smtp_server, withdrawn
):
    """A time of a clinician then deactivated (or taken off the service), freed for patients waiting for any
    clinician, made the offer job raise NotOffered until it went dead, and an open offer of such a time
    made housekeeping raise it at every round, so no later offer, place or no-show was seen to again."""
    service = open_clinic(session)
    (clinician,) = service.clinicians
    mailed, unmailed = join(session, service, now, 1), join(session, service, now, 2)  # any clinician
    freed(session, service, now)
    outbox.drain()
    freed(session, service, now, start=TUESDAY_10 + timedelta(hours=1))
    with write_transaction(session):  # the worker offers the second time; its mail is not yet sent
        time = FreedTime(service.id, clinician.id, TUESDAY_10 + timedelta(hours=1))
        offer_freed_time(session, time, session.get(Consultation, 1), now=now, rules=RULES)
    if withdrawn == "clinician":
        _withdraw(session, clinician)
    else:
        clinician.services.remove(service)
        session.commit()

    outbox.drain()
    tidy_up(session, now + timedelta(minutes=1))
    outbox.drain(until=now + timedelta(minutes=2))

    assert {o.status for o in offers(session)} == {OfferStatus.GONE}
    subjects = [mail["Subject"] for mail in offer_mails(smtp_server, mailed.email)]
    assert len(subjects) == 2 and subjects[-1].startswith("The time we offered you has gone")
    assert session.get(WaitlistEntry, unmailed.id).status is WaitlistStatus.WAITING


def test_days_inside_the_services_notice_are_refused_as_no_time_of_them_could_be_offered(session, now):
    """A service booked at least a day ahead took a place for today alone: no time of it could ever be
    offered, and the patient waited for nothing until the day went by."""
    service = open_clinic(session, min_notice_minutes=24 * 60)
    monday, tuesday = (
        now.date(),
        TUESDAY,
    )  # now: Monday 08:00 UTC; Tuesday's times from 08:00 on may be offered

    with pytest.raises(InvalidDetails) as refused:
        join(session, service, now, 1, first=monday, last=monday)
    assert "Tuesday 3 March 2026 or later" in refused.value.errors["first_day"]
    assert join(session, service, now, 2, first=tuesday, last=tuesday).status is WaitlistStatus.WAITING


def test_a_patient_who_left_before_hearing_their_offer_had_gone_is_not_told_they_are_still_waiting(
    session, now, outbox, smtp_server
):
    """Someone else booked the time; before the mail saying so went, the patient left the list. The mail
    still went, saying "You are still on the waitlist: we will e-mail you if another time becomes free"."""
    service = open_clinic(session)
    taker, leaver, waiting = (join(session, service, now, n) for n in range(3))
    freed(session, service, now)
    outbox.drain()

    take(session, offers(session, entry_id=taker.id)[0], now)
    leave_waitlist(session, leaver.id, now=now, actor=Actor())
    outbox.drain()

    assert "still on the waitlist" not in " ".join(text(m) for m in offer_mails(smtp_server, leaver.email))
    assert "still on the waitlist" in text(offer_mails(smtp_server, waiting.email)[-1])


@pytest.mark.parametrize("ended_by", ["leaving", "booking from another place"])
def test_an_offer_withdrawn_when_its_patient_stops_waiting_goes_to_the_next_in_line(
    session, now, outbox, smtp_server, ended_by
):
    """A patient offered a time who left the list (or booked from another place) had their offer withdrawn,
    and the time was offered to nobody in their stead: only an offer that expired went to the next in line,
    so the freed time could stay empty with patients waiting for it."""
    outbox.configure(WAITLIST_OFFERS_PER_TIME=1)
    service = open_clinic(session)
    first = join(session, service, now, 1)
    later = join(
        session, service, now, 1, email="PATIENT1@example.org", first=date(2026, 3, 4), last=date(2026, 3, 4)
    )
    after = join(session, service, now, 2)
    freed(session, service, now)  # Tuesday 10:00: the first's
    freed(
        session, service, now, start=datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    )  # Wednesday's: their other place
    outbox.drain()
    assert [o.entry_id for o in offers(session, status=OfferStatus.OFFERED)] == [first.id, later.id]

    if ended_by == "leaving":
        leave_waitlist(session, first.id, now=now, actor=Actor())
    else:
        take(session, offers(session, entry_id=later.id)[0], now)
    outbox.drain()

    (offer,) = offers(session, entry_id=after.id, status=OfferStatus.OFFERED)
    assert offer.starts_at == TUESDAY_10
    assert offer_mails(smtp_server, after.email)[-1]["Subject"].startswith(
        "A video consultation time is free"
    )


def test_a_time_withdrawn_from_a_patient_who_booked_another_goes_to_the_next_in_line(
    session, now, outbox, smtp_server
):
    outbox.configure(WAITLIST_OFFERS_PER_TIME=1)
    service = open_clinic(session)
    both_days = join(session, service, now, 1, last=date(2026, 3, 4))
    wednesday_only = join(session, service, now, 2, first=date(2026, 3, 4), last=date(2026, 3, 4))
    wednesday = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    freed(session, service, now)
    freed(session, service, now, start=wednesday)
    outbox.drain()
    assert {o.starts_at for o in offers(session, entry_id=both_days.id)} == {TUESDAY_10, wednesday}

    take(session, offers(session, entry_id=both_days.id)[0], now)  # Tuesday's
    outbox.drain()

    (offer,) = offers(session, entry_id=wednesday_only.id, status=OfferStatus.OFFERED)
    assert offer.starts_at == wednesday


def test_a_patient_never_told_of_an_offer_is_not_told_it_has_gone(session, now, outbox, smtp_server):
    """The offer's mail not yet sent (the worker behind, or the mail server refusing it for a while), another
    patient booked the time: the first was mailed "The time we offered you, Tuesday 3 March, is no longer
    free" about an offer they had never heard of."""
    service = open_clinic(session)
    unmailed, taker = join(session, service, now, 1), join(session, service, now, 2)
    consultation = freed(session, service, now)
    with write_transaction(session):  # the worker offered it; no mail of it is sent yet
        time = FreedTime(service.id, consultation.clinician_id, TUESDAY_10)
        offer_freed_time(session, time, consultation, now=now, rules=RULES)

    take(session, offers(session, entry_id=taker.id)[0], now)
    outbox.drain()

    assert offer_mails(smtp_server, unmailed.email) == []
    assert offers(session, entry_id=unmailed.id)[0].status is OfferStatus.GONE


def test_every_offer_withdrawn_with_its_place_is_audited(session, now, outbox):
    """An offer withdrawn because its patient left (or booked another time) ended with no audit event: the
    trail showed it offered, and never ended."""
    service = open_clinic(session)
    leaver, taker = join(session, service, now, 1), join(session, service, now, 2, last=date(2026, 3, 4))
    freed(session, service, now)
    freed(session, service, now, start=TUESDAY_10 + timedelta(hours=1))
    outbox.drain()
    leave_waitlist(session, leaver.id, now=now, actor=Actor())
    take(session, offers(session, entry_id=taker.id)[0], now)

    for offer in offers(session):
        ends = session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.entity_type == "waitlist_offer",
                AuditEvent.entity_id == str(offer.id),
                AuditEvent.action != "waitlist.offered",
            )
        ).all()
        assert len(ends) == 1, (offer.entry_id, offer.status, ends)


def test_a_hospital_offering_each_time_to_one_patient_does_not_tell_them_others_race_for_it(
    session, now, outbox, smtp_server
):
    """With CLINIC_WAITLIST_OFFERS_PER_TIME=1 the mails still said each time was offered "to a few people
    at once: the first to book it gets it", hurrying a patient who had the time to themselves."""
    outbox.configure(WAITLIST_OFFERS_PER_TIME=1)
    service = open_clinic(session)
    entry = join(session, service, now, 1)
    freed(session, service, now)
    outbox.drain()

    mails = [" ".join(text(mail).split()) for mail in smtp_server.inbox(entry.email)]
    assert len(mails) == 2  # joined, then the offer
    for body in mails:
        assert "few people" not in body and "first to book" not in body
    assert "offered this time to you alone" in mails[1]
