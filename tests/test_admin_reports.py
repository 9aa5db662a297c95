"""The admin reports: each figure on a hand-built hospital, the page, its CSV, its filters and who may see it.

The hospital (London time; clocks go forward on Sunday 29 March 2026, so week 2026-W13 lasts 167 hours):
- Cardiology: Dr A (London), 09:00-12:00 on weekdays, off on Wednesday 25 March.
- Dermatology: Dr B (New York), 09:00-11:00 on Mondays.
- The whole hospital is closed on Monday 30 March.
"""

import csv
import io
import re
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import literal_column, select, text

from clinic.audit import SYSTEM
from clinic.models import AuditEvent, Closure, Consultation, ConsultationStatus, StaffRole
from clinic.reporting.consultations import clinician_lines, department_lines, weekly_totals
from clinic.reporting.weeks import ReportFilter
from clinic.scheduling.timezones import zone
from clinic.staff.members import StaffMember
from clinic.walkin.send_back import send_back
from clinic.walkin.take import take_next

from . import factories
from .conftest import postgres_only
from .factories import sign_in
from .test_admin_audit import admin, admin_client, client

__all__ = ["admin", "admin_client", "client"]  # fixtures shared with test_admin_audit.py
LONDON = zone("Europe/London")
HOUR = 3600
W13, W14 = 0, 1


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def hospital(session):
    cardiology = factories.department(session, name="Cardiology")
    dermatology = factories.department(session, name="Dermatology")
    heart = factories.service(session, cardiology)
    skin = factories.service(session, dermatology)
    dr_a = factories.clinician(session, [heart], hours=[(time(9), time(12))], display_name="Dr A")
    dr_b = factories.clinician(
        session,
        [skin],
        time_zone="America/New_York",
        hours=[(time(9), time(11))],
        weekdays=[0],
        display_name="Dr B",
    )
    factories.time_off(session, dr_a, utc(2026, 3, 25, 9), utc(2026, 3, 25, 12))
    session.add(Closure(department_id=None, starts_at=utc(2026, 3, 29, 23), ends_at=utc(2026, 3, 30, 23)))

    def visit(svc, person, start, booked_before, status=ConsultationStatus.BOOKED):
        return factories.consultation(
            session, svc, person, start, created_at=start - booked_before, status=status
        )

    visit(heart, dr_a, utc(2026, 3, 24, 9), timedelta(days=10), ConsultationStatus.FULFILLED)
    visit(heart, dr_a, utc(2026, 3, 26, 10), timedelta(days=1), ConsultationStatus.CANCELLED)
    visit(heart, dr_a, utc(2026, 3, 27, 11), timedelta(days=2), ConsultationStatus.NOSHOW)
    # 00:30 on Monday 30 March in London (BST) is still Sunday in UTC: it belongs to London's W14.
    visit(heart, dr_a, utc(2026, 3, 29, 23, 30), timedelta(hours=4))
    visit(skin, dr_b, utc(2026, 3, 23, 13), timedelta(hours=1))  # 09:00 in New York
    session.commit()
    return SimpleNamespace(cardiology=cardiology, dermatology=dermatology, dr_a=dr_a, dr_b=dr_b)


def two_weeks(department=None) -> ReportFilter:
    """Wednesday of W13 to Tuesday of W14, widened to the two whole weeks."""
    return ReportFilter(date(2026, 3, 25), date(2026, 3, 31), LONDON, department.id if department else None)


def test_the_period_is_whole_london_weeks_and_the_dst_week_lasts_167_hours():
    weeks = two_weeks().weeks

    assert [w.label for w in weeks] == ["2026-W13", "2026-W14"]
    assert weeks[W13].starts_at == utc(2026, 3, 23, 0) and weeks[W13].ends_at == utc(2026, 3, 29, 23)
    assert weeks[W13].ends_at - weeks[W13].starts_at == timedelta(hours=167)
    assert weeks[W14].ends_at == utc(2026, 4, 5, 23)


