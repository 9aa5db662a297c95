"""The staff schedule: a clinician's day and week, who is waiting, and who may see what."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from clinic.extensions import db
from clinic.models import AuditEvent, Companion, CompanionRole, ConsultationStatus, StaffRole, utcnow
from clinic.schedule import lists, views
from clinic.scheduling.agenda import Moment, day_agenda
from clinic.scheduling.patients import age_on
from clinic.scheduling.timezones import zone
from clinic.scheduling.visibility import schedule_scope
from clinic.scheduling.waiting_room import JoinWindow
from clinic.staff.members import StaffMember

from . import factories
from .conftest import statements_run
from .factories import sign_in

LONDON = zone("Europe/London")


@pytest.fixture
def client(app):
    return factories.browser(app)


@pytest.fixture
def clinic(session):
    """Two departments: Cardiology with Dr Okafor and Dr Raman, Dermatology with Dr Jansen, each working
    09:00-12:30 and 13:30-17:00 every day: a consultation put at such a time today fits their hours,
    whatever day the tests run (outside them, the pages would mark it to move)."""
    cardiology = factories.department(session, name="Cardiology")
    dermatology = factories.department(session, name="Dermatology")
    heart = factories.service(session, cardiology, name="Follow-up call")
    skin = factories.service(session, dermatology, name="Skin check")
    every_day = range(7)
    okafor = factories.clinician(session, [heart], display_name="Dr Amara Okafor", weekdays=every_day)
    raman = factories.clinician(session, [heart], display_name="Dr Priya Raman", weekdays=every_day)
    jansen = factories.clinician(
        session, [skin], display_name="Dr Sofia Jansen", time_zone="Europe/Amsterdam", weekdays=every_day
    )
    session.commit()
    return {
        "cardiology": cardiology,
        "dermatology": dermatology,
        "heart": heart,
        "skin": skin,
        "okafor": okafor,
        "raman": raman,
        "jansen": jansen,
    }


def login(session, client, role=StaffRole.CLINICIAN, **fields):
    """Sign `client` in as a new staff member; the test's session is left outside any transaction."""
    session.rollback()  # a read the test began would block the account's insert (SQLite snapshot)
    user = factories.staff(session, role=role, **fields)
    assert sign_in(client, user).status_code == 303
    session.rollback()  # signing in read the e-mail; the requests that follow write
    return user


def today_at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    """An instant today (plus `days`) at a wall-clock time in London."""
    day = utcnow().astimezone(LONDON).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LONDON).astimezone(UTC)


def text(response) -> str:
    return response.get_data(as_text=True)


def visit(session, clinic, who: str, start: datetime, name: str, **fields):
    """A consultation of `name` with clinician `who` (okafor, raman or jansen) at `start`."""
    service = clinic["skin"] if who == "jansen" else clinic["heart"]
    patient = factories.patient_details(name=name, **fields.pop("patient", {}))
    return factories.consultation(session, service, clinic[who], start, patient=patient, **fields)


def test_a_clinician_sees_their_own_day_with_each_patients_age_and_service(client, session, clinic):
    born = date(1948, 3, 27)
    mine = visit(session, clinic, "okafor", today_at(10), "Maria Visser", patient={"birth_date": born})
    visit(session, clinic, "raman", today_at(11), "Somebody Else")
    login(session, client, clinician_id=clinic["okafor"].id)

    page = text(client.get("/schedule/"))

    age = age_on(born, utcnow().astimezone(LONDON).date())
    assert "Dr Amara Okafor" in page
    assert f"Maria Visser</a>, {age}" in page and "Follow-up call" in page
    assert mine.starts_at.astimezone(LONDON).strftime("%H:%M") in page
    assert "Somebody Else" not in page


