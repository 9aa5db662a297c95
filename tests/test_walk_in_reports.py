"""Walk-in figures in the admin reports: callers per queue and per day of joining in the hospital's zone
(London: clocks go forward at 01:00 UTC on Sunday 29 March 2026, a 23-hour day), their page section,
its CSV and who may see them.

Callers (joined ... in UTC; the London day in brackets), in the Helpline (Cardiology) unless said:
- Sunday 22 March 23:30 (Sunday 22, before the period): not counted.
- Saturday 28 March 23:50 (Saturday), taken 00:20 on Sunday: counts on Saturday, a 30-minute wait.
- Sunday 29 March (Sunday): 00:10 taken after 5 min (in the call); 02:00 (03:00 BST) taken after 10 min
  (completed); 10:00 taken after 20 min (taken, not yet answered); 12:00 left; 13:00 taken twice and
  dropped; 22:30 (23:30 BST) closed out; 22:45 still waiting. The Skin line (Dermatology): 09:00 taken
  after 5 min (completed).
- Sunday 29 March 23:10 (00:10 BST on Monday 30): counts on Monday, taken after 10 min.
"""

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from clinic.models import AuditEvent, EntryStatus, StaffRole
from clinic.reporting.walk_in import daily_totals, queue_lines
from clinic.reporting.weeks import ReportFilter
from clinic.scheduling.timezones import zone

from . import factories
from .factories import sign_in
from .test_admin_audit import admin, admin_client, client

__all__ = ["admin", "admin_client", "client"]  # fixtures shared with test_admin_audit.py
LONDON = zone("Europe/London")
MINUTE = 60
SATURDAY, SUNDAY, MONDAY = 5, 6, 7  # indexes in the period's days (Monday 23 March is 0)
TWO_WEEKS = "first_day=2026-03-25&last_day=2026-03-31"
SECRET_NAME, SECRET_EMAIL = "Zebedee Quartermain", "zebedee.q@example.org"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def queues(session):
    cardiology = factories.department(session, name="Cardiology")
    dermatology = factories.department(session, name="Dermatology")
    heart, skin = factories.service(session, cardiology), factories.service(session, dermatology)
    nurse = factories.clinician(session, [heart, skin])
    helpline = factories.walk_in_queue(session, heart, [nurse], name="Helpline", slug="helpline")
    skin_line = factories.walk_in_queue(session, skin, [nurse], name="Skin line", slug="skin-line")

    def caller(queue, joined, status=EntryStatus.WAITING, taken_after=None, ended_after=None):
        # One e-mail address, a name each: one name and contact holds one place at a time.
        details = factories.caller_details(name=f"{SECRET_NAME} {joined:%d %H%M}", email=SECRET_EMAIL)
        entry = factories.walk_in(session, queue, now=joined, details=details).entry
        entry.status = status
        if taken_after is not None:
            entry.taken_at, entry.taken_by = joined + timedelta(minutes=taken_after), nurse.id
        if ended_after is not None:
            entry.ended_at = joined + timedelta(minutes=ended_after)
        session.commit()

    caller(helpline, utc(2026, 3, 22, 23, 30), EntryStatus.COMPLETED, 1, 9)
    caller(helpline, utc(2026, 3, 28, 23, 50), EntryStatus.COMPLETED, 30, 45)
    caller(helpline, utc(2026, 3, 29, 0, 10), EntryStatus.IN_CALL, 5)
    caller(helpline, utc(2026, 3, 29, 2, 0), EntryStatus.COMPLETED, 10, 30)
    caller(helpline, utc(2026, 3, 29, 10, 0), EntryStatus.TAKEN, 20)
    caller(helpline, utc(2026, 3, 29, 12, 0), EntryStatus.LEFT, None, 3)
    caller(helpline, utc(2026, 3, 29, 13, 0), EntryStatus.DROPPED, 40, 45)
    caller(helpline, utc(2026, 3, 29, 22, 30), EntryStatus.CLOSED, None, 30)
    caller(helpline, utc(2026, 3, 29, 22, 45))
    caller(skin_line, utc(2026, 3, 29, 9, 0), EntryStatus.COMPLETED, 5, 20)
    caller(helpline, utc(2026, 3, 29, 23, 10), EntryStatus.COMPLETED, 10, 25)
    return SimpleNamespace(
        cardiology=cardiology, dermatology=dermatology, helpline=helpline, skin_line=skin_line
    )