def test_weekly_totals_count_bookings_cancellations_no_shows_and_booked_time(session, hospital):
    w13, w14 = weekly_totals(session, two_weeks())

    assert (w13.booked, w13.cancelled, w13.no_shows) == (4, 1, 1)
    assert w13.booked_seconds == 3 * 30 * 60  # the cancelled one holds no time
    assert (w14.booked, w14.cancelled, w14.no_shows, w14.booked_seconds) == (1, 0, 0, 30 * 60)


def test_walk_in_calls_are_no_bookings_but_their_time_is_held(session, hospital):
    """A helpline's calls counted as bookings: each caller sent back made a "cancellation", and each call,
    made the moment it starts, a lead time of 0 that pulled the median down to it. They have the walk-in
    table; here only their time counts, which the clinician gave to them (in booked hours)."""
    queue = factories.walk_in_queue(session, hospital.dr_a.services[0], [hospital.dr_a])
    place = factories.walk_in(session, queue, now=utc(2026, 3, 24, 14)).entry
    on_duty = StaffMember(1, StaffRole.CLINICIAN, clinician_id=hospital.dr_a.id)
    for minute in (1, 2):  # taken, not answered, sent back; taken again
        call = take_next(session, queue.id, on_duty, now=utc(2026, 3, 24, 14, minute)).consultation
        if minute == 1:
            send_back(session, place, utc(2026, 3, 24, 14, 1, 30), SYSTEM)
            session.commit()
    call.status = ConsultationStatus.FULFILLED
    session.commit()

    totals = weekly_totals(session, two_weeks())[W13]
    (dr_a,) = [line for line in clinician_lines(session, two_weeks()).rows if line.id == hospital.dr_a.id]
    (cardiology,) = [
        line for line in department_lines(session, two_weeks()).rows if line.id == hospital.cardiology.id
    ]

    assert (totals.booked, totals.cancelled, totals.no_shows) == (4, 1, 1)  # Dr B's booking too
    for w13 in (dr_a.weeks[W13], cardiology.weeks[W13]):
        assert (w13.booked, w13.cancelled, w13.no_shows) == (3, 1, 1)
    for w13 in (totals, dr_a.weeks[W13], cardiology.weeks[W13]):
        assert (w13.lead_median, w13.lead_p90) == (48 * HOUR, 240 * HOUR)
        assert w13.booked_seconds == (2 + 1) * 30 * 60 + (30 * 60 if w13 is totals else 0)


def test_offered_time_is_weekly_hours_less_time_off_and_closures(session, hospital):
    w13, w14 = weekly_totals(session, two_weeks())

    # W13: Dr A 5 x 3 h less Wednesday's 3 h off; Dr B Monday's 2 h in New York.
    assert w13.offered_seconds == (12 + 2) * HOUR
    assert w13.utilisation == pytest.approx(1.5 / 14)
    # W14: the closure takes Dr A's Monday and all of Dr B's week.
    assert w14.offered_seconds == 12 * HOUR
    assert w14.utilisation == pytest.approx(0.5 / 12)


def test_lead_times_are_nearest_rank_median_and_90th_percentile_of_those_not_cancelled(session, hospital):
    w13, w14 = weekly_totals(session, two_weeks())

    # W13's kept lead times: 1 h, 48 h, 240 h (the cancelled booking's day is left out).
    assert (w13.lead_median, w13.lead_p90) == (48 * HOUR, 240 * HOUR)
    assert (w14.lead_median, w14.lead_p90) == (4 * HOUR, 4 * HOUR)


