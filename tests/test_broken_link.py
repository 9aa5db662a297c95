"""A booking's link that does not open it (cut short, mistyped, its code wrong) leads on: the link mailed
again to the address given with the booking, or the departments' numbers; and, without JavaScript, the
page that asks for the link says why it asks."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from clinic.audit import Actor
from clinic.models import OutboxKind, OutboxMessage, utcnow
from clinic.scheduling.holders import LINK_RESEND_INTERVAL, resend_link_of
from clinic.scheduling.lifecycle import cancel

from . import factories
from .fakes.outbox import outbox, text  # noqa: F401 (fixture)
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)
from .racing import race, racing_engine
from .test_booking_pages import next_week_at
from .test_booking_pages import text as page_text
from .test_manage_link import DEPARTMENT_PHONE, book, service  # noqa: F401 (service: a fixture)

NO_SCRIPT = re.compile(r"<noscript><p>([^<]*)</p></noscript>")


def wrong_link(client, reference: str, code: str = "not-the-token"):
    """The booking's page after its link, cut short or mistyped, was sent (by open_link.js, or pasted)."""
    return client.post(f"/c/{reference}", data={"code": code})


def link_mails(session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).where(OutboxMessage.kind == OutboxKind.LINK))


def test_a_link_that_does_not_open_its_booking_offers_it_again_by_mail_and_a_number_to_call(
    client, session, service
):
    """The review: "This link or code does not open your booking", a box to paste into, and nothing else."""
    booked = book(session, service, next_week_at(10))
    reference = booked.consultation.reference

    page = page_text(wrong_link(client, reference, booked.manage_token[:20]))

    assert "does not open your booking" in page
    assert "E-mail me the link again" in page and reference not in page
    assert f'<a href="tel:{DEPARTMENT_PHONE.replace(" ", "")}">{DEPARTMENT_PHONE}</a>' in page


def test_the_link_asked_for_again_goes_to_the_bookings_address_once_in_a_while(
    client, session, service, outbox, smtp_server
):
    booked = book(session, service, next_week_at(10))
    reference = booked.consultation.reference
    wrong_link(client, reference)

    asked = [client.post(f"/c/{reference.lower()}", data={"resend": "1"}) for _ in range(3)]
    outbox.clock.now = utcnow()
    outbox.drain()

    assert [answer.status_code for answer in asked] == [200, 200, 200]
    assert "Check your e-mail" in page_text(asked[0])
    _confirmation, resent = smtp_server.inbox(booked.consultation.patient.email)
    assert booked.manage_token in text(resent)
    assert link_mails(session) == 1


@pytest.mark.parametrize("which", ["cancelled", "made up"])
def test_asking_again_answers_the_same_whether_or_not_there_is_a_booking_to_mail(
    client, session, service, which
):
    """Nothing tells whether the reference names a booking, nor which department's it is."""
    held = book(session, service, next_week_at(10)).consultation.reference
    other = book(session, service, next_week_at(11)).consultation
    if which == "cancelled":
        cancel(session, other.id, now=utcnow(), actor=Actor())
    factories.department(session, name="Another department", contact_phone="+44 20 7946 0999")
    session.commit()
    asked = other.reference if which == "cancelled" else "ZZZ-ZZZZ"

    pages = [page_text(client.post(f"/c/{reference}", data={"resend": "1"})) for reference in (held, asked)]

    assert pages[0].replace(held, "REF") == pages[1].replace(asked, "REF")
    assert "+44 20 7946 0999" in pages[0] and DEPARTMENT_PHONE in pages[0]
    assert link_mails(session) == 1


def test_without_javascript_the_link_page_says_why_it_asks_for_the_link(client, session, service):
    booked = book(session, service, next_week_at(10))

    page = page_text(client.get(f"/c/{booked.consultation.reference}"))

    assert NO_SCRIPT.findall(page) == [
        "With JavaScript off in your browser, this page cannot read the end of your link (after the “#”, "
        "which only your browser sees): paste the whole link below, or type the code printed on your letter."
    ]


def quarter_hour_after(instant: datetime) -> datetime:
    """The next quarter of the hour on the clock after `instant` (10:15, 10:30...)."""
    floor = instant.replace(minute=instant.minute - instant.minute % 15, second=0, microsecond=0)
    return floor + timedelta(minutes=15)


def test_the_link_goes_again_at_most_once_in_any_fifteen_minutes_whatever_the_clock_says(session, service):
    """Resends counted in quarters of the clock's hour let one just before 10:15 and another just after
    go out two seconds apart, and so four an hour to anyone who knows a reference: now the interval runs
    from the last mail sent."""
    reference = book(session, service, next_week_at(10)).consultation.reference
    quarter = quarter_hour_after(utcnow())
    asked_at = [quarter + timedelta(seconds=seconds) for seconds in (-1, 1, 14 * 60)]

    for now in asked_at:
        resend_link_of(session, reference, now=now, actor=Actor("patient"))
    sent_within = link_mails(session)
    resend_link_of(session, reference, now=asked_at[0] + LINK_RESEND_INTERVAL, actor=Actor("patient"))

    assert sent_within == 1
    assert link_mails(session) == 2


def test_racing_asks_from_many_processes_mail_the_link_once(session, database_url, service):
    """The interval is kept in the database, so it holds across the app's processes: racers on their own
    connections, each checking for a recent mail before writing its own, send one between them."""
    reference = book(session, service, next_week_at(10)).consultation.reference
    now = utcnow()
    engine = racing_engine(database_url, 4, lambda statement: "outbox_message" in statement)

    def ask(racer_session) -> None:
        resend_link_of(racer_session, reference, now=now, actor=Actor("patient"))

    outcomes = race(engine, [ask] * 4)
    engine.dispose()

    assert outcomes == [None] * 4
    assert link_mails(session) == 1