def two_weeks(department=None) -> ReportFilter:
    return ReportFilter(date(2026, 3, 25), date(2026, 3, 31), LONDON, department.id if department else None)


def counts(figures) -> tuple[int, ...]:
    return (figures.joined, figures.taken, figures.left, figures.dropped, figures.closed, figures.waiting)


def test_the_period_has_every_day_of_its_weeks_and_the_clocks_change_day_lasts_23_hours():
    days = two_weeks().days

    assert [d.day for d in (days[0], days[-1])] == [date(2026, 3, 23), date(2026, 4, 5)]
    assert days[SUNDAY].starts_at == utc(2026, 3, 29, 0) and days[SUNDAY].ends_at == utc(2026, 3, 29, 23)
    assert days[MONDAY].starts_at == utc(2026, 3, 29, 23)


def test_callers_count_on_the_london_day_they_joined_across_midnight_and_the_clock_change(session, queues):
    totals = daily_totals(session, two_weeks())

    assert counts(totals[SATURDAY]) == (1, 1, 0, 0, 0, 0)  # taken after midnight, counted on Saturday
    assert counts(totals[SUNDAY]) == (8, 4, 1, 1, 1, 1)
    assert totals[SUNDAY].abandoned == 3
    assert counts(totals[MONDAY]) == (1, 1, 0, 0, 0, 0)  # Sunday in UTC, Monday in London
    assert sum(day.joined for day in totals) == 10  # the caller of 22 March is before the period


def test_waits_until_taken_are_nearest_rank_median_and_95th_percentile_of_those_taken(session, queues):
    totals = daily_totals(session, two_weeks())

    # Sunday's taken callers waited 5, 5, 10 and 20 minutes (the dropped caller's wait is left out).
    assert (totals[SUNDAY].wait_median, totals[SUNDAY].wait_p95) == (5 * MINUTE, 20 * MINUTE)
    assert (totals[SATURDAY].wait_median, totals[SATURDAY].wait_p95) == (30 * MINUTE, 30 * MINUTE)
    assert totals[0].wait_median is None and totals[0].joined == 0


def test_each_queue_has_its_own_line_and_a_department_filter_narrows_them(session, queues):
    helpline, skin_line = queue_lines(session, two_weeks(), page=1).rows

    assert (helpline.name, helpline.department, skin_line.name) == ("Helpline", "Cardiology", "Skin line")
    assert counts(helpline.days[SUNDAY]) == (7, 3, 1, 1, 1, 1)
    assert (helpline.days[SUNDAY].wait_median, helpline.days[SUNDAY].wait_p95) == (10 * MINUTE, 20 * MINUTE)
    assert counts(skin_line.days[SUNDAY]) == (1, 1, 0, 0, 0, 0)
    assert skin_line.days[SUNDAY].wait_median == 5 * MINUTE
    only_skin = two_weeks(queues.dermatology)
    assert [line.name for line in queue_lines(session, only_skin).rows] == ["Skin line"]
    assert counts(daily_totals(session, only_skin)[SUNDAY]) == (1, 1, 0, 0, 0, 0)


# --- the page and its CSV ----------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def test_the_page_shows_the_walk_in_section_with_its_chart_and_help(admin_client, queues):
    page = admin_client.get(f"/admin/reports?{TWO_WEEKS}").get_data(as_text=True)
    section = page[page.index('id="walk-in"') :]

    assert '<title id="chart-walk-in-title">' in page and '<desc id="chart-walk-in-waits-desc">' in page
    assert 'aria-label="Walk-in callers per day by queue"' in section
    assert '<th scope="row">2026-03-29</th><td>7</td><td>3</td><td>3</td>' in section  # the Helpline
    assert "<td>10.0</td><td>20.0</td>" in section  # its Sunday's waits in minutes
    assert '<th scope="row">2026-03-24</th>' not in section  # nobody joined: left out of the page
    assert "Abandoned" in page and "left the queue themselves" in page  # the help says what each counts
    assert SECRET_NAME not in page and SECRET_EMAIL not in page