def test_a_departments_day_shows_each_row_with_its_clinician_walk_ins_and_companions_and_names_as_typed(
    client, session, clinic
):
    typed = "Zoë <b>O'Brien</b> & Co"
    visit(session, clinic, "okafor", today_at(9), typed, patient={"birth_date": date(1980, 5, 1)})
    visit(session, clinic, "raman", today_at(10), "Walk In", patient={"birth_date": None})
    joined = visit(session, clinic, "raman", today_at(11), "With Interpreter")
    with_interpreter(session, joined, "companion-1")
    session.commit()
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    page = text(client.get("/schedule/"))

    shown = "Zoë &lt;b&gt;O&#39;Brien&lt;/b&gt; &amp; Co"
    assert typed not in page and f">{shown}</a>, {age_on(date(1980, 5, 1), today_at(9).date())}" in page
    assert f'aria-label="Details of {shown}\'s consultation"' in page
    assert re.search(rf'/schedule/consultations/{joined.id}\?next=[^"]+">With Interpreter</a>', page)
    assert 'Walk In</a> <span class="hint">(walk-in)</span>' in page
    assert "With Interpreter</a>, " in page and '<span class="hint">(with interpreter)</span>' in page
    assert "<td>Dr Amara Okafor</td>" in page and "<td>Dr Priya Raman</td>" in page
    assert '<th scope="col">Clinician</th>' in page


def with_interpreter(session, consultation, uuid: str) -> None:
    """Ana Silva, an interpreter, invited to `consultation` (written straight to the database)."""
    session.add(
        Companion(
            uuid=uuid,
            consultation=consultation,
            name="Ana Silva",
            email="ana@example.net",
            role=CompanionRole.INTERPRETER,
            link_seed="0" * 64,
        )
    )


def test_a_cancelled_consultation_shows_no_one_joining_it(client, session, clinic):
    cancelled = visit(
        session, clinic, "okafor", today_at(11), "Cancelled Patient", status=ConsultationStatus.CANCELLED
    )
    with_interpreter(session, cancelled, "companion-2")
    session.commit()
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    day = text(client.get("/schedule/"))
    details = text(client.get(f"/schedule/consultations/{cancelled.id}"))

    assert "Cancelled Patient</a>" in day and "(with interpreter)" not in day
    assert "Joining them" not in details and "Ana Silva" not in details


def test_another_day_is_shown_by_date_and_a_malformed_date_shows_today_with_an_error(client, session, clinic):
    visit(session, clinic, "okafor", today_at(10, days=2), "Later Patient")
    login(session, client, clinician_id=clinic["okafor"].id)
    later = (utcnow().astimezone(LONDON).date() + timedelta(days=2)).isoformat()

    shown = client.get(f"/schedule/?date={later}")
    malformed = client.get("/schedule/?date=2026-13-45")

    assert shown.status_code == 200 and "Later Patient" in text(shown)
    assert malformed.status_code == 422 and "Later Patient" not in text(malformed)
    assert 'aria-describedby="date-error"' in text(malformed)


def test_the_day_and_week_name_their_zone_as_people_know_it_with_that_days_offset(client, session, clinic):
    login(session, client, clinician_id=clinic["okafor"].id)

    winter = text(client.get("/schedule/?date=2027-01-12"))
    summer = text(client.get("/schedule/week?date=2027-07-12"))

    assert "Times are in UK time, GMT+0." in winter
    assert "Times are in UK time, GMT+1." in summer


def test_a_week_in_which_the_clocks_change_names_the_offset_of_each_of_its_days(client, session, clinic):
    login(session, client, clinician_id=clinic["okafor"].id)

    spring = text(client.get("/schedule/week?date=2027-03-22"))  # the UK goes to GMT+1 on Sunday 28 March
    autumn = text(client.get("/schedule/week?date=2027-10-25"))  # and back to GMT+0 on Sunday 31 October

    assert "Times are in UK time, GMT+0 until 01:00 on Sunday 28 March, then GMT+1." in spring
    assert "Times are in UK time, GMT+1 until 02:00 on Sunday 31 October, then GMT+0." in autumn


def test_the_hours_page_names_its_zone_as_people_know_it(client, session, clinic):
    login(session, client, clinician_id=clinic["jansen"].id)

    page = text(client.get("/schedule/hours"))

    assert re.search(r"Times are in Netherlands, GMT\+\d today;", page)
    assert "Europe/Amsterdam" not in page


def test_the_week_view_lists_monday_to_sunday(client, session, clinic):
    visit(session, clinic, "okafor", today_at(9), "This Week")
    login(session, client, clinician_id=clinic["okafor"].id)

    page = text(client.get("/schedule/week"))

    assert "This Week" in page
    for weekday in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"):
        assert f">{weekday} " in page


