"""Outages of the mail server or the video provider delay messages; they never lose or double them."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import time
from datetime import UTC, datetime, timedelta

import pytest

from clinic.audit import Actor
from clinic.jobs.claims import requeue
from clinic.models import OutboxKind, OutboxStatus
from clinic.scheduling.lifecycle import cancel, reschedule

from . import factories
from .fakes.outbox import invite, open_clinic, outbox, text  # noqa: F401 (fixture)
from .fakes.providers import fake_providers, provider_settings  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)

TUESDAY_10 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
MONDAY_09 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # an hour after `now`: inside the fallback window
ZOOM_CREATE = "/zoom/v2/users/"


def book(session, now, start=TUESDAY_10):
    return factories.booking(session, open_clinic(session), start, now=now).consultation


def test_a_451_is_retried_later_and_the_mail_delivered_once(session, now, outbox, smtp_server):
    smtp_server.reply_to_next_data("451 4.3.0 Try again later")
    consultation = book(session, now)
    outbox.drain()

    mail = outbox.only(consultation, OutboxKind.CONFIRMATION, "patient")
    assert (mail.status, mail.attempts, mail.last_error) == (
        OutboxStatus.PENDING,
        1,
        "MailTemporaryError: 451 4.3.0 Try again later",
    )
    assert mail.due_at > now
    assert smtp_server.inbox(consultation.patient.email) == []
    assert len(smtp_server.inbox(consultation.clinician.email)) == 1

    outbox.drain(until=now + timedelta(hours=1))
    mail = outbox.only(consultation, OutboxKind.CONFIRMATION, "patient")
    assert (mail.status, mail.attempts) == (OutboxStatus.DONE, 2)
    assert len(smtp_server.inbox(consultation.patient.email)) == 1


def test_a_550_makes_a_dead_letter_without_retrying(session, now, outbox, smtp_server):
    smtp_server.reply_to_next_data("550 5.7.1 Message refused")
    consultation = book(session, now)
    outbox.drain(until=now + timedelta(hours=1))

    mail = outbox.only(consultation, OutboxKind.CONFIRMATION, "patient")
    assert (mail.status, mail.attempts, mail.last_error) == (
        OutboxStatus.DEAD,
        1,
        "MailPermanentError: 550 5.7.1 Message refused",
    )
    assert smtp_server.inbox(consultation.patient.email) == []


def test_an_admin_can_requeue_a_dead_letter_and_it_is_delivered(session, now, outbox, smtp_server):
    smtp_server.refuse_recipient("patient-requeue@example.org")
    booked = factories.booking(
        session,
        open_clinic(session),
        TUESDAY_10,
        now=now,
        patient=factories.patient_details(email="patient-requeue@example.org"),
    )
    outbox.drain()
    dead = outbox.only(booked.consultation, OutboxKind.CONFIRMATION, "patient")
    assert dead.status is OutboxStatus.DEAD

    assert requeue(session, dead.id, outbox.clock.now)
    outbox.drain()
    assert outbox.only(booked.consultation, OutboxKind.CONFIRMATION, "patient").status is OutboxStatus.DONE
    assert len(smtp_server.inbox("patient-requeue@example.org")) == 1


def test_a_dead_confirmation_retried_after_the_booking_was_cancelled_is_not_sent(
    session, now, outbox, smtp_server
):
    address = "patient-cancelled-since@example.org"
    smtp_server.refuse_recipient(address)
    booked = factories.booking(
        session, open_clinic(session), TUESDAY_10, now=now, patient=factories.patient_details(email=address)
    )
    outbox.drain()
    dead = outbox.only(booked.consultation, OutboxKind.CONFIRMATION, "patient")
    assert dead.status is OutboxStatus.DEAD
    cancel(session, booked.consultation.id, now=outbox.clock.now, actor=Actor())
    outbox.drain()
    assert [invite(mail)[0] for mail in smtp_server.inbox(address)] == ["CANCEL"]

    assert requeue(session, dead.id, outbox.clock.now)  # the admin retries every dead letter once fixed
    outbox.drain()

    retried = outbox.only(booked.consultation, OutboxKind.CONFIRMATION, "patient")
    assert (retried.status, retried.outcome) == (OutboxStatus.CANCELLED, "superseded")
    assert [invite(mail)[0] for mail in smtp_server.inbox(address)] == ["CANCEL"]


def test_a_confirmation_still_retrying_when_the_booking_is_cancelled_is_not_sent_after_it(
    session, now, outbox, smtp_server
):
    """The patient who cancelled was sent "Your video consultation is booked", with its join and booking
    links, and then the cancellation: the confirmation's retry went first, as invites keep their order."""
    smtp_server.reply_to_next_data("451 4.3.0 Try again later")  # holds up the patient's confirmation
    consultation = book(session, now)
    outbox.drain()
    assert outbox.only(consultation, OutboxKind.CONFIRMATION, "patient").status is OutboxStatus.PENDING

    cancel(session, consultation.id, now=outbox.clock.now, actor=Actor())
    outbox.drain(until=now + timedelta(days=1))

    mails = smtp_server.inbox(consultation.patient.email)
    assert [invite(mail)[0] for mail in mails] == ["CANCEL"]
    retried = outbox.only(consultation, OutboxKind.CONFIRMATION, "patient")
    assert (retried.status, retried.outcome) == (OutboxStatus.CANCELLED, "superseded")