def test_a_page_of_queues_past_the_last_keeps_the_totals_and_does_not_say_there_is_no_queue(
    admin_client, queues
):
    """Two queues fit on page 1; page 2 (a stale link, after a queue was removed) said "No walk-in queue."
    and hid every queue's totals and charts."""
    page = admin_client.get(f"/admin/reports?{TWO_WEEKS}&queues_page=2").get_data(as_text=True)
    section = page[page.index('id="walk-in"') :]

    assert "No walk-in queue" not in section
    assert 'aria-label="Walk-in callers per day, every queue"' in section
    assert '<title id="chart-walk-in-title">' in section
    assert "No queue on this page." in section
    assert 'rel="prev"' in section and "queues_page=1" in section


def test_the_walk_in_csv_has_a_row_per_queue_and_day_and_no_caller_details(admin_client, queues):
    rows = read_csv(admin_client.get(f"/admin/reports/walk_in.csv?{TWO_WEEKS}"))

    assert rows[0] == [
        "queue_id",
        "queue",
        "department",
        "day",
        "joined",
        "taken",
        "abandoned",
        "left",
        "dropped",
        "closed",
        "still_waiting",
        "wait_median_minutes",
        "wait_p95_minutes",
    ]
    assert len(rows) == 1 + 2 * 14  # every day of the two weeks for each queue
    sunday = next(row for row in rows if row[1] == "Helpline" and row[3] == "2026-03-29")
    assert sunday[4:] == ["7", "3", "3", "1", "1", "1", "1", "10.0", "20.0"]
    text = "\n".join(",".join(row) for row in rows)
    assert SECRET_NAME not in text and SECRET_EMAIL not in text and "@" not in text


def test_queue_names_that_look_like_formulas_are_exported_as_text(admin_client, session, queues):
    queues.helpline.name = '=HYPERLINK("http://evil.example","x")'
    session.commit()

    rows = read_csv(admin_client.get(f"/admin/reports/walk_in.csv?{TWO_WEEKS}"))

    assert {row[1] for row in rows[1:]} == {'\'=HYPERLINK("http://evil.example","x")', "Skin line"}


def test_the_walk_in_export_is_an_audit_event_without_names(admin_client, session, admin, queues):
    assert admin_client.get(f"/admin/reports/walk_in.csv?{TWO_WEEKS}").status_code == 200
    session.rollback()

    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "report.exported")).one()
    assert (event.actor, event.entity_type, event.entity_id) == (f"staff:{admin.id}", "report", "walk_in")
    assert event.details == {"first_day": "2026-03-25", "last_day": "2026-03-31", "department_id": None}


@pytest.mark.parametrize("role", [StaffRole.CLINICIAN, StaffRole.RECEPTION])
def test_clinicians_and_reception_may_not_see_walk_in_figures(client, session, role):
    person = factories.clinician(session, [factories.service(session)])
    sign_in(client, factories.linked_staff(session, person, role))

    response = client.get("/admin/reports/walk_in.csv")

    assert response.status_code == 403 and "whose account cannot open this page" in response.get_data(
        as_text=True
    )


def test_no_walk_in_figure_names_a_caller_anywhere(admin_client, queues):
    """The page and every export, whole: neither the callers' name nor their contact appear."""
    pages = [admin_client.get(f"/admin/reports?{TWO_WEEKS}")] + [
        admin_client.get(f"/admin/reports/{table}.csv?{TWO_WEEKS}")
        for table in ("weeks", "departments", "clinicians", "walk_in")
    ]

    for response in pages:
        body = response.get_data(as_text=True)
        assert response.status_code == 200
        assert not re.search(r"Zebedee|Quartermain|zebedee", body)


def test_the_longest_period_counts_its_first_and_last_days(session, queues):
    """106 weeks: 742 days (the autumn's clock change a 25-hour one), each a branch of the day's CASE,
    on either database."""
    longest = ReportFilter(date(2025, 1, 1), date(2027, 1, 10), LONDON)
    assert len(longest.weeks) == 106

    totals = daily_totals(session, longest)

    assert len(totals) == 742 and sum(day.joined for day in totals) == 11
    days = [d.day for d in longest.days]
    assert counts(totals[days.index(date(2026, 3, 29))]) == (8, 4, 1, 1, 1, 1)
    clocks_back = longest.days[days.index(date(2026, 10, 25))]
    assert clocks_back.ends_at - clocks_back.starts_at == timedelta(hours=25)