def test_departments_and_clinicians_have_their_own_lines(session, hospital):
    departments = department_lines(session, two_weeks(), page=1).rows
    clinicians = clinician_lines(session, two_weeks(), page=1).rows

    assert [d.name for d in departments] == ["Cardiology", "Dermatology"]
    cardiology_w13 = departments[0].weeks[W13]
    assert (cardiology_w13.booked, cardiology_w13.cancelled, cardiology_w13.no_shows) == (3, 1, 1)
    assert cardiology_w13.offered_seconds == 12 * HOUR
    assert (cardiology_w13.lead_median, cardiology_w13.lead_p90) == (48 * HOUR, 240 * HOUR)
    assert departments[1].weeks[W13].booked == 1 and departments[1].weeks[W14].offered_seconds == 0
    assert [(c.name, c.department) for c in clinicians] == [("Dr A", "Cardiology"), ("Dr B", "Dermatology")]
    assert [w.booked for w in clinicians[0].weeks] == [3, 1]
    assert clinicians[1].weeks[W13].offered_seconds == 2 * HOUR


def test_a_department_filter_narrows_every_figure(session, hospital):
    w13, _ = weekly_totals(session, two_weeks(hospital.dermatology))

    assert (w13.booked, w13.offered_seconds, w13.lead_median) == (1, 2 * HOUR, HOUR)
    assert [d.name for d in department_lines(session, two_weeks(hospital.dermatology)).rows] == [
        "Dermatology"
    ]
    assert [c.name for c in clinician_lines(session, two_weeks(hospital.dermatology)).rows] == ["Dr B"]


def test_a_deactivated_clinician_offers_no_time_but_their_consultations_count(session, hospital):
    hospital.dr_a.active = False
    session.commit()

    w13, _ = weekly_totals(session, two_weeks())

    assert (w13.booked, w13.offered_seconds) == (4, 2 * HOUR)


def test_a_clinician_who_moved_department_takes_their_past_weeks_with_them(session, hospital):
    """The rule the page states: a clinician's consultations and hours count for the department they are
    in now, whichever department's service was booked (no consultation records its department then)."""
    hospital.dr_a.department = hospital.dermatology
    session.commit()

    cardiology, dermatology = department_lines(session, two_weeks()).rows
    (dr_a,) = [c for c in clinician_lines(session, two_weeks()).rows if c.name == "Dr A"]

    assert (cardiology.weeks[W13].booked, cardiology.weeks[W13].offered_seconds) == (0, 0)
    assert (dermatology.weeks[W13].booked, dermatology.weeks[W13].offered_seconds) == (4, 14 * HOUR)
    assert dr_a.department == "Dermatology"


# --- the page ----------------------------------------------------------------------------------


TWO_WEEKS = "first_day=2026-03-25&last_day=2026-03-31"


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for path in ("/admin/reports", "/admin/reports/weeks.csv"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=%2Fadmin%2Freports")


@pytest.mark.parametrize("role", [StaffRole.CLINICIAN, StaffRole.RECEPTION])
def test_clinicians_and_reception_may_not_see_reports(client, session, role):
    person = factories.clinician(session, [factories.service(session)])
    sign_in(client, factories.linked_staff(session, person, role))

    for path in ("/admin/reports", "/admin/reports/clinicians.csv"):
        response = client.get(path)
        assert response.status_code == 403
        assert "whose account cannot open this page" in response.get_data(as_text=True)


def test_the_page_shows_tables_and_charts_without_script(admin_client, hospital):
    response = admin_client.get(f"/admin/reports?{TWO_WEEKS}")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    content = page[page.index("<main") : page.index("</main>")]
    assert "<script" not in content
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page))  # the site's own files only
    assert page.count("<svg") == 2 and '<title id="chart-consultations-title">' in page
    assert '<desc id="chart-utilisation-desc">' in page
    for caption in ("Weekly totals", "Weekly figures by department", "Weekly figures by clinician"):
        assert f'role="region" aria-label="{caption}" tabindex="0"' in page
    assert '<th scope="row">2026-W13</th>' in page and '<th scope="row">2026-W14</th>' in page
    assert "<td>10.7 %</td>" in page  # W13's utilisation: 1.5 of 14 hours
    assert "<td>2.0</td><td>10.0</td>" in page  # W13's lead times in days: 48 h and 240 h
    assert 'href="/admin/reports"' in admin_client.get("/admin/").get_data(as_text=True)