def test_a_dead_confirmation_retried_after_a_move_is_not_sent_as_the_old_invite(
    session, now, outbox, smtp_server
):
    address = "patient-moved-since@example.org"
    smtp_server.refuse_recipient(address)
    booked = factories.booking(
        session, open_clinic(session), TUESDAY_10, now=now, patient=factories.patient_details(email=address)
    )
    outbox.drain()
    dead = outbox.only(booked.consultation, OutboxKind.CONFIRMATION, "patient")
    moved_to = TUESDAY_10 + timedelta(hours=1)
    reschedule(session, booked.consultation.id, moved_to, now=outbox.clock.now, actor=Actor())
    outbox.drain()

    assert requeue(session, dead.id, outbox.clock.now)
    outbox.drain()

    # The update carried the whole invite, at its new sequence: an older one would say less, and no more.
    invites = [invite(mail) for mail in smtp_server.inbox(address)]
    assert [(method, event["SEQUENCE"]) for method, event in invites] == [("REQUEST", 1)]


def test_mails_give_up_after_the_last_attempt(session, now, outbox, smtp_server):
    outbox.configure(OUTBOX_MAX_ATTEMPTS=3)
    smtp_server.reply_to_next_data("451 4.3.0 Try again later", times=6)  # both confirmations, 3 times
    consultation = book(session, now)
    outbox.drain(until=now + timedelta(hours=1))

    for mail in outbox.messages(consultation, OutboxKind.CONFIRMATION):
        assert (mail.status, mail.attempts, mail.last_error) == (
            OutboxStatus.DEAD,
            3,
            "MailTemporaryError: 451 4.3.0 Try again later",
        )
    assert smtp_server.received == []


def test_provider_500s_are_retried_with_backoff_and_mails_wait_for_the_meeting(
    session, now, outbox, fake_providers, smtp_server
):
    outbox.configure(MEETING_PROVIDER="zoom")
    fake_providers.fail_next(2, 500, path_contains=ZOOM_CREATE)
    consultation = book(session, now)
    outbox.drain()

    create = outbox.only(consultation, OutboxKind.MEETING_CREATE)
    assert (create.status, create.attempts, create.last_error) == (
        OutboxStatus.PENDING,
        1,
        "ProviderUnavailable: HTTP 500",
    )
    assert outbox.statuses(consultation, OutboxKind.CONFIRMATION) == [OutboxStatus.PENDING] * 2
    assert smtp_server.received == []

    outbox.drain(until=now + timedelta(hours=1))
    create = outbox.only(consultation, OutboxKind.MEETING_CREATE)
    assert (create.status, create.attempts) == (OutboxStatus.DONE, 3)
    assert len(fake_providers.zoom_meetings) == 1
    (meeting,) = fake_providers.zoom_meetings.values()
    (mail,) = smtp_server.inbox(consultation.patient.email)
    assert str(invite(mail)[1]["LOCATION"]) == meeting["join_url"]


