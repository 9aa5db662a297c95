"""A companion taken out of a call that is not over moves it to a new meeting: the address they had leads
nowhere the patient is, the old meeting is cancelled where the provider can, and the patient and clinician
are sent the new link as an update of the same invite. Real worker, SMTP server and provider fakes."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from clinic.audit import Actor
from clinic.links import consultation_page_url
from clinic.meetings import get_provider, host_links_expire
from clinic.models import AuditEvent, CompanionRole, OutboxKind, OutboxStatus, StaffRole
from clinic.scheduling.companions import add_companion, remove_companion
from clinic.scheduling.errors import MeetingNotReady
from clinic.scheduling.lifecycle import reschedule
from clinic.staff.members import StaffMember
from clinic.walkin.queue import answer
from clinic.walkin.take import take_next

from . import factories
from .conftest import TEST_KEYS
from .fakes.outbox import invite, open_clinic, outbox, text  # noqa: F401 (fixture)
from .fakes.providers import fake_providers, make_consultation, provider_settings  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)
from .test_companion_pages import with_companion
from .test_manage_link import follow, open_link, reloaded
from .test_schedule import login
from .test_schedule_actions import deliver
from .test_waiting_room_pages import service  # noqa: F401 (fixture)

TUESDAY_10 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
REASON = "Low mood since the separation"
STAFF = Actor.staff(3, "10.0.0.3")
EX_PARTNER = {"name": "Ex Partner", "email": "expartner@evil.example", "role": CompanionRole.RELATIVE}
PATIENT = "maria@example.org"
# Where each provider keeps meetings we can cancel; Jitsi rooms need no cancelling.
HOLDS_MEETINGS = ("teams", "zoom", "webhook")


def book(session, now):
    """Maria's booking on Tuesday at 10, her ex-partner invited to it."""
    patient = factories.patient_details(name="Maria Santos", email=PATIENT)
    companion = factories.companion_details(**EX_PARTNER)
    return factories.booking(
        session,
        open_clinic(session),
        TUESDAY_10,
        now=now,
        patient=patient,
        companion=companion,
        reason=REASON,
    ).consultation


@pytest.mark.parametrize("provider", ["jitsi", *HOLDS_MEETINGS])
def test_the_call_of_a_removed_companion_gets_a_new_meeting_and_the_patient_its_link_in_an_update(
    session, now, outbox, fake_providers, smtp_server, provider
):
    outbox.configure(MEETING_PROVIDER=provider)
    consultation = book(session, now)
    outbox.drain()
    had = outbox.refreshed(consultation)
    old_join, old_host, old_id = had.meeting_join_url, had.meeting_host_url, had.meeting_external_id

    removal = remove_companion(session, consultation.id, now=now, actor=STAFF)
    waiting = outbox.refreshed(consultation).meeting_join_url  # what the pages see until the worker runs
    outbox.drain()
    sent = len(smtp_server.received)
    outbox.drain()  # a second run repeats nothing

    assert removal.new_room and removal.patient_mailed and waiting is None
    moved = outbox.refreshed(consultation)
    assert moved.meeting_join_url not in (None, old_join) and moved.meeting_host_url != old_host
    assert moved.meeting_external_id != old_id
    retired = outbox.only(moved, OutboxKind.MEETING_CANCEL)
    assert retired.payload["retire"] == {"provider": provider, "external_id": old_id}
    assert retired.status is OutboxStatus.DONE
    if provider in HOLDS_MEETINGS:
        assert [m.external_id for m in fake_providers.live_meetings(provider)] == [moved.meeting_external_id]
    (first, method, event) = _invites(smtp_server, PATIENT)
    assert method == "REQUEST" and event["UID"] == first["UID"] and event["SEQUENCE"] > first["SEQUENCE"]
    assert str(event["LOCATION"]) == moved.meeting_join_url != str(first["LOCATION"])
    new_link = smtp_server.inbox(PATIENT)[-1]
    assert "has a new video link" in text(new_link) and old_join not in text(new_link)
    for private in ("Ex Partner", "expartner@evil.example", REASON):
        assert private not in text(new_link)
    (_, _, clinician_event) = _invites(smtp_server, moved.clinician.email)
    # Zoom's host links expire: the clinician is sent to the call's page, whose Start call opens the new one.
    expected = (
        consultation_page_url(outbox.app.config["PUBLIC_BASE_URL"], moved.id)
        if host_links_expire(provider)
        else moved.meeting_host_url
    )
    assert str(clinician_event["LOCATION"]) == expected
    assert [invite(m)[0] for m in smtp_server.inbox("expartner@evil.example")] == ["REQUEST", "CANCEL"]
    assert len(smtp_server.received) == sent
    unfinished = [m for m in outbox.messages(moved) if m.status in (OutboxStatus.PENDING, OutboxStatus.DEAD)]
    assert {m.kind for m in unfinished} == {OutboxKind.REMINDER}  # what falls due later, nothing stuck


def _invites(smtp_server, address: str):
    """The first invite a recipient was sent, and the method and event of the last: two in all."""
    first, last = smtp_server.inbox(address)
    return invite(first)[1], *invite(last)