def test_a_patient_who_checked_in_shows_as_waiting_on_the_page_and_in_its_updates(client, session, clinic):
    arrived = {"status": ConsultationStatus.ARRIVED, "arrived_at": today_at(9, 52)}
    visit(session, clinic, "okafor", today_at(10), "Waiting Patient", **arrived)
    login(session, client, clinician_id=clinic["okafor"].id)

    page = text(client.get("/schedule/"))
    updates = text(client.get("/schedule/updates"))

    for drawn in (page, updates):
        assert "1 waiting:</strong> Waiting Patient" in drawn and "Waiting since 09:52" in drawn


def test_the_updates_draw_each_changing_part_of_the_day_as_the_page_does(client, session, clinic):
    """The page's script puts each region of the updates in place of the page's own (schedule.js): one
    drawing serves both, so what the script shows is what a reload would."""
    visit(session, clinic, "okafor", today_at(10), "Booked Patient")
    login(session, client, clinician_id=clinic["okafor"].id)

    page, updates = text(client.get("/schedule/")), text(client.get("/schedule/updates"))

    assert live_regions(page) == live_regions(updates)
    assert set(live_regions(page)) == {"summary", "walk-ins", "consultations"}
    assert "Booked Patient" in live_regions(updates)["consultations"]


def test_a_caller_who_joins_a_walk_in_queue_shows_in_the_updates_of_a_day_without_consultations(
    client, session, clinic
):
    """A clinician on a helpline's duty, with nothing booked that day: their open page asks for updates,
    and a caller who joined after it was drawn shows in them, with the button to take them. Before, the
    page asked only when it listed consultations, and the updates held no queue."""
    queue = factories.walk_in_queue(session, clinic["heart"], [clinic["okafor"]])
    login(session, client, clinician_id=clinic["okafor"].id)
    page = text(client.get("/schedule/"))
    factories.walk_in(session, queue, now=utcnow())

    updates = live_regions(text(client.get("/schedule/updates")))

    assert "No consultations on this day." in page and "data-updates=" in page
    assert "<strong>1 waiting</strong>" in updates["walk-ins"]
    assert f'action="/schedule/walk-in/{queue.id}/take"' in updates["walk-ins"]


def test_the_updates_list_as_news_each_patient_waiting_and_each_queues_newest_caller(client, session, clinic):
    """The page's script says an item of this list once, when its key first shows or its data-newest rises
    (schedule.js): a patient now waiting for their consultation, a queue's new caller. Nothing in it counts
    the minutes, so a minute passing says nothing."""
    queue = factories.walk_in_queue(session, clinic["heart"], [clinic["okafor"]])
    arrived = {"status": ConsultationStatus.ARRIVED, "arrived_at": today_at(9, 52)}
    waiting = visit(session, clinic, "okafor", today_at(10), "Waiting Patient", **arrived)
    first = factories.walk_in(session, queue, now=utcnow()).entry.id
    login(session, client, clinician_id=clinic["okafor"].id)

    before = news(text(client.get("/schedule/updates")))
    second = factories.walk_in(session, queue, now=utcnow()).entry.id
    after = news(text(client.get("/schedule/updates")))

    assert before == {
        f"waiting-{waiting.id}": ("", "Now waiting: Waiting Patient, 10:00."),
        f"walk-in-{queue.id}": (str(first), f"Walk-in {queue.name}: a new caller, 1 waiting."),
    }
    assert after[f"walk-in-{queue.id}"] == (str(second), f"Walk-in {queue.name}: a new caller, 2 waiting.")


def news(page: str) -> dict[str, tuple[str, str]]:
    """The items of a drawing's list of news, by key: their data-newest ("" for none) and what they say."""
    found = re.findall(r'<li data-news="([^"]+)"(?: data-newest="([^"]*)")?>([^<]*)</li>', page)
    return {key: (newest, said) for key, newest, said in found}


def live_regions(page: str) -> dict[str, str]:
    """Each `data-live` region of a drawing of the day, by name, without its forms' CSRF tokens."""
    found = re.findall(
        r'<div[^>]* data-live="([^"]+)">(.*?)\n</div>\n(?=\n|<div[^>]* data-live|</div>)', page, re.DOTALL
    )
    return {name: re.sub(r'name="csrf_token" value="[^"]*"', "", body) for name, body in found}