def test_a_dead_meeting_create_retried_after_the_booking_was_cancelled_leaves_no_meeting_standing(
    session, now, outbox, fake_providers, smtp_server
):
    outbox.configure(MEETING_PROVIDER="zoom", MEETING_FALLBACK_PROVIDER="")
    fake_providers.fail_next(1, 400, path_contains=ZOOM_CREATE)
    consultation = book(session, now)
    outbox.drain()
    dead = outbox.only(consultation, OutboxKind.MEETING_CREATE)
    assert dead.status is OutboxStatus.DEAD
    cancel(session, consultation.id, now=outbox.clock.now, actor=Actor())
    outbox.drain()
    assert outbox.only(consultation, OutboxKind.MEETING_CANCEL).outcome == "no meeting"

    assert requeue(session, dead.id, outbox.clock.now)  # the admin retries every dead letter once fixed
    outbox.drain()

    assert fake_providers.live_meetings("zoom") == []
    assert outbox.refreshed(consultation).meeting_join_url is None


def test_a_dead_meeting_create_retried_by_an_admin_keeps_the_meeting_a_lost_answer_made(
    session, now, outbox, fake_providers, provider_settings
):
    outbox.configure(MEETING_PROVIDER="zoom", MEETING_FALLBACK_PROVIDER="", OUTBOX_MAX_ATTEMPTS=1)
    stall = provider_settings["PROVIDER_READ_TIMEOUT"] * 2
    fake_providers.stall_next(1, stall, path_contains=ZOOM_CREATE)  # made at Zoom, its answer lost
    consultation = book(session, now)
    outbox.drain()
    dead = outbox.only(consultation, OutboxKind.MEETING_CREATE)
    assert (dead.status, dead.last_error) == (OutboxStatus.DEAD, "ProviderUnavailable")
    time.sleep(stall)  # the stalled create finishes at the fake
    (made,) = fake_providers.live_meetings("zoom")

    assert requeue(session, dead.id, outbox.clock.now)
    outbox.drain()

    assert fake_providers.live_meetings("zoom") == [made]
    assert outbox.refreshed(consultation).meeting_external_id == made.external_id


def test_a_booking_cancelled_while_its_meeting_could_not_be_made_is_cancelled_by_mail_at_once(
    session, now, outbox, fake_providers, smtp_server
):
    outbox.configure(MEETING_PROVIDER="zoom", MEETING_FALLBACK_PROVIDER="")
    fake_providers.fail_next(1, 400, path_contains=ZOOM_CREATE)
    consultation = book(session, now)
    outbox.drain()
    assert outbox.only(consultation, OutboxKind.MEETING_CREATE).status is OutboxStatus.DEAD

    cancel(session, consultation.id, now=outbox.clock.now, actor=Actor())
    outbox.drain(until=outbox.clock.now + timedelta(minutes=5))

    # Its confirmations, waiting for a link that will never come, no longer hold the cancellation back.
    for address in (consultation.patient.email, consultation.clinician.email):
        assert [invite(mail)[0] for mail in smtp_server.inbox(address)] == ["CANCEL"]
    assert outbox.statuses(consultation, OutboxKind.CONFIRMATION) == [OutboxStatus.CANCELLED] * 2


def test_a_429_is_retried_no_sooner_than_its_retry_after(session, now, outbox, fake_providers):
    outbox.configure(MEETING_PROVIDER="zoom", OUTBOX_RETRY_BASE_SECONDS=1)
    fake_providers.fail_next(1, 429, path_contains=ZOOM_CREATE, retry_after="600")
    consultation = book(session, now)
    outbox.drain()

    create = outbox.only(consultation, OutboxKind.MEETING_CREATE)
    assert create.last_error == "ProviderRateLimited: HTTP 429"
    assert create.due_at >= now + timedelta(seconds=600)
    outbox.drain(until=now + timedelta(hours=1))
    assert outbox.only(consultation, OutboxKind.MEETING_CREATE).status is OutboxStatus.DONE
    assert len(fake_providers.zoom_meetings) == 1


