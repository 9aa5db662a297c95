"""The reports page: consultations per week for the hospital, each department and each clinician, and
walk-in callers per day for each queue, as tables and server-drawn charts, each table also as CSV."""

from datetime import date

from flask import Response, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField
from wtforms.validators import Optional, ValidationError

from ..auth.access import current_staff
from ..extensions import db
from ..form_errors import show_beside
from ..hospital.departments import all_departments
from ..models import Department, utcnow
from ..reporting.consultations import ConsultationReport, consultation_report
from ..reporting.exports import TABLES, export_csv, export_filename
from ..reporting.walk_in import DayFigures, WalkInReport, walk_in_report
from ..reporting.weeks import PeriodTooLong, ReportFilter, filled_period
from ..scheduling.timezones import zone
from .charts import BarChart, Series, stacked_bars
from .forms import LISTED_ONLY, DayField, PageField
from .views import bp

# Days a report may start and end on: from the Unix epoch, to a year every zone can convert.
FIRST_YEAR, LAST_YEAR = 1970, 2999
FILTERS = ("first_day", "last_day", "department")
KEPT, NO_SHOW, CANCELLED = "#005eb8", "#8a4b00", "#505a5f"


class ReportFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter: links and bookmarks work

    first_day = DayField("From", validators=[Optional()])
    last_day = DayField("To (included)", validators=[Optional()])
    department = SelectField("Department", default="", **LISTED_ONLY)
    departments_page = PageField(default=1)
    clinicians_page = PageField(default=1)
    queues_page = PageField(default=1)

    def __init__(self, departments: list[Department], *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.department.choices = [SelectChoice("", "All departments")] + [
            SelectChoice(str(d.id), d.name) for d in departments
        ]

    def validate_first_day(self, field: DayField) -> None:
        _check_year(field.data)

    def validate_last_day(self, field: DayField) -> None:
        _check_year(field.data)
        if field.data and self.first_day.data and field.data < self.first_day.data:
            raise ValidationError("Enter a day on or after the first day.")

    def link_args(self, **pages: int) -> dict[str, str | int]:
        """The filters as typed, and the pages given, as query arguments for links."""
        typed = {name: (self[name].raw_data or [""])[0] for name in FILTERS}
        return {name: value for name, value in typed.items() if value} | pages


@bp.app_template_filter("report_hours")
def report_hours(seconds: int) -> str:
    return f"{seconds / 3600:.1f}"


@bp.app_template_filter("report_days")
def report_days(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    return "< 0.1" if 0 <= seconds < 8640 else f"{seconds / 86400:.1f}"  # not "0.0" for an hour's notice


@bp.app_template_filter("report_minutes")
def report_minutes(seconds: int | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f}"


@bp.app_template_filter("report_percent")
def report_percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio * 100:.1f} %"


def _check_year(day: date | None) -> None:
    if day and not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValidationError(f"Enter a date from {FIRST_YEAR} to {LAST_YEAR}.")


@bp.get("/reports")
def reports() -> ResponseReturnValue:
    form, wanted = _filter()
    if wanted is None:
        return render_template("admin/reports.html", form=form, report=None), 422
    report = consultation_report(
        db.session,
        wanted,
        departments_page=form.departments_page.data,
        clinicians_page=form.clinicians_page.data,
    )
    walk_ins = walk_in_report(db.session, wanted, queues_page=form.queues_page.data)
    return render_template(
        "admin/reports.html",
        form=form,
        report=report,
        charts=_charts(report),
        walk_ins=walk_ins,
        walk_in_charts=_walk_in_charts(walk_ins),
    )


@bp.get("/reports/<table>.csv")
def report_export(table: str) -> ResponseReturnValue:
    if table not in TABLES:
        abort(404)
    form, wanted = _filter()
    if wanted is None:
        return render_template("admin/reports.html", form=form, report=None), 422
    text = export_csv(db.session, wanted, table, actor=current_staff().actor, now=utcnow())
    filename = export_filename(db.session, wanted, table)
    return Response(
        text, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def _filter() -> tuple[ReportFilterForm, ReportFilter | None]:
    """The form as sent, and the filter it asks for (None, with the reason beside the field)."""
    form = ReportFilterForm(all_departments(db.session), request.args)
    if not form.validate():
        return form, None
    tz = zone(current_app.config["DEFAULT_TIME_ZONE"])
    today = utcnow().astimezone(tz).date()
    first_day, last_day = filled_period(form.first_day.data, form.last_day.data, today)
    department_id = int(form.department.data) if form.department.data else None
    try:
        return form, ReportFilter(first_day, last_day, tz, department_id)
    except PeriodTooLong as refused:
        show_beside(form.last_day, str(refused))
        return form, None


def _charts(report: ConsultationReport) -> list[BarChart]:
    labels = [week.label for week in report.weeks]
    totals = report.totals
    kept = [f.booked - f.cancelled - f.no_shows for f in totals]
    consultations = stacked_bars(
        "chart-consultations",
        "Consultations per week",
        "Each week's consultations split into kept, no-shows and cancelled; the total is written after "
        "each bar. The weekly totals table below gives the same figures.",
        labels,
        [
            Series("Kept", KEPT, kept),
            Series("No-shows", NO_SHOW, [f.no_shows for f in totals]),
            Series("Cancelled", CANCELLED, [f.cancelled for f in totals]),
        ],
        lambda i: str(totals[i].booked),
    )
    percents = [round((f.utilisation or 0) * 100, 1) for f in totals]
    utilisation = stacked_bars(
        "chart-utilisation",
        "Utilisation per week",
        "Each week's booked time as a share of the time offered; the line marks 100 %. "
        "The weekly totals table below gives the same figures.",
        labels,
        [Series("Booked share of offered time", KEPT, percents)],
        lambda i: "no hours" if totals[i].utilisation is None else report_percent(totals[i].utilisation),
        reference=(100, "100 %"),
    )
    return [consultations, utilisation]


def _walk_in_charts(report: WalkInReport) -> list[BarChart]:
    """The walk-in callers of every queue in the filter together, per day; none without a queue."""
    if not report.has_queues:
        return []
    labels = [f"{day.day.day} {day.day:%b}" for day in report.days]
    totals = report.totals
    callers = stacked_bars(
        "chart-walk-in",
        "Walk-in callers per day",
        "Each day's callers, by the day they joined, split into taken, abandoned and still waiting; the "
        "number who joined is written after each bar. The daily totals table below gives the same figures.",
        labels,
        [
            Series("Taken", KEPT, [f.taken for f in totals]),
            Series("Abandoned", NO_SHOW, [f.abandoned for f in totals]),
            Series("Waiting", CANCELLED, [f.waiting for f in totals]),
        ],
        lambda i: str(totals[i].joined),
    )
    medians = [round((f.wait_median or 0) / 60, 1) for f in totals]
    waits = stacked_bars(
        "chart-walk-in-waits",
        "Wait until taken per day, in minutes",
        "Each day's median wait, and how much longer the wait at the 95th percentile was; both are "
        "written after each bar. The daily totals table below gives the same figures.",
        labels,
        [
            Series("Median", KEPT, medians),
            Series(
                "To the 95th percentile",
                NO_SHOW,
                [round(((f.wait_p95 or 0) - (f.wait_median or 0)) / 60, 1) for f in totals],
            ),
        ],
        lambda i: _median_and_p95(totals[i]),
        # Room after the longest bar for its two figures, wider than the one a count needs.
        scale_to=max((f.wait_p95 or 0) / 60 for f in totals) * 1.3,
    )
    return [callers, waits]


def _median_and_p95(figures: DayFigures) -> str:
    if figures.wait_median is None:
        return ""
    return f"{report_minutes(figures.wait_median)} / {report_minutes(figures.wait_p95)}"
