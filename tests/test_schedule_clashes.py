"""Bookings that time off, a closure or changed hours leave stranded: every staff page showing one says why it
cannot go ahead and how to move or cancel it, reception find them all, and nobody is told or cancelled."""

import html
import re
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from clinic.audit import Actor
from clinic.models import Closure, Consultation, ConsultationStatus, OutboxMessage, StaffRole
from clinic.models.base import utcnow
from clinic.scheduling.clashes import Clash, clashes_of
from clinic.scheduling.hours import add_time_off, remove_hours
from clinic.scheduling.lifecycle import mark_no_shows
from clinic.scheduling.listing import Listed
from clinic.staff.members import StaffMember
from clinic.walkin.take import take_next

from . import factories
from .test_schedule import LONDON, clinic, login, text, today_at, visit

__all__ = ["clinic"]  # the fixture, used by name

NOTE = re.compile(r'<p class="clash-note">.*?</p>', re.S)


def next_monday() -> datetime:
    """Monday of next week, 00:00 in London."""
    today = datetime.now(UTC).astimezone(LONDON).date()
    monday = today + timedelta(days=7 - today.weekday())
    return datetime.combine(monday, time(), tzinfo=LONDON)


def local(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day.replace(hour=hour, minute=minute).astimezone(UTC)


def wall(instant: datetime) -> str:
    """The instant as the time-off form takes it, in London."""
    return instant.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")


def notes(page: str) -> list[str]:
    """The clash notes on a page, as text."""
    return [html.unescape(re.sub(r"<[^>]+>", "", note)) for note in NOTE.findall(page)]


@pytest.fixture
def client(app):
    return factories.browser(app)


@pytest.fixture
def sick_morning(session, client, clinic):
    """Dr Okafor, booked at 09:15 next Monday, calls in sick from 08:00 to 12:00 on their hours page; the
    client is signed out again. The booking, that Monday and Dr Okafor's sign-in."""
    monday = next_monday()
    booked = visit(session, clinic, "okafor", local(monday, 9, 15), "Maria Visser")
    doctor = login(session, client, clinician_id=clinic["okafor"].id)
    form = {"starts_at": wall(local(monday, 8)), "ends_at": wall(local(monday, 12)), "label": "Sick"}
    assert client.post("/schedule/time-off", data=form).status_code == 303
    client.post("/logout")
    return booked, monday, doctor


def sign_in_again(session, client, user) -> None:
    session.rollback()
    assert factories.sign_in(client, user).status_code == 303
    session.rollback()


def pages_of(client, booked, monday) -> dict[str, str]:
    day = monday.date().isoformat()
    return {
        "day": text(client.get("/schedule/", query_string={"date": day})),
        "week": text(client.get("/schedule/week", query_string={"date": day})),
        "consultation": text(client.get(f"/schedule/consultations/{booked.id}")),
    }


def test_the_clinicians_own_pages_say_they_are_away_and_how_to_move_or_cancel(
    session, client, clinic, sick_morning
):
    booked, monday, doctor = sick_morning
    sign_in_again(session, client, doctor)

    pages = pages_of(client, booked, monday)

    for name, page in pages.items():
        assert "You are away then (time off). The patient has not been told: move it" in notes(page)[-1], name
        assert f'href="/schedule/consultations/{booked.id}/move"' in page, name
        assert re.search(rf'href="/schedule/consultations/{booked.id}\?next=[^"#]+#cancel"', page), name
    assert notes(pages["day"])[0].startswith("1 consultation on this day cannot go ahead as booked")
    assert notes(pages["week"])[0].startswith("1 consultation this week cannot go ahead as booked")
    assert 'id="cancel"' in pages["consultation"]
    assert "Sick" not in pages["day"] + pages["week"] + pages["consultation"]


def test_reception_sees_on_their_pages_that_the_clinician_is_away(session, client, clinic, sick_morning):
    booked, monday, _ = sick_morning
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    pages = pages_of(client, booked, monday)

    for name, page in pages.items():
        assert "Dr Amara Okafor is away then (time off). The patient has not been told" in notes(page)[-1], (
            name
        )
        assert f'href="/schedule/consultations/{booked.id}/move"' in page, name
    assert "Sick" not in pages["day"] + pages["week"] + pages["consultation"]  # the clinician's own note


def test_reception_find_every_booking_to_move_in_their_department(session, client, clinic, sick_morning):
    booked, monday, _ = sick_morning
    fine = visit(session, clinic, "raman", local(monday, 10), "Fine Patient")
    evening = visit(session, clinic, "raman", local(monday, 18), "Evening Patient")  # after Dr Raman's hours
    visit(
        session,
        clinic,
        "okafor",
        local(monday, 9, 45),
        "Cancelled Patient",
        status=ConsultationStatus.CANCELLED,
    )
    visit(session, clinic, "okafor", today_at(9, days=-7), "Past Patient")  # outside hours now, but over
    visit(session, clinic, "jansen", local(monday, 19), "Other Department")
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    day = text(client.get("/schedule/"))
    page = text(client.get("/schedule/clashes"))

    assert 'href="/schedule/clashes"' in day  # reached from the schedule's own toolbar
    listed = re.findall(r'/schedule/consultations/(\d+)\?next=[^"]+">([^<]+)</a></td>', page)
    assert listed == [(str(booked.id), "Maria Visser"), (str(evening.id), "Evening Patient")]
    assert "This is outside Dr Priya Raman's working hours now" in notes(page)[-1]
    assert str(fine.id) not in [consultation_id for consultation_id, _ in listed]


@pytest.fixture
def missed_in_time_off(session, clinic, now):
    """Maria Visser's booking of yesterday at 10:00, Dr Okafor away all that day, nobody having handled it;
    housekeeping has run since."""
    booked = visit(session, clinic, "okafor", today_at(10, days=-1), "Maria Visser")
    factories.time_off(session, clinic["okafor"], today_at(0, days=-1), today_at(0))
    session.commit()
    mark_no_shows(session, now=utcnow(), after=timedelta(minutes=30))
    return booked


def test_bookings_missed_in_time_off_stay_listed_for_reception_whatever_day_they_were_missed(
    session, client, clinic, missed_in_time_off
):
    """Nobody else tells those patients: a booking missed in its clinician's absence stays listed, this
    morning's and yesterday's (missed_in_time_off) alike, until reception move or cancel it. 7e89358 had
    the list start today, and yesterday's then left every list while still booked."""
    this_morning = visit(session, clinic, "okafor", today_at(0), "Tom Early")
    factories.time_off(session, clinic["okafor"], today_at(0), today_at(9))
    session.commit()
    mark_no_shows(session, now=utcnow(), after=timedelta(minutes=30))
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    page = text(client.get("/schedule/clashes"))

    listed = re.findall(r'/schedule/consultations/(\d+)\?next=[^"]+">([^<]+)</a></td>', page)
    assert listed == [(str(missed_in_time_off.id), "Maria Visser"), (str(this_morning.id), "Tom Early")]
    assert "Dr Amara Okafor is away then (time off). The patient has not been told" in notes(page)[0]


def test_reception_may_move_or_cancel_a_booking_missed_in_the_time_off_and_the_patient_is_told(
    session, client, clinic, missed_in_time_off
):
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    page = text(client.get(f"/schedule/consultations/{missed_in_time_off.id}"))
    assert client.get(f"/schedule/consultations/{missed_in_time_off.id}/move").status_code == 200
    cancelled = client.post(
        f"/schedule/consultations/{missed_in_time_off.id}/cancel", data={"reason": "Clinician unwell"}
    )

    assert 'id="cancel"' in page
    assert cancelled.status_code == 303
    session.rollback()
    assert session.get(Consultation, missed_in_time_off.id).status is ConsultationStatus.CANCELLED
    mails = select(OutboxMessage.kind).where(OutboxMessage.consultation_id == missed_in_time_off.id)
    assert "mail.cancellation" in {str(kind) for kind in session.scalars(mails)}
    assert f"/schedule/consultations/{missed_in_time_off.id}" not in text(client.get("/schedule/clashes"))


def test_a_clinicians_own_bookings_to_move_are_theirs_alone(session, client, clinic, sick_morning):
    _, monday, doctor = sick_morning
    visit(session, clinic, "raman", local(monday, 18), "Evening Patient")
    sign_in_again(session, client, doctor)

    page = text(client.get("/schedule/clashes"))

    assert "Maria Visser" in page and "Evening Patient" not in page


def test_the_days_updates_draw_the_clash_as_the_page_does_and_tell_it_as_news(
    session, client, clinic, sick_morning
):
    booked, monday, _ = sick_morning
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    query = {"date": monday.date().isoformat()}

    page = text(client.get("/schedule/", query_string=query))
    updates = text(client.get("/schedule/updates", query_string=query))

    assert notes(page) == notes(updates) and len(notes(page)) == 2
    assert f'<li data-news="clash-{booked.id}">Now to move or cancel: Maria Visser, 09:15.</li>' in updates


def test_a_clash_tells_nobody_and_changes_no_booking(session, client, clinic, sick_morning):
    booked, _, _ = sick_morning

    session.rollback()
    assert session.get(type(booked), booked.id).status is ConsultationStatus.BOOKED
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


@pytest.mark.parametrize(
    ("change", "clash"),
    [("time off", Clash.TIME_OFF), ("closure", Clash.CLOSURE), ("hours", Clash.OUTSIDE_HOURS), ("", None)],
)
def test_a_consultations_clash_is_the_change_that_stranded_it(session, clinic, now, change, clash):
    start = now + timedelta(days=7, hours=2)  # Monday 9 March 2026, 10:00 in London
    booked = visit(session, clinic, "okafor", start, "Maria Visser")
    okafor, actor = clinic["okafor"], Actor.staff(1)
    if change == "time off":
        add_time_off(session, okafor.id, start, start + timedelta(hours=1), "", now=now, actor=actor)
    elif change == "closure":
        session.add(
            Closure(department_id=okafor.department_id, starts_at=start, ends_at=start + timedelta(days=1))
        )
        session.commit()
    elif change == "hours":
        monday_morning = next(
            r for r in okafor.availability_rules if (r.weekday, r.start_time) == (0, time(9))
        )
        remove_hours(session, okafor.id, monday_morning.id, now=now, actor=actor)

    found = clashes_of(session, [Listed.of(booked)], now)

    assert found.get(booked.id) is clash


def test_a_walk_in_call_taken_outside_the_clinicians_hours_is_no_clash(session, clinic, now):
    okafor = clinic["okafor"]  # 08:00 in London: before their hours
    queue = factories.walk_in_queue(session, clinic["heart"], [okafor])
    factories.walk_in(session, queue, now=now)
    taken = take_next(session, queue.id, StaffMember(1, StaffRole.CLINICIAN, clinician_id=okafor.id), now=now)
    call = session.get(Consultation, taken.entry.consultation_id)

    assert clashes_of(session, [Listed.of(call)], now) == {}


def test_a_clash_notes_cancel_link_returns_to_the_page_it_was_followed_from(
    session, client, clinic, sick_morning
):
    """The day's, the week's and the clashes page's "cancel it" opened the consultation's page with no
    `next`: its "Back to the schedule" and its forms returned to the consultation's own day, everyone's."""
    booked, monday, _ = sick_morning
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    day = monday.date().isoformat()
    whose = f"clinician={clinic['okafor'].id}"
    monday_of_week = (monday.date() - timedelta(days=monday.weekday())).isoformat()
    opened_from = {
        f"/schedule/?date={day}&{whose}": f"/schedule/?date={day}&{whose}",
        f"/schedule/week?date={day}&{whose}": f"/schedule/week?date={monday_of_week}&{whose}",
        f"/schedule/clashes?{whose}": f"/schedule/clashes?{whose}",
    }

    for address, back in opened_from.items():
        cancel = re.search(
            rf'href="(/schedule/consultations/{booked.id}\?[^"#]*)#cancel"', text(client.get(address))
        )
        assert cancel, address
        page = text(client.get(html.unescape(cancel[1])))
        assert f'<a href="{html.escape(back)}">Back to the schedule</a>' in page, address


def test_the_hours_pages_cancel_link_returns_to_the_hours_page(session, client, clinic, sick_morning):
    """The hours page listed the bookings that no longer fit with a "cancel it" link carrying no `next`, so
    the consultation's page led back to its day, not to the hours being changed."""
    booked, _, _ = sick_morning
    login(session, client, StaffRole.ADMIN)
    back = f"/admin/clinicians/{clinic['okafor'].id}/hours"

    page = text(client.get(back))
    cancel = re.search(rf'href="(/schedule/consultations/{booked.id}\?[^"#]*)#cancel"', page)

    assert cancel
    opened = text(client.get(html.unescape(cancel[1])))
    assert f'<a href="{html.escape(back)}">Back to the schedule</a>' in opened


def test_every_page_listing_a_waiting_patients_clash_offers_the_same_move_or_cancel(
    session, client, clinic, sick_morning
):
    """The admin's hours page said "move or cancel it" for a patient checked in for a sick clinician, while
    the day and clashes pages offered only "cancel it": one rule (status.STAFF_MOVABLE) decides for them all,
    and a waiting patient may be handed to a colleague (test_move_to_colleague)."""
    _, monday, _ = sick_morning
    waiting = visit(
        session, clinic, "okafor", local(monday, 9, 45), "Wanda Waiting", status=ConsultationStatus.ARRIVED
    )
    session.commit()
    move = f'href="/schedule/consultations/{waiting.id}/move"'
    day = monday.date().isoformat()
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    desk_pages = [client.get("/schedule/clashes"), client.get("/schedule/", query_string={"date": day})]
    client.post("/logout")
    login(session, client, StaffRole.ADMIN)
    hours = client.get(f"/admin/clinicians/{clinic['okafor'].id}/hours")

    for page in [*desk_pages, hours]:
        assert page.status_code == 200
        assert move in text(page)
    wanda = [note for note in notes(text(desk_pages[0])) if "Wanda" in note]
    assert wanda and all("move it (Wanda Waiting) or cancel it (Wanda Waiting)" in note for note in wanda)


def test_a_booking_missed_in_its_clinicians_time_off_is_never_made_the_patients_no_show_by_staff(
    session, client, clinic, missed_in_time_off
):
    """Housekeeping leaves it booked, and the clashes page says it never counts as the patient's no-show:
    no staff page offers "No-show" for it, and the change sent anyway is refused and changes nothing."""
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    yesterday = missed_in_time_off.starts_at.astimezone(LONDON).date().isoformat()
    no_show = f'name="status" value="{ConsultationStatus.NOSHOW.value}"'

    day = text(client.get("/schedule/", query_string={"date": yesterday}))
    page = text(client.get(f"/schedule/consultations/{missed_in_time_off.id}"))
    sent = client.post(
        f"/schedule/consultations/{missed_in_time_off.id}/status",
        data={"status": ConsultationStatus.NOSHOW.value, "confirmed": "yes"},
    )

    assert no_show not in day and no_show not in page
    assert sent.status_code == 409 and "not the patient's no-show" in html.unescape(text(sent))
    session.rollback()
    assert session.get(Consultation, missed_in_time_off.id).status is ConsultationStatus.BOOKED