def test_a_provider_that_rejects_for_good_is_replaced_by_the_fallback(
    session, now, outbox, fake_providers, smtp_server
):
    outbox.configure(MEETING_PROVIDER="zoom")
    fake_providers.fail_next(1, 400, path_contains=ZOOM_CREATE)
    consultation = book(session, now)
    outbox.drain()

    create = outbox.only(consultation, OutboxKind.MEETING_CREATE)
    assert (create.status, create.outcome, create.last_error) == (
        OutboxStatus.DONE,
        "fallback:jitsi",
        "zoom:ProviderRejected",  # which provider failed, and how
    )
    consultation = outbox.refreshed(consultation)
    assert consultation.meeting_provider == "jitsi"
    assert consultation.meeting_join_url.startswith("https://meet.jit.si/")
    (mail,) = smtp_server.inbox(consultation.patient.email)
    assert consultation.meeting_join_url in text(mail)


def test_a_provider_still_down_at_the_fallback_deadline_is_replaced_by_the_fallback(
    session, now, outbox, fake_providers
):
    outbox.configure(
        MEETING_PROVIDER="zoom",
        MEETING_FALLBACK_AFTER="2h",
        OUTBOX_MAX_ATTEMPTS=1000,
        OUTBOX_RETRY_MAX_SECONDS=3600,
    )
    fake_providers.fail_next(1000, 503, path_contains=ZOOM_CREATE)
    consultation = book(session, now)  # Tuesday 10:00: the deadline is Tuesday 08:00
    outbox.drain(until=TUESDAY_10)

    create = outbox.only(consultation, OutboxKind.MEETING_CREATE)
    assert (create.status, create.outcome) == (OutboxStatus.DONE, "fallback:jitsi")
    assert TUESDAY_10 - timedelta(hours=2) <= create.done_at < TUESDAY_10
    assert create.attempts > 10
    assert outbox.refreshed(consultation).meeting_provider == "jitsi"


def test_a_provider_down_for_all_its_attempts_is_replaced_before_the_deadline(
    session, now, outbox, fake_providers
):
    outbox.configure(MEETING_PROVIDER="zoom", OUTBOX_MAX_ATTEMPTS=4)
    fake_providers.fail_next(1000, 503, path_contains=ZOOM_CREATE)
    consultation = book(session, now)
    outbox.drain(until=now + timedelta(hours=2))

    create = outbox.only(consultation, OutboxKind.MEETING_CREATE)
    assert (create.status, create.attempts, create.outcome) == (OutboxStatus.DONE, 4, "fallback:jitsi")


def test_inside_the_fallback_window_a_single_outage_falls_back_at_once(session, now, outbox, fake_providers):
    outbox.configure(MEETING_PROVIDER="zoom", MEETING_FALLBACK_AFTER="2h")
    fake_providers.fail_next(1, 503, path_contains=ZOOM_CREATE)
    consultation = book(session, now, start=MONDAY_09)
    outbox.drain()

    create = outbox.only(consultation, OutboxKind.MEETING_CREATE)
    assert (create.status, create.attempts, create.outcome) == (OutboxStatus.DONE, 1, "fallback:jitsi")