def test_the_days_listing_and_its_polled_updates_run_past_sqlalchemys_execution(client, session, clinic):
    """Every schedule page, and each poll of its changing parts every few seconds, looks up the clinician's
    own schedule and reads the listing: on the driver's path (models.driver), skipping SQLAlchemy's
    execution, its Result and the loading of entities."""
    arrived = {"status": ConsultationStatus.ARRIVED, "arrived_at": today_at(9, 52)}
    visit(session, clinic, "okafor", today_at(10), "Waiting Patient", **arrived)
    login(session, client, clinician_id=clinic["okafor"].id)

    tables = ("consultation", "clinician")

    with statements_run(db.engine) as run:
        page = text(client.get("/schedule/"))
        updates = text(client.get("/schedule/updates"))

    assert "Waiting Patient" in page and "Waiting Patient" in updates
    assert "Dr Amara Okafor" in page  # their own schedule, named as such
    assert not [statement for statement in run if any(f"FROM {table}" in statement for table in tables)]


def test_reception_sees_their_departments_day_and_an_admin_chooses_a_department(client, session, clinic):
    visit(session, clinic, "raman", today_at(10), "Heart Patient")
    visit(session, clinic, "jansen", today_at(11), "Skin Patient")
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    reception = text(client.get("/schedule/"))
    client.post("/logout")
    login(session, client, StaffRole.ADMIN)
    admin_default = text(client.get("/schedule/"))
    admin_skin = text(client.get(f"/schedule/?department={clinic['dermatology'].id}"))

    assert "Heart Patient" in reception and "Skin Patient" not in reception
    assert "Dr Priya Raman" in reception  # the clinician column of a department's day
    assert "Heart Patient" in admin_default  # Cardiology comes first
    assert "Skin Patient" in admin_skin and "Heart Patient" not in admin_skin


def test_an_admins_links_to_other_days_and_views_keep_the_department_and_clinician_chosen(
    client, session, clinic
):
    visit(session, clinic, "okafor", datetime(2027, 1, 12, 10, tzinfo=UTC), "Heart Patient")
    login(session, client, StaffRole.ADMIN)
    whose = f"department={clinic['cardiology'].id}&amp;clinician={clinic['okafor'].id}"

    day = text(client.get(f"/schedule/?date=2027-01-12&{whose.replace('&amp;', '&')}"))
    week = text(client.get(f"/schedule/week?date=2027-01-12&{whose.replace('&amp;', '&')}"))

    assert f'href="/schedule/week?date=2027-01-12&amp;{whose}"' in day
    assert f'rel="prev" href="/schedule/?date=2027-01-11&amp;{whose}"' in day
    assert f'rel="next" href="/schedule/?date=2027-01-13&amp;{whose}"' in day
    assert f'href="/schedule/?{whose}">Today' in day
    assert f'data-updates="/schedule/updates?date=2027-01-12&amp;{whose}"' in day
    assert f'rel="prev" href="/schedule/week?date=2027-01-04&amp;{whose}"' in week
    assert f'href="/schedule/?date=2027-01-14&amp;{whose}">Thursday 14 January' in week


def test_an_admin_back_from_a_clinicians_time_off_sees_that_clinicians_week_in_any_department(
    client, session, clinic
):
    """The time-off page links back to the clinician's week by the clinician alone: for an admin, whose
    schedule otherwise opens on the first department, the clinician's own department is the one meant."""
    visit(session, clinic, "jansen", today_at(11), "Skin Patient")
    login(session, client, StaffRole.ADMIN)
    time_off = text(client.get(f"/schedule/clinicians/{clinic['jansen'].id}/time-off"))
    back = re.search(r"<a href=\"([^\"]+)\">Back to Dr Sofia Jansen's week</a>", time_off)

    week = client.get(back.group(1).replace("&amp;", "&"))

    assert week.status_code == 200 and "Skin Patient" in text(week)