def test_the_patient_is_reminded_with_the_new_link(session, now, outbox, smtp_server):
    consultation = book(session, now)
    outbox.drain()

    remove_companion(session, consultation.id, now=now, actor=STAFF)
    outbox.drain(until=TUESDAY_10)

    moved = outbox.refreshed(consultation)
    *_, first_reminder, second_reminder = smtp_server.inbox(PATIENT)
    assert len(smtp_server.inbox(PATIENT)) == 4  # booked, the new link, two reminders
    assert all(moved.meeting_join_url in text(m) for m in (first_reminder, second_reminder))


@pytest.mark.parametrize(("provider", "create_path"), [("teams", "createOrGet"), ("zoom", "/zoom/v2/users/")])
def test_a_lost_answer_and_an_old_meeting_not_yet_cancelled_still_give_one_new_meeting(
    session, now, outbox, fake_providers, smtp_server, provider, create_path
):
    """The old meeting's cancel fails for a while, and the new one's create is made but its answer lost:
    the retry must find the new meeting, not take the old one that still stands for the same consultation."""
    outbox.configure(MEETING_PROVIDER=provider)
    consultation = book(session, now)
    outbox.drain()
    old = outbox.refreshed(consultation)
    old_join, old_id = old.meeting_join_url, old.meeting_external_id
    fake_providers.fail_next(1, 503, path_contains=old_id, retry_after="600")  # after the create's retry
    read_timeout = outbox.app.config["PROVIDER_READ_TIMEOUT"]
    fake_providers.stall_next(1, read_timeout + 0.5, path_contains=create_path)

    remove_companion(session, consultation.id, now=now, actor=STAFF)
    outbox.drain()
    _wait_for(lambda: len(fake_providers.live_meetings(provider)) == 2)  # the stalled create is made
    outbox.drain(until=now + timedelta(hours=1))
    outbox.drain(until=now + timedelta(hours=1))

    moved = outbox.refreshed(consultation)
    assert moved.meeting_join_url != old_join
    assert [m.external_id for m in fake_providers.live_meetings(provider)] == [moved.meeting_external_id]
    creates = outbox.messages(moved, OutboxKind.MEETING_CREATE)
    assert [m.status for m in creates] == [OutboxStatus.DONE] * 2 and creates[-1].attempts == 2
    assert [invite(m)[0] for m in smtp_server.inbox(PATIENT)] == ["REQUEST", "REQUEST"]
    assert str(invite(smtp_server.inbox(PATIENT)[-1])[1]["LOCATION"]) == moved.meeting_join_url


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("adapter", HOLDS_MEETINGS)
def test_each_provider_makes_a_new_meeting_for_a_new_room_even_on_a_retry(
    adapter, provider_settings, fake_providers
):
    provider = get_provider(adapter, provider_settings)
    first = make_consultation()
    replaced = make_consultation(uuid=first.uuid, reference=first.reference, meetings_replaced=1)

    old = provider.create(first)
    new = provider.create(replaced, retry=True)

    assert new.external_id != old.external_id and new.join_url != old.join_url
    again = provider.create(replaced, retry=True)
    assert (again.external_id, again.join_url) == (new.external_id, new.join_url)
    live = {m.external_id: m.subject for m in fake_providers.live_meetings(adapter)}
    assert live == {
        old.external_id: f"Video consultation {first.reference}",
        new.external_id: f"Video consultation {first.reference} (room 2)",
    }


def test_an_endpoint_that_hands_back_the_old_meeting_keeps_the_call_working_and_says_so(
    session, now, outbox, fake_providers, smtp_server
):
    """A webhook endpoint that keys meetings by consultation alone answers a new room's create, made while
    the old meeting's cancel waits for a retry, with that meeting: cancelling it then would leave the
    patient no call, so it stands, for an admin to see."""
    outbox.configure(MEETING_PROVIDER="webhook")
    fake_providers.webhook_keyed_by = "consultation"
    consultation = book(session, now)
    outbox.drain()
    old = outbox.refreshed(consultation).meeting_external_id
    fake_providers.fail_next(1, 503, path_contains="/webhook", retry_after="600")

    remove_companion(session, consultation.id, now=now, actor=STAFF)
    outbox.drain(until=now + timedelta(hours=1))

    kept = outbox.refreshed(consultation)
    assert kept.meeting_external_id == old
    assert [m.external_id for m in fake_providers.live_meetings("webhook")] == [old]
    retire = outbox.only(kept, OutboxKind.MEETING_CANCEL)
    assert (retire.status, retire.outcome) == (OutboxStatus.DONE, "still in use")