@pytest.mark.parametrize(
    ("provider", "create_path"), [("zoom", ZOOM_CREATE), ("teams", "createOrGet"), ("webhook", "/webhook")]
)
def test_a_meeting_a_lost_answer_made_before_the_fallback_is_cancelled_at_the_preferred_provider(
    session, now, outbox, fake_providers, smtp_server, provider, create_path
):
    """The provider made the meeting but its answer came too late, and the worker, inside the fallback
    window, gave the patient a fallback link: the meeting nobody was told of must not stay standing in the
    host's calendar (or the hospital's system), holding its time, for a consultation held elsewhere."""
    outbox.configure(MEETING_PROVIDER=provider, MEETING_FALLBACK_AFTER="2h")
    stall = outbox.app.config["PROVIDER_READ_TIMEOUT"] * 2
    fake_providers.stall_next(1, stall, path_contains=create_path)  # made there, its answer lost
    consultation = book(session, now, start=MONDAY_09)
    outbox.drain()
    create = outbox.only(consultation, OutboxKind.MEETING_CREATE)
    assert (create.status, create.outcome) == (OutboxStatus.DONE, "fallback:jitsi")
    time.sleep(stall)  # the stalled create finishes at the provider
    assert len(fake_providers.live_meetings(provider)) == 1

    outbox.drain(until=outbox.clock.now + timedelta(minutes=30))

    assert fake_providers.live_meetings(provider) == []
    fallen_back = outbox.refreshed(consultation)
    assert fallen_back.meeting_provider == "jitsi"
    (mail,) = smtp_server.inbox(fallen_back.patient.email)
    assert fallen_back.meeting_join_url in text(mail)


def test_a_meeting_an_earlier_attempt_made_unheard_is_cancelled_when_the_attempts_run_out_to_the_fallback(
    session, now, outbox, fake_providers
):
    outbox.configure(MEETING_PROVIDER="zoom", OUTBOX_MAX_ATTEMPTS=3)
    stall = outbox.app.config["PROVIDER_READ_TIMEOUT"] * 2
    fake_providers.stall_next(1, stall, path_contains=ZOOM_CREATE)  # made at Zoom, its answer lost
    consultation = book(session, now)
    outbox.drain()
    time.sleep(stall)  # the stalled create finishes at the fake
    assert len(fake_providers.live_meetings("zoom")) == 1
    fake_providers.fail_next(2, 503, path_contains=ZOOM_CREATE)  # the retries, which would find it, fail

    outbox.drain(until=outbox.clock.now + timedelta(hours=2))

    create = outbox.only(consultation, OutboxKind.MEETING_CREATE)
    assert (create.status, create.attempts, create.outcome) == (OutboxStatus.DONE, 3, "fallback:jitsi")
    assert fake_providers.live_meetings("zoom") == []


def test_a_meeting_move_that_fails_for_good_gives_the_patient_a_fallback_link(
    session, now, outbox, fake_providers, smtp_server
):
    outbox.configure(MEETING_PROVIDER="zoom")
    consultation = book(session, now)
    outbox.drain()
    fake_providers.zoom_meetings.clear()  # deleted at Zoom behind our back: the PATCH gets 404
    reschedule(session, consultation.id, TUESDAY_10 + timedelta(hours=1), now=now, actor=Actor())
    outbox.drain()

    update = outbox.only(consultation, OutboxKind.MEETING_UPDATE)
    assert (update.status, update.outcome) == (OutboxStatus.DONE, "fallback:jitsi")
    moved = outbox.refreshed(consultation)
    _, event = invite(smtp_server.inbox(moved.patient.email)[-1])
    assert str(event["LOCATION"]) == moved.meeting_join_url
    assert moved.meeting_join_url.startswith("https://meet.jit.si/")


def test_zoom_meetings_follow_reschedules_and_cancellations(session, now, outbox, fake_providers):
    outbox.configure(MEETING_PROVIDER="zoom")
    consultation = book(session, now)
    outbox.drain()
    reschedule(session, consultation.id, TUESDAY_10 + timedelta(hours=1), now=now, actor=Actor())
    outbox.drain()
    (meeting,) = fake_providers.zoom_meetings.values()
    assert meeting["start_time"] == "2026-03-03T11:00:00Z"

    cancel(session, consultation.id, now=now, actor=Actor())
    outbox.drain()
    assert fake_providers.zoom_meetings == {}
    assert outbox.only(consultation, OutboxKind.MEETING_CANCEL).status is OutboxStatus.DONE