@pytest.mark.parametrize("view", ["/schedule/", "/schedule/week", "/schedule/clashes"])
def test_an_admin_switching_department_with_a_clinician_chosen_sees_the_new_department_not_a_dead_end(
    client, session, clinic, view
):
    """The filter sends the clinician chosen in Cardiology along with Dermatology, newly chosen: the page
    shows Dermatology, with why beside the clinician, where another can be chosen."""
    visit(session, clinic, "jansen", today_at(11), "Skin Patient")
    login(session, client, StaffRole.ADMIN)

    switched = client.get(f"{view}?department={clinic['dermatology'].id}&clinician={clinic['okafor'].id}")

    page = text(switched)
    assert switched.status_code == 422
    assert 'id="clinician-error"' in page and "Dr Amara Okafor is not in Dermatology" in page
    assert "Dr Sofia Jansen</option>" in page
    assert "Skin Patient" in page or view == "/schedule/clashes"


def test_reception_cannot_switch_to_another_department(client, session, clinic):
    visit(session, clinic, "jansen", today_at(11), "Skin Patient")
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    asked = client.get(f"/schedule/?department={clinic['dermatology'].id}")
    other_clinician = client.get(f"/schedule/?clinician={clinic['jansen'].id}")

    assert "Skin Patient" not in text(asked)
    assert other_clinician.status_code == 404


@pytest.mark.parametrize("role", ["other clinician", "other reception", "unlinked clinician"])
def test_a_consultation_outside_ones_scope_is_not_found_on_every_route(client, session, clinic, role):
    theirs = factories.consultation(session, clinic["heart"], clinic["okafor"], today_at(10))
    if role == "other clinician":
        login(session, client, clinician_id=clinic["raman"].id)
    elif role == "other reception":
        login(session, client, StaffRole.RECEPTION, department_id=clinic["dermatology"].id)
    else:
        login(session, client)
    base = f"/schedule/consultations/{theirs.id}"

    responses = [
        client.get(base),
        client.post(f"{base}/status", data={"status": "arrived"}),
        client.post(f"{base}/start"),
        client.post(f"{base}/cancel", data={"reason": ""}),
        client.get(f"{base}/move"),
        client.post(f"{base}/move", data={"start": "2030-01-01T10:00Z"}),
        client.get(f"{base}/letter"),
        client.post(f"{base}/companion", data={"name": "A B", "email": "a@example.net", "role": "carer"}),
        client.post(f"{base}/companion/remove"),
    ]

    assert [r.status_code for r in responses] == [404] * len(responses)
    session.expire_all()
    assert theirs.status is ConsultationStatus.BOOKED


def test_an_unknown_consultation_is_not_found_like_someone_elses(client, session, clinic):
    login(session, client, StaffRole.ADMIN)

    assert client.get("/schedule/consultations/999999").status_code == 404
    assert client.get("/schedule/consultations/99999999999").status_code == 404


@pytest.mark.parametrize(
    "path",
    ["/schedule/", "/schedule/week", "/schedule/updates", "/schedule/book", "/schedule/consultations/1"],
)
def test_signed_out_visitors_are_sent_to_sign_in(client, path):
    response = client.get(path)

    assert response.status_code == 302 and response.location.startswith("/login")


def test_the_clinician_finds_notes_on_their_day_and_reception_never_does(client, session, clinic):
    mine = factories.consultation(session, clinic["heart"], clinic["okafor"], today_at(10))
    notes_link = f"/schedule/consultations/{mine.id}/notes"
    login(session, client, clinician_id=clinic["okafor"].id)
    for_clinician = text(client.get("/schedule/")) + text(client.get(f"/schedule/consultations/{mine.id}"))
    client.post("/logout")
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    for_reception = text(client.get("/schedule/")) + text(client.get(f"/schedule/consultations/{mine.id}"))

    assert for_clinician.count(notes_link) == 2
    assert notes_link not in for_reception
    assert client.get(notes_link).status_code == 404


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
@pytest.mark.parametrize("path", ["/schedule/", "/schedule/week", "/schedule/updates"])
def test_a_date_at_the_ends_of_the_calendar_shows_today_with_an_error_not_a_server_error(
    client, session, clinic, path, day
):
    login(session, client, clinician_id=clinic["okafor"].id)

    response = client.get(f"{path}?date={day}")

    assert response.status_code == (200 if path == "/schedule/updates" else 422)  # its parts are today's


AMERICAN = {"Accept-Language": "en-US,en;q=0.8"}  # a reader of the 12-hour clock