def test_the_default_period_is_the_last_eight_weeks_and_this_one(admin_client):
    page = admin_client.get("/admin/reports").get_data(as_text=True)

    assert page.count('<th scope="row">') == 9


def test_a_last_day_before_the_default_period_brings_the_first_day_with_it(admin_client):
    """Found by the Hypothesis test below: the default first day was left after it, an empty period."""
    page = admin_client.get("/admin/reports?last_day=2020-01-01").get_data(as_text=True)

    assert page.count('<th scope="row">') == 9
    assert '<th scope="row">2019-W45</th>' in page and '<th scope="row">2020-W01</th>' in page


@pytest.mark.parametrize(
    ("query", "first_week", "last_week"),
    [
        ("first_day=2020-01-01", "2020-W01", "2022-W01"),  # the 106 weeks from it, not an error
        ("last_day=2999-12-31", "2997-W52", "3000-W01"),  # the 106 weeks to it
    ],
)
def test_one_day_typed_alone_gives_at_most_the_longest_period_not_an_error(
    admin_client, query, first_week, last_week
):
    """The day left out was this Sunday (or eight weeks ago): from a day over two years back, the page
    refused the period beside the empty "To" field, an error the manager had not made."""
    response = admin_client.get(f"/admin/reports?{query}")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert page.count('<th scope="row">') == 106
    assert f'<th scope="row">{first_week}</th>' in page and f'<th scope="row">{last_week}</th>' in page


def test_a_day_filled_in_never_makes_a_period_the_report_refuses():
    """Whichever one day is typed (within the years the form takes), and whatever today is, the period
    filled in around it holds it and is one a ReportFilter accepts."""
    from hypothesis import given
    from hypothesis import strategies as st

    from clinic.reporting.weeks import filled_period

    days = st.dates(date(1970, 1, 1), date(2999, 12, 31))

    @given(typed=days, first=st.booleans(), today=st.dates(date(2000, 1, 1), date(2100, 12, 31)))
    def check(typed, first, today):
        first_day, last_day = filled_period(typed if first else None, None if first else typed, today)

        ReportFilter(first_day, last_day, LONDON)  # neither PeriodTooLong nor an empty period
        assert (first_day if first else last_day) == typed

    check()


def test_a_single_week_is_a_report_too(session, hospital):
    """Also found by the Hypothesis test: a CASE over one week had no WHEN, which no database accepts."""
    (w13,) = weekly_totals(session, ReportFilter(date(2026, 3, 23), date(2026, 3, 23), LONDON))

    assert (w13.booked, w13.offered_seconds) == (4, 14 * HOUR)


def test_clinicians_are_paged_and_the_next_page_keeps_the_filters(admin_client, session, hospital):
    for n in range(10):
        factories.clinician(session, [hospital.dr_a.services[0]], display_name=f"Dr C{n:02d}")
    session.commit()

    first = admin_client.get(f"/admin/reports?{TWO_WEEKS}").get_data(as_text=True)
    second = admin_client.get(f"/admin/reports?{TWO_WEEKS}&clinicians_page=2").get_data(as_text=True)

    # By department, then name: Cardiology's Dr A and Dr C00-C09, then Dermatology's Dr B.
    assert "Dr A" in first and "Dr C08" in first and "Dr C09" not in first
    assert "Dr C09" in second and "Dr B" in second and "Dr A" not in second
    assert (
        "clinicians_page=2" in first and "first_day=2026-03-25" in first.split("clinicians_page=2")[0][-200:]
    )


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def test_each_table_exports_as_csv_with_a_header_row(admin_client, hospital):
    weeks = read_csv(admin_client.get(f"/admin/reports/weeks.csv?{TWO_WEEKS}"))
    clinicians = read_csv(admin_client.get(f"/admin/reports/clinicians.csv?{TWO_WEEKS}"))

    assert weeks[0][:5] == ["week", "week_starts", "consultations", "cancelled", "no_shows"]
    assert weeks[1] == ["2026-W13", "2026-03-23", "4", "1", "1", "1.50", "14.00", "10.7", "48.00", "240.00"]
    assert clinicians[0][:3] == ["clinician_id", "clinician", "department"]
    assert [row[1:4] for row in clinicians[1:]] == [
        ["Dr A", "Cardiology", "2026-W13"],
        ["Dr A", "Cardiology", "2026-W14"],
        ["Dr B", "Dermatology", "2026-W13"],
        ["Dr B", "Dermatology", "2026-W14"],
    ]