def test_a_move_under_way_when_the_companion_is_removed_does_not_bring_back_the_old_room(
    session, now, outbox, fake_providers
):
    """The worker asked Zoom to move the meeting; the companion was removed before Zoom answered. The
    move's result must not put back the meeting the companion knows."""
    outbox.configure(MEETING_PROVIDER="zoom")
    consultation = book(session, now)
    outbox.drain()
    old_join = outbox.refreshed(consultation).meeting_join_url
    reschedule(session, consultation.id, TUESDAY_10 + timedelta(hours=1), now=now, actor=Actor())
    session.commit()
    fake_providers.stall_next(1, 0.5, path_contains="/zoom/v2/meetings/")
    worker = threading.Thread(target=outbox.worker().tick)

    worker.start()
    _wait_for(lambda: any(r.method == "PATCH" for r in fake_providers.received))
    remove_companion(session, consultation.id, now=now, actor=STAFF)
    worker.join()
    outbox.drain()

    moved = outbox.refreshed(consultation)
    assert moved.meeting_join_url not in (None, old_join)
    assert [m.external_id for m in fake_providers.live_meetings("zoom")] == [moved.meeting_external_id]
    assert outbox.only(moved, OutboxKind.MEETING_UPDATE).status is OutboxStatus.DONE


def test_a_walk_in_caller_whose_companion_is_removed_joins_the_new_room_from_their_page(
    session, now, outbox, smtp_server
):
    svc = factories.service(session, duration_minutes=20)
    doctor = factories.clinician(session, [svc])
    queue = factories.walk_in_queue(session, svc, [doctor])
    entry = factories.walk_in(session, queue, now=now).entry
    on_duty = StaffMember(500, StaffRole.CLINICIAN, clinician_id=doctor.id)
    call_id = take_next(session, queue.id, on_duty, now=now).entry.consultation_id
    outbox.drain()
    details = factories.companion_details(**EX_PARTNER)
    add_companion(session, call_id, details, now=now, actor=on_duty.actor, keys=TEST_KEYS)
    outbox.drain()
    old_join = answer(session, entry.id, now=now, actor=Actor())

    removal = remove_companion(session, call_id, now=now, actor=on_duty.actor)
    with pytest.raises(MeetingNotReady):
        answer(session, entry.id, now=now, actor=Actor())
    outbox.drain()

    assert removal.new_room and not removal.patient_mailed
    assert answer(session, entry.id, now=now, actor=Actor()) not in (None, old_join)
    assert outbox.only(call_id, OutboxKind.MEETING_CANCEL).status is OutboxStatus.DONE
    assert smtp_server.inbox(entry.email) == []  # a caller is sent no invitation, so no update either


def test_a_companion_removed_once_the_consultation_is_over_changes_nothing_of_its_call(
    session, now, outbox, smtp_server
):
    consultation = book(session, now)
    outbox.drain()
    before = outbox.refreshed(consultation)
    meeting, messages = before.meeting_join_url, len(outbox.messages(before))

    removal = remove_companion(session, consultation.id, now=before.ends_at, actor=STAFF)

    after = outbox.refreshed(consultation)
    assert not removal.new_room and after.meeting_join_url == meeting
    assert len(outbox.messages(after)) == messages  # no new meeting, no mail
    events = session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("%meeting%"))).all()
    assert events == []


def test_the_new_room_is_audited_with_ids_only(session, now, outbox):
    consultation = book(session, now)
    outbox.drain()

    remove_companion(session, consultation.id, now=now, actor=STAFF)

    session.commit()
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "consultation.meeting_replaced")
    ).one()
    assert event.actor == "staff:3" and set(event.details) == {"reference", "clinician_id", "companion_id"}
    assert "Ex Partner" not in str(event.details)


def test_staff_are_told_the_truth_and_start_call_and_the_patients_join_open_the_new_room(
    app, client, session, service, outbox
):
    booked, link = with_companion(session, service, timedelta(minutes=10), meeting=None)
    deliver(outbox)  # the worker makes the call's meeting and sends the invitations
    consultation = reloaded(session, booked)
    old_room, reference = consultation.meeting_join_url, consultation.reference
    companion, patient = factories.browser(app), factories.browser(app)
    follow(companion, link)
    open_link(patient, booked)
    assert companion.get(f"/g/{reference}/join").location == old_room
    login(session, client, clinician_id=consultation.clinician_id)
    base = f"/schedule/consultations/{consultation.id}"

    page = client.post(f"{base}/companion/remove", follow_redirects=True).get_data(as_text=True)
    early_start = client.post(f"{base}/start")
    early_join = patient.get(f"/c/{reference}/join")
    deliver(outbox)
    started = client.post(f"{base}/start")
    joined = patient.get(f"/c/{reference}/join")

    assert (
        "Grace Hopper is no longer invited; their link has stopped working. The call has a new video room: "
        "the patient is sent an updated invitation with its link."
    ) in page
    assert companion.get(f"/g/{reference}/join").status_code == 404
    assert early_start.status_code == 409 and "still being made" in early_start.get_data(as_text=True)
    assert early_join.status_code == 409 and "still being prepared" in early_join.get_data(as_text=True)
    moved = reloaded(session, booked)
    assert started.status_code == 303 and started.location == moved.meeting_host_url
    assert joined.status_code == 303 and joined.location == moved.meeting_join_url
    assert old_room not in (started.location, joined.location)