def test_a_row_of_the_day_reads_one_clock_as_its_time_column_does(client, session, clinic):
    later = visit(session, clinic, "okafor", today_at(15, days=1), "Tomorrow Patient")
    login(session, client, clinician_id=clinic["okafor"].id)
    tomorrow = later.starts_at.astimezone(LONDON).date().isoformat()

    page = text(client.get(f"/schedule/?date={tomorrow}", headers=AMERICAN))

    row = re.search(r"<tr data-consultation=.*?</tr>", page, re.S)[0]
    assert "<td>15:00–" in row and "Call opens" in row
    assert not re.search(r"\d [ap]m", row)


def test_the_consultation_page_reads_its_start_end_and_waiting_time_on_the_readers_clock(
    client, session, clinic
):
    arrived = {"status": ConsultationStatus.ARRIVED, "arrived_at": today_at(9, 2)}
    waiting = visit(session, clinic, "okafor", today_at(9, 15), "Waiting Patient", **arrived)
    login(session, client, clinician_id=clinic["okafor"].id)

    american = text(client.get(f"/schedule/consultations/{waiting.id}", headers=AMERICAN))
    british = text(client.get(f"/schedule/consultations/{waiting.id}", headers={"Accept-Language": "en-GB"}))

    assert re.search(r", 9:15 am to 9:45 am \(UK time, GMT\+\d\)</dd>", american)
    assert "Waiting since 9:02 am<" in american
    assert re.search(r", 09:15 to 09:45 \(UK time, GMT\+\d\)</dd>", british)
    assert "Waiting since 09:02<" in british


def test_the_hour_the_clocks_go_back_reads_each_consultation_with_its_offset(client, session, clinic):
    # Sunday 27 October 2030, a day still to come (someone is next on it): UK clocks go back from
    # 02:00 GMT+1 to 01:00 GMT+0, so 01:30 comes twice.
    visit(session, clinic, "okafor", datetime(2030, 10, 27, 0, 30, tzinfo=UTC), "First Patient")
    visit(session, clinic, "okafor", datetime(2030, 10, 27, 1, 30, tzinfo=UTC), "Second Patient")
    visit(session, clinic, "okafor", datetime(2030, 10, 27, 9, tzinfo=UTC), "Morning Patient")
    login(session, client, clinician_id=clinic["okafor"].id)

    day = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text(client.get("/schedule/?date=2030-10-27"))))
    week = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text(client.get("/schedule/week?date=2030-10-27"))))

    assert "01:30 (GMT+1)–01:00 (GMT+0) First Patient" in day
    assert "Next: 01:30 (GMT+1) First Patient" in day
    assert "01:30 (GMT+0)–02:00 Second Patient" in day
    assert "09:00–09:30 Morning Patient" in day  # a time read once is written as ever
    assert "01:30 (GMT+1) First Patient" in week and "01:30 (GMT+0) Second Patient" in week


def test_a_day_the_clocks_change_names_the_change_not_one_offset_for_the_whole_day(client, session, clinic):
    login(session, client, clinician_id=clinic["okafor"].id)

    autumn = text(client.get("/schedule/?date=2026-10-25"))
    spring = text(client.get("/schedule/?date=2027-03-28"))
    before = text(client.get("/schedule/?date=2027-03-27"))

    assert "Times are in UK time, GMT+1 until 02:00, then GMT+0." in autumn
    assert "Times are in UK time, GMT+0 until 01:00, then GMT+1." in spring
    assert "Times are in UK time, GMT+0." in before


def test_the_stalled_call_news_tells_the_two_runs_of_the_hour_the_clocks_go_back_apart(app):
    call = type("Call", (), {"id": 1, "patient_name": "Ann", "clinician_name": "Dr B"})
    news = app.jinja_env.get_template("schedule/_news.html").module.stalled_news
    first, second = call(), call()
    first.starts_at, second.starts_at = (datetime(2026, 10, 25, h, 30, tzinfo=UTC) for h in (0, 1))

    with app.test_request_context():
        said = [str(news(c, LONDON)) for c in (first, second)]

    assert "Ann, 01:30 (GMT+1), is still" in said[0] and "Ann, 01:30 (GMT+0), is still" in said[1]