def test_names_that_look_like_formulas_are_exported_as_text(admin_client, session, hospital):
    hospital.cardiology.name = '=HYPERLINK("http://evil.example","x")'
    hospital.dr_a.display_name = "@SUM(1+1)"
    hospital.dr_b.display_name = "-2+3"
    session.commit()

    departments = read_csv(admin_client.get(f"/admin/reports/departments.csv?{TWO_WEEKS}"))
    clinicians = read_csv(admin_client.get(f"/admin/reports/clinicians.csv?{TWO_WEEKS}"))

    assert departments[1][1] == '\'=HYPERLINK("http://evil.example","x")'
    assert {row[1] for row in clinicians[1:]} == {"'@SUM(1+1)", "'-2+3"}
    assert {row[2] for row in clinicians[1:]} == {'\'=HYPERLINK("http://evil.example","x")', "Dermatology"}


@pytest.mark.parametrize("table", ["weeks", "departments", "clinicians", "walk_in"])
def test_exports_open_in_a_spreadsheet_with_accented_names_intact(admin_client, session, hospital, table):
    """Excel reads a CSV without a byte-order mark in the computer's legacy code page: "Zoë" became "ZoÃ«"."""
    hospital.dr_a.display_name = "Dr Zoë Müller"
    hospital.cardiology.name = "Cardiología"
    session.commit()

    body = admin_client.get(f"/admin/reports/{table}.csv?{TWO_WEEKS}").get_data()

    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8's byte-order mark, which tells Excel the encoding
    text = body.decode("utf-8-sig")
    assert not text.startswith("\ufeff")  # the mark once, not a stray character in the first header
    if table == "clinicians":
        assert "Dr Zoë Müller" in text and "Cardiología" in text


@pytest.mark.parametrize(
    ("name", "in_filename"),
    [
        ("Dermatology", "dermatology"),
        ('Cardiología "A&E"/Ü', "cardiologia-a-e-u"),  # ASCII letters only: the header stays well formed
        ("心臓科", "department-{id}"),  # no Latin letter to keep: its id
    ],
)
def test_an_export_of_one_department_says_which_in_its_file_name(
    admin_client, session, hospital, name, in_filename
):
    """Each department's weekly totals were saved under the hospital's file name, with nothing in the file
    to tell them apart: the second download overwrote the first, or passed for the hospital's."""
    hospital.dermatology.name = name
    session.commit()
    department = hospital.dermatology.id
    hospital_wide = admin_client.get(f"/admin/reports/weeks.csv?{TWO_WEEKS}").headers["Content-Disposition"]

    for table, subject in (("weeks", "consultations-weeks"), ("walk_in", "walk-in")):
        response = admin_client.get(f"/admin/reports/{table}.csv?{TWO_WEEKS}&department={department}")
        expected = f"{subject}-{in_filename.format(id=department)}-2026-03-25-to-2026-03-31.csv"
        assert response.headers["Content-Disposition"] == f'attachment; filename="{expected}"'
    assert hospital_wide == 'attachment; filename="consultations-weeks-2026-03-25-to-2026-03-31.csv"'