def test_a_cancellation_mail_does_not_wait_for_the_provider_to_delete_the_meeting(
    session, now, outbox, fake_providers, smtp_server
):
    outbox.configure(MEETING_PROVIDER="zoom")
    consultation = book(session, now)
    outbox.drain()
    fake_providers.fail_next(1000, 503, path_contains="/zoom/v2/meetings/")
    cancel(session, consultation.id, now=now, actor=Actor())
    outbox.drain()

    assert outbox.only(consultation, OutboxKind.MEETING_CANCEL).status is OutboxStatus.PENDING
    method, _ = invite(smtp_server.inbox(consultation.patient.email)[-1])
    assert method == "CANCEL"
    assert outbox.statuses(consultation, OutboxKind.CANCELLATION) == [OutboxStatus.DONE] * 2


def test_a_service_with_its_own_provider_gets_its_meetings_there(session, now, outbox, fake_providers):
    zoom_service = open_clinic(session, meeting_provider="zoom")
    by_zoom = factories.booking(session, zoom_service, TUESDAY_10, now=now).consultation
    by_default = book(session, now)
    outbox.drain()

    assert outbox.refreshed(by_zoom).meeting_provider == "zoom"
    assert len(fake_providers.zoom_meetings) == 1
    assert outbox.refreshed(by_default).meeting_provider == "jitsi"


def test_a_service_naming_an_unknown_provider_falls_back_instead_of_losing_the_link(session, now, outbox):
    consultation = factories.booking(
        session, open_clinic(session, meeting_provider="skype"), TUESDAY_10, now=now
    ).consultation
    outbox.drain()

    assert outbox.refreshed(consultation).meeting_provider == "jitsi"
    assert outbox.only(consultation, OutboxKind.MEETING_CREATE).outcome == "fallback:jitsi"


def test_a_meeting_replaced_by_a_fallback_is_cancelled_at_its_old_provider(
    session, now, outbox, fake_providers
):
    outbox.configure(MEETING_PROVIDER="teams")
    consultation = book(session, now)
    outbox.drain()
    fake_providers.fail_next(1, 400, path_contains="onlineMeetings/MSo")  # the move is refused for good
    reschedule(session, consultation.id, TUESDAY_10 + timedelta(hours=1), now=now, actor=Actor())
    outbox.drain()

    assert outbox.refreshed(consultation).meeting_provider == "jitsi"
    assert fake_providers.live_meetings("teams") == []  # not left standing at the old time
    retire = outbox.only(consultation, OutboxKind.MEETING_CANCEL)
    assert (retire.status, retire.payload["retire"]["provider"]) == (OutboxStatus.DONE, "teams")

    cancel(session, consultation.id, now=now, actor=Actor())
    outbox.drain()
    assert outbox.statuses(consultation, OutboxKind.MEETING_CANCEL) == [OutboxStatus.DONE] * 2


def test_a_provider_asking_to_wait_past_the_fallback_deadline_is_replaced_by_the_fallback_at_once(
    session, now, outbox, fake_providers, smtp_server
):
    """Zoom's daily limit, say: a 429 whose Retry-After ends after the last moment the patient could be
    given a link in good time. Waiting for it left them without one until the start."""
    outbox.configure(MEETING_PROVIDER="zoom", MEETING_FALLBACK_AFTER="2h")
    fake_providers.fail_next(1, 429, path_contains=ZOOM_CREATE, retry_after="93600")  # until Tuesday 10:00
    consultation = book(session, now)  # Tuesday 10:00: the deadline is Tuesday 08:00, a day from now
    outbox.drain()

    create = outbox.only(consultation, OutboxKind.MEETING_CREATE)
    assert (create.status, create.attempts, create.outcome, create.last_error) == (
        OutboxStatus.DONE,
        1,
        "fallback:jitsi",
        "zoom:ProviderRateLimited",
    )
    (mail,) = smtp_server.inbox(consultation.patient.email)
    assert outbox.refreshed(consultation).meeting_join_url in text(mail)


