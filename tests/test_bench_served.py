"""The load bench's gunicorn app (bench/served.py) serves Clinic on either database: the race runs on
SQLite as well as PostgreSQL. And its clients (bench/load.py's Browser, a bare socket) read the answers
and carry a session as a browser does."""

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import requests

from bench.load import Browser, Outcome, gunicorn
from bench.served import SQL_ALONE_PATH, SQL_IN_APP_PATH
from clinic.models import StaffRole

from .conftest import postgres_only
from .factories import STAFF_PASSWORD, clinician, consultation, linked_staff, service


def test_the_bench_serves_clinics_pages_and_its_floors_on_the_suites_database(database_url):
    with gunicorn(database_url, workers=1) as server:
        base = "http://{}:{}".format(*server.address)
        paths = ("/book", "/__bench/sql-alone/book/time")
        answers = {path: requests.get(base + path, timeout=30).status_code for path in paths}

    # Until a worker has served a read page, its floors have nothing to replay: 204.
    assert answers == {"/book": 200, "/__bench/sql-alone/book/time": 204}


def test_a_bench_client_signs_in_and_keeps_its_session(session, database_url):
    offered = service(session)
    person = clinician(session, [offered])
    account = linked_staff(session, person, StaffRole.CLINICIAN)
    session.commit()
    out = Outcome()
    with gunicorn(database_url, workers=1) as server:
        stranger, staff = Browser(server.address, out), Browser(server.address, out)
        refused = stranger.get_answer("schedule", "/schedule/")[0]
        staff.sign_in(account.email, STAFF_PASSWORD, staff.csrf_token())
        status, day = staff.get_answer("schedule", "/schedule/")
        api = staff.get_answer("services", "/api/v1/services")

    assert refused in (302, 303)
    assert status == 200 and account.display_name.encode() in day
    assert api[0] == 200 and [s["id"] for s in json.loads(api[1])["services"]] == [offered.id]
    assert out.errors == [] and [route for route, _, _ in out.samples][-2:] == ["schedule", "services"]


@postgres_only
def test_the_schedule_s_floors_replay_its_reads_beside_its_audit_write(session, database_url):
    """A day with consultations on it appends an audit event (who was shown the list) as it is drawn: its
    floors replay the page's reads, where they had stopped recording the page at all (answering 204)."""
    offered = service(session)
    person = clinician(session, [offered])
    account = linked_staff(session, person, StaffRole.CLINICIAN)
    noon = datetime.combine(date.today() + timedelta(days=1), time(12), tzinfo=ZoneInfo(person.time_zone))
    consultation(session, offered, person, noon)
    out = Outcome()
    with gunicorn(database_url, workers=1) as server:
        staff = Browser(server.address, out)
        staff.sign_in(account.email, STAFF_PASSWORD, staff.csrf_token())
        status, _ = staff.get_answer("schedule", "/schedule/", {"date": noon.date().isoformat()})
        floors = [
            staff.get_answer("floor", f"{path}/schedule/")[0] for path in (SQL_ALONE_PATH, SQL_IN_APP_PATH)
        ]

    assert (status, floors) == (200, [200, 200])