@pytest.mark.parametrize(
    "status", [ConsultationStatus.BOOKED, ConsultationStatus.ARRIVED], ids=["nobody came", "came, never seen"]
)
def test_who_is_next_is_never_a_consultation_whose_call_can_no_longer_start(app, session, clinic, status):
    """A 09:00 call left booked (housekeeping marks it a no-show only later, and never one in time off) or
    whose patient waited in vain is not who comes next at 11:00; and on a day that is over nobody is next."""
    day = date(2030, 7, 1)
    missed = visit(session, clinic, "okafor", datetime(2030, 7, 1, 8, tzinfo=UTC), "Missed Patient")
    missed.status = status
    visit(session, clinic, "okafor", datetime(2030, 7, 1, 11, tzinfo=UTC), "Coming Patient")
    session.commit()
    clinician = StaffMember(1, StaffRole.CLINICIAN, clinician_id=clinic["okafor"].id)
    scope = schedule_scope(session, clinician)
    window = JoinWindow.from_config(app.config)

    def next_at(now: datetime) -> str | None:
        agenda = day_agenda(session, clinician, scope, day, LONDON, Moment(now, window))
        return agenda.next_up and agenda.next_up.consultation.patient_name

    assert next_at(datetime(2030, 7, 1, 7, 50, tzinfo=UTC)) == "Missed Patient"
    assert next_at(missed.starts_at + timedelta(minutes=10)) == "Missed Patient"  # the room is open still
    assert next_at(window.closes_at(missed) + timedelta(seconds=1)) == "Coming Patient"
    assert next_at(datetime(2030, 7, 2, 9, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    "role", [StaffRole.CLINICIAN, StaffRole.RECEPTION], ids=["own day", "department day"]
)
def test_who_is_next_is_never_a_consultation_in_its_clinicians_time_off(client, session, clinic, role):
    """Dr Okafor is off from 10:00 to 12:00: her 10:30, which nobody will take, is not next on her day
    nor on reception's department day, whose next is Dr Raman's 11:00 (on hers, her 14:00)."""
    off_from = datetime(2030, 7, 1, 10, tzinfo=LONDON).astimezone(UTC)
    factories.time_off(session, clinic["okafor"], off_from, off_from + timedelta(hours=2))
    visit(session, clinic, "okafor", datetime(2030, 7, 1, 9, 30, tzinfo=UTC), "Stranded Patient")  # 10:30
    visit(session, clinic, "raman", datetime(2030, 7, 1, 10, tzinfo=UTC), "Colleagues Patient")  # 11:00
    visit(session, clinic, "okafor", datetime(2030, 7, 1, 13, tzinfo=UTC), "Afternoon Patient")  # 14:00
    who = {"clinician_id": clinic["okafor"].id} if role is StaffRole.CLINICIAN else {}
    login(session, client, role, department_id=clinic["cardiology"].id, **who)

    day = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text(client.get("/schedule/?date=2030-07-01"))))

    expected = "14:00 Afternoon Patient" if role is StaffRole.CLINICIAN else "11:00 Colleagues Patient"
    assert "Now to move or cancel: Stranded Patient" in day  # the page knows it cannot go ahead
    assert re.search(r"Next: [^<]*?Patient", day)[0] == f"Next: {expected}"


@pytest.mark.parametrize(
    ("starts", "now", "day"),
    [
        (datetime(2030, 7, 1, 23, 5, tzinfo=UTC), datetime(2030, 7, 1, 22, 55, tzinfo=UTC), date(2030, 7, 1)),
        (
            datetime(2030, 6, 30, 22, 40, tzinfo=UTC),
            datetime(2030, 6, 30, 23, 5, tzinfo=UTC),
            date(2030, 7, 1),
        ),
    ],
    ids=["00:05 tomorrow, its room open at 23:55", "23:40 yesterday, still under way at 00:05"],
)
def test_a_patient_waiting_for_a_call_across_midnight_is_waiting_and_next_on_today(
    app, session, clinic, starts, now, day
):
    """Today's page listed who waits, and who is next, among the day's own consultations: a patient checked in
    at 23:55 for 00:05, or waiting since 23:40 for a call that runs past midnight, was nowhere on the day the
    clinician had open ("Nobody is waiting"), only on the next or the last."""
    visit(
        session, clinic, "okafor", starts, "Night Patient", status=ConsultationStatus.ARRIVED, arrived_at=now
    )
    visit(session, clinic, "okafor", starts + timedelta(hours=12), "Later Patient")
    visit(session, clinic, "okafor", datetime(2030, 7, 5, 9, tzinfo=UTC), "Another Day")
    session.commit()
    clinician = StaffMember(1, StaffRole.CLINICIAN, clinician_id=clinic["okafor"].id)
    window = JoinWindow.from_config(app.config)

    agenda = day_agenda(
        session, clinician, schedule_scope(session, clinician), day, LONDON, Moment(now, window)
    )

    assert [row.consultation.patient_name for row in agenda.waiting] == ["Night Patient"]
    assert agenda.next_up.consultation.patient_name == "Night Patient"
    assert "Night Patient" not in [row.consultation.patient_name for row in agenda.rows]  # not its day's