@pytest.mark.parametrize(("provider", "create_path"), [("zoom", ZOOM_CREATE), ("teams", "createOrGet")])
def test_a_create_refused_with_429_makes_no_meeting_to_retire_after_the_fallback(
    session, now, outbox, fake_providers, provider, create_path
):
    """A 429 is a refusal: nothing was made. Yet the fallback queued the retirement of a meeting the create
    "may have made unheard", which asks a retried create for it: Zoom's made one (none found) and Teams'
    createOrGet made one, each then deleted, more calls at a provider that had asked us to slow down."""
    outbox.configure(MEETING_PROVIDER=provider, MEETING_FALLBACK_AFTER="2h")
    fake_providers.fail_next(1, 429, path_contains=create_path, retry_after="93600")  # past the deadline
    consultation = book(session, now)

    outbox.drain(until=outbox.clock.now + timedelta(minutes=30))

    assert outbox.only(consultation, OutboxKind.MEETING_CREATE).outcome == "fallback:jitsi"
    creates = [r for r in fake_providers.requests_to(create_path) if r.method == "POST"]
    assert len(creates) == 1  # the one refused
    assert outbox.statuses(consultation, OutboxKind.MEETING_CANCEL) == []


def test_a_provider_asking_to_wait_until_before_the_fallback_deadline_is_waited_for(
    session, now, outbox, fake_providers
):
    outbox.configure(MEETING_PROVIDER="zoom", MEETING_FALLBACK_AFTER="2h")
    fake_providers.fail_next(1, 429, path_contains=ZOOM_CREATE, retry_after="79200")  # until Tuesday 06:00
    consultation = book(session, now)
    outbox.drain()

    create = outbox.only(consultation, OutboxKind.MEETING_CREATE)
    assert (create.status, create.last_error) == (OutboxStatus.PENDING, "ProviderRateLimited: HTTP 429")
    assert create.due_at >= now + timedelta(seconds=79200)


def test_a_meeting_answered_without_a_join_link_is_replaced_by_the_fallback(
    session, now, outbox, fake_providers, smtp_server
):
    """The hospital's endpoint answered 200 with an empty join link: stored as the meeting, the create was
    never run again, the confirmation waited for a link that never came, and the waiting room said the link
    was being prepared until the end."""
    outbox.configure(MEETING_PROVIDER="webhook", MEETING_FALLBACK_AFTER="2h")
    fake_providers.webhook_answers_with = {"join_url": ""}
    consultation = book(session, now, start=MONDAY_09)
    outbox.drain()

    create = outbox.only(consultation, OutboxKind.MEETING_CREATE)
    assert (create.status, create.outcome, create.last_error) == (
        OutboxStatus.DONE,
        "fallback:jitsi",
        "webhook:ProviderUnavailable",
    )
    consultation = outbox.refreshed(consultation)
    assert consultation.meeting_join_url.startswith("https://meet.jit.si/")
    (mail,) = smtp_server.inbox(consultation.patient.email)
    assert consultation.meeting_join_url in text(mail)


@pytest.mark.parametrize("fallback", ["jitsi", ""])
def test_a_retry_after_beyond_any_calendar_neither_stops_the_worker_nor_loses_the_meeting(
    session, now, outbox, fake_providers, fallback
):
    """A provider (or a proxy before it) answering Retry-After: 99999999999999 made the worker's retry time
    overflow the calendar: the tick raised, and the meeting and every message behind it stayed unrun."""
    outbox.configure(MEETING_PROVIDER="zoom", MEETING_FALLBACK_PROVIDER=fallback)
    fake_providers.fail_next(1, 429, path_contains=ZOOM_CREATE, retry_after="99999999999999")
    consultation = book(session, now)
    outbox.drain()

    create = outbox.only(consultation, OutboxKind.MEETING_CREATE)
    if fallback:
        assert (create.status, create.outcome) == (OutboxStatus.DONE, "fallback:jitsi")
    else:
        assert (create.status, create.last_error) == (OutboxStatus.PENDING, "ProviderRateLimited: HTTP 429")
    assert outbox.statuses(consultation, OutboxKind.PLAN_REMINDERS) == [OutboxStatus.DONE]