def test_an_export_is_an_audit_event_without_names(admin_client, session, admin, hospital):
    response = admin_client.get(
        f"/admin/reports/clinicians.csv?{TWO_WEEKS}&department={hospital.dermatology.id}"
    )
    assert response.status_code == 200
    session.rollback()  # end the read that loaded the department's id, to see the request's commit

    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "report.exported")).one()
    assert (event.actor, event.entity_type, event.entity_id) == (f"staff:{admin.id}", "report", "clinicians")
    assert event.details == {
        "first_day": "2026-03-25",
        "last_day": "2026-03-31",
        "department_id": hospital.dermatology.id,
    }


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("first_day=2026-13-01", "first_day", "Enter a date as YYYY-MM-DD"),
        ("first_day=2026-03-10&last_day=2026-03-01", "last_day", "on or after the first day"),
        ("first_day=2020-01-01&last_day=2026-01-01", "last_day", "at most 106 weeks"),
        ("first_day=0001-01-01", "first_day", "from 1970 to 2999"),
        ("last_day=9999-12-31", "last_day", "before the year 9999"),
        ("department=abc", "department", "Choose one of the options"),
        ("department=999999", "department", "Choose one of the options"),
    ],
)
def test_bad_filters_get_an_error_beside_the_field(admin_client, hospital, query, field, message):
    for path in ("/admin/reports", "/admin/reports/weeks.csv"):
        response = admin_client.get(f"{path}?{query}")
        page = response.get_data(as_text=True)

        assert response.status_code == 422
        assert f'id="{field}-error"' in page and message in page
        assert "<svg" not in page


def test_an_unknown_table_is_not_found(admin_client):
    assert admin_client.get("/admin/reports/patients.csv").status_code == 404


@postgres_only
def test_postgresql_reads_the_period_through_the_start_index(session, hospital):
    """With sequential scans priced out, the plan of a report's counts uses ix_consultation_starts_at
    (bench/reports.py measures the real choice on 200,000 consultations)."""
    from sqlalchemy.dialects import postgresql

    from clinic.reporting.consultations import _counts, _in_period

    wanted = two_weeks()
    query = _counts(wanted.week_index(Consultation.starts_at), literal_column("0"), _in_period(wanted))
    compiled = query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(session.scalars(text(f"EXPLAIN {compiled}")))

    assert "ix_consultation_starts_at" in plan


def test_no_filter_input_makes_the_reports_fail(admin_client, session, hospital):
    """Whatever the filters hold, the page and the exports answer 200 or 422 (never 5xx)."""
    queue = factories.walk_in_queue(session, hospital.dr_a.services[0], [hospital.dr_a])
    factories.walk_in(session, queue, now=utc(2026, 3, 29, 0, 30))
    from hypothesis import given
    from hypothesis import strategies as st

    from .test_never_5xx import examples, form_text

    value = st.one_of(form_text, st.dates().map(str), st.integers(-5, 10**7).map(str))
    filters = st.dictionaries(
        st.sampled_from(
            ["first_day", "last_day", "department", "departments_page", "clinicians_page", "queues_page"]
        ),
        value,
    )
    paths = st.sampled_from(
        [
            "/admin/reports",
            "/admin/reports/weeks.csv",
            "/admin/reports/clinicians.csv",
            "/admin/reports/walk_in.csv",
        ]
    )

    @examples(60)
    @given(path=paths, args=filters)
    def run(path, args):
        assert admin_client.get(path, query_string=args).status_code in (200, 422)

    run()


def contrast_with_white(colour: str) -> float:
    """WCAG 2's contrast ratio of an #rrggbb colour against white."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)


def test_chart_colours_keep_at_least_4_5_to_1_against_white():
    from clinic.admin.reports import CANCELLED, KEPT, NO_SHOW

    assert all(contrast_with_white(colour) >= 4.5 for colour in (KEPT, NO_SHOW, CANCELLED))