def test_the_day_page_names_a_patient_waiting_for_tomorrows_first_call_and_links_to_it(
    client, session, clinic, monkeypatch
):
    """At 23:55 the clinician's day shows who checked in for 00:05, with its day, and leads to its page (where
    its call starts), and the list read is audited with them."""
    night = datetime(2030, 7, 1, 23, 5, tzinfo=UTC)  # 00:05 on Tuesday 2 July, London
    page_now = datetime(2030, 7, 1, 22, 55, tzinfo=UTC)
    waiting = visit(
        session,
        clinic,
        "okafor",
        night,
        "Night Patient",
        status=ConsultationStatus.ARRIVED,
        arrived_at=page_now,
    )
    session.commit()
    login(session, client, clinician_id=clinic["okafor"].id)
    for module in (views, lists):  # the pages' clock, as if the page were drawn at 23:55
        monkeypatch.setattr(module, "utcnow", lambda: page_now)

    page = text(client.get("/schedule/"))
    summary = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page.partition('data-live="summary"')[2]))

    assert "1 waiting: Night Patient (00:05 on Tuesday)" in summary
    assert "Next: 00:05 Night Patient (on Tuesday)" in summary
    assert f'href="/schedule/consultations/{waiting.id}?next=' in page
    assert "Monday 1 July 2030" in page and "No consultations on this day." in page
    session.commit()  # a new read, past the request
    listed = session.scalars(select(AuditEvent.details).where(AuditEvent.action == "consultations.listed"))
    assert [details["consultation_ids"] for details in listed] == [[waiting.id]]


@pytest.mark.parametrize("role", [StaffRole.RECEPTION, StaffRole.ADMIN])
def test_a_departments_day_says_whom_each_waiting_patient_and_the_next_one_are_with(
    client, session, clinic, role, monkeypatch
):
    """Reception's summary read "2 waiting: Ann Waiting, Ben Waiting" and "Next: …" with no word of whose
    patients they were: the desk, which phones the clinician who keeps a patient waiting, had to find each
    name in the table. On a department's day each is named with their clinician, as the news says them;
    one clinician's day needs no such word."""
    page_now = datetime(2030, 7, 1, 8, 55, tzinfo=UTC)  # 09:55 in London
    arrived = {"status": ConsultationStatus.ARRIVED, "arrived_at": page_now}
    ann = visit(session, clinic, "okafor", datetime(2030, 7, 1, 9, tzinfo=UTC), "Ann Waiting", **arrived)
    visit(session, clinic, "raman", datetime(2030, 7, 1, 9, 30, tzinfo=UTC), "Ben Waiting", **arrived)
    session.commit()
    login(session, client, role, department_id=clinic["cardiology"].id)
    for module in (views, lists):  # the pages' clock, as if the page were drawn at 09:55
        monkeypatch.setattr(module, "utcnow", lambda: page_now)

    def summary(path: str) -> str:
        page = text(client.get(path))
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page.partition('data-live="summary"')[2]))

    department = summary("/schedule/")
    news = text(client.get("/schedule/updates"))
    one = summary(f"/schedule/?clinician={clinic['okafor'].id}")

    assert "2 waiting: Ann Waiting (Dr Amara Okafor), Ben Waiting (Dr Priya Raman)" in department
    assert "Next: 10:00 Ann Waiting (Dr Amara Okafor)" in department
    assert f'data-news="waiting-{ann.id}">Now waiting: Ann Waiting, 10:00, for Dr Amara Okafor.</li>' in news
    assert "1 waiting: Ann Waiting Next: 10:00 Ann Waiting" in one
