"""With the database out of reach (PostgreSQL down, restarting, cut off or, after a failover, a standby
that only reads; SQLite's file gone), every request gets Clinic's own 503 with Retry-After: a page, or
problem+json under /api/, that says to try again shortly, for a signed-in clinician as for a patient (on
a standby, a write: pages that only read are served). Once the database answers again, the same
browsers are served, the clinician still signed in. A database that never answers, a new connection or
one already open, is given up on well before gunicorn's worker timeout, and a booking whose commit went
unanswered is made once, however often it is sent again.

The end of a request's transaction, in Flask's teardown, tries no second connection and raises nothing:
an error raised there escapes the app, and gunicorn answers its own bare 500 in place of the page."""

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, make_url, select
from sqlalchemy.exc import DBAPIError

from clinic.extensions import db
from clinic.models import Consultation, StaffRole
from clinic.models.transactions import is_out_of_reach

from . import factories
from .conftest import GUNICORN_TIMEOUT, PG_URL, build_app, libpq_url, on_postgres, postgres_only
from .fakes.network_cable import NetworkCable, network_cable
from .fakes.tcp_link import TcpLink, linked
from .test_api import booking_body, monday_after_next, wall
from .test_booking_pages import booking_form, next_week_at
from .test_busy_database import lock_waiters, write_lock_held
from .test_closed_connections import end_backends

RETRY_AFTER = "30"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def unreachable_url(tmp_path) -> str:
    """A URL of the suite's database kind that nothing answers: a closed port, or a file in no folder."""
    if not on_postgres():
        return f"sqlite:///{tmp_path / 'no-such-folder' / 'clinic.sqlite'}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/clinic"


def assert_unavailable(answer, kind: str) -> None:
    assert answer.status_code == 503 and answer.mimetype == kind
    assert answer.headers["Retry-After"] == RETRY_AFTER
    if kind == "application/problem+json":
        assert answer.get_json()["code"] == "unavailable"
    else:
        assert "Please try again in a minute" in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "kind"), [("/book", "text/html"), ("/api/v1/services", "application/problem+json")]
)
def test_a_page_with_the_database_out_of_reach_gets_the_apps_answer_after_one_attempt(
    unreachable_url, tmp_path, path, kind
):
    app = build_app(unreachable_url, str(tmp_path / "instance"), PROPAGATE_EXCEPTIONS=False)
    attempts = []
    with app.app_context():
        event.listen(db.engine, "do_connect", lambda *_: attempts.append(1))

    answer = app.test_client().get(path)  # raised, before the fix, from the teardown's second attempt

    assert_unavailable(answer, kind)
    assert len(attempts) == 1


@dataclass
class LinkedClinic:
    app: Flask
    link: TcpLink | NetworkCable | None  # None: reached directly
    browsers: dict[str, FlaskClient]  # a signed-in clinician's and a patient's
    service_id: int


@pytest.fixture
def cut_off(database_url, tmp_path) -> Iterator[LinkedClinic]:
    """An app that reaches PostgreSQL through a `TcpLink`."""
    with linked(PG_URL) as (url, link), _clinic(url, link, tmp_path) as clinic:
        yield clinic


@pytest.fixture
def direct(database_url, tmp_path) -> Iterator[LinkedClinic]:
    """An app that reaches PostgreSQL directly."""
    with _clinic(PG_URL, None, tmp_path) as clinic:
        yield clinic


@contextmanager
def _clinic(url: str, link: TcpLink | NetworkCable | None, tmp_path, **settings) -> Iterator[LinkedClinic]:
    """An app on the database at `url`, reached through `link`, with a clinician signed in on a browser
    of its own, and a patient's browser."""
    app = build_app(url, str(tmp_path / "instance"), PROPAGATE_EXCEPTIONS=False, **settings)
    with app.app_context():
        service = factories.service(db.session, horizon_days=400)
        person = factories.clinician(db.session, [service])
        user = factories.linked_staff(db.session, person, StaffRole.CLINICIAN)
        email, service_id = user.email, service.id
        db.session.remove()
    clinician = factories.browser(app)
    signed_in = clinician.post("/login", data={"email": email, "password": factories.STAFF_PASSWORD})
    assert signed_in.status_code == 303
    yield LinkedClinic(app, link, {"clinician": clinician, "patient": factories.browser(app)}, service_id)
    with app.app_context():
        db.engine.dispose()


def _pages(service_id: int) -> list[tuple[str, str, str]]:
    """(who, path, the answer's type) for a clinician's page, a patient's and the API's."""
    day = monday_after_next()
    return [
        ("clinician", "/schedule/", "text/html"),
        ("patient", f"/book/time?service={service_id}&clinician=any&time_zone=Europe/London", "text/html"),
        (
            "patient",
            f"/api/v1/slots?service={service_id}&start={day}&end={day}&tz=UTC",
            "application/problem+json",
        ),
    ]


@postgres_only
def test_pages_answer_503_while_postgresql_is_cut_off_and_are_served_once_it_is_back(cut_off):
    browsers, pages = cut_off.browsers, _pages(cut_off.service_id)
    for who, path, _ in pages:
        assert browsers[who].get(path).status_code == 200

    cut_off.link.cut()  # the pooled connections die with it
    for who, path, kind in pages:
        assert_unavailable(browsers[who].get(path), kind)  # the clinician's escaped the app before the fix

    cut_off.link.mend()
    for who, path, _ in pages:
        assert browsers[who].get(path).status_code == 200  # the clinician's: still signed in


@postgres_only
@pytest.mark.parametrize("fault", ["cut off", "terminated"])
@pytest.mark.parametrize("place", range(3))
def test_a_request_that_loses_postgresql_midway_answers_503(cut_off, fault, place):
    """Lost at the request's first, second or third checkout of a connection (the session's check, the
    page's reads): whichever statement then meets the dead connection."""
    clinician = cut_off.browsers["clinician"]
    checkouts = []

    def lose_at_checkout(dbapi_connection, *_record_and_proxy) -> None:
        checkouts.append(1)
        if len(checkouts) != place + 1:
            return
        if fault == "cut off":
            cut_off.link.cut()
        else:
            end_backends("pid = %s", [dbapi_connection.info.backend_pid])

    with cut_off.app.app_context():
        event.listen(db.engine, "checkout", lose_at_checkout)
    assert_unavailable(clinician.get("/schedule/"), "text/html")
    assert len(checkouts) > place
    cut_off.link.mend()
    assert clinician.get("/schedule/").status_code == 200


@pytest.mark.parametrize(
    ("sqlstate", "away"),
    [
        ("08006", True),  # connection failure
        ("08001", True),  # the client could not establish it
        ("57P01", True),  # terminated by an administrator: a restart
        ("57P03", True),  # still starting up
        ("53300", True),  # too many connections
        ("25006", True),  # a write refused by a standby: the primary moved
        ("57014", False),  # a statement cancelled: the server is there
        ("40001", False),  # a serialisation failure
        ("23505", False),  # a unique violation
    ],
)
def test_postgresqls_codes_of_a_server_away_are_out_of_reach_and_no_others(sqlstate, away):
    cause = psycopg.errors.lookup(sqlstate)("from the server")
    assert is_out_of_reach(DBAPIError.instance(None, None, cause, psycopg.Error)) is away


@postgres_only
def test_a_database_that_never_answers_is_answered_503_well_before_gunicorn_kills_the_worker(cut_off):
    """A connection PostgreSQL never answers (its host gone from the network) waits for psycopg's own
    connection timeout: 130 s, where gunicorn kills a worker silent for 30 s and the patient gets no
    answer at all. Clinic's connect timeout (5 s by default) answers 503 first."""
    patient = cut_off.browsers["patient"]
    cut_off.link.stall()

    started = time.monotonic()
    answer = patient.get(_pages(cut_off.service_id)[1][1])
    waited = time.monotonic() - started

    assert_unavailable(answer, "text/html")
    assert waited < GUNICORN_TIMEOUT


@postgres_only
@pytest.mark.parametrize(
    ("query", "parameter", "value"),
    [
        ("", "connect_timeout", "5"),
        ("?connect_timeout=7", "connect_timeout", "7"),
        ("", "tcp_user_timeout", "10000"),
        ("?tcp_user_timeout=20000", "tcp_user_timeout", "20000"),
    ],
)
def test_the_network_timeouts_are_clinics_unless_the_database_url_gives_its_own(
    tmp_path, query, parameter, value
):
    app = build_app(PG_URL + query, str(tmp_path / "instance"))
    with app.app_context():
        pooled = db.engine.raw_connection()
        try:
            assert pooled.driver_connection.info.get_parameters()[parameter] == value
        finally:
            pooled.close()
        db.engine.dispose()


# Seconds the cabled app gives an unacknowledged connection (DATABASE_NETWORK_TIMEOUT) and a new one.
SILENCE = 2


@pytest.fixture
def cabled(database_url, tmp_path) -> Iterator[LinkedClinic]:
    """An app that reaches PostgreSQL through a `NetworkCable`, waiting as long for a lock as gunicorn
    lets a request run, so that only the network ends a wait."""
    settings = {"DATABASE_NETWORK_TIMEOUT": SILENCE, "DATABASE_CONNECT_TIMEOUT": SILENCE}
    with (
        network_cable(PG_URL) as (url, cable),
        _clinic(url, cable, tmp_path, DATABASE_LOCK_WAIT=GUNICORN_TIMEOUT, **settings) as clinic,
    ):
        yield clinic


# A process that builds a cable, run without one capability the cable needs.
WITHOUT_NET_ADMIN = """
import pytest
from tests.fakes.network_cable import network_cable
try:
    with network_cable("postgresql://127.0.0.1:5432/test"):
        print("built")
except pytest.skip.Exception as skipped:
    print("skipped:", skipped)
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_a_machine_that_cannot_build_a_cable_skips_its_tests():
    """Root in a container may lack CAP_NET_ADMIN: the tests that pull a cable are skipped there, with
    the reason, rather than failing with `ip`'s refusal."""
    drop = ("setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin")
    ran = subprocess.run(
        [*drop, sys.executable, "-c", WITHOUT_NET_ADMIN], cwd=ROOT, capture_output=True, text=True
    )
    assert ran.stdout.startswith("skipped:"), ran.stderr  # CalledProcessError before the fix
    assert "CAP_NET_ADMIN" in ran.stdout.split("lacks", 1)[1]


@postgres_only
@pytest.mark.timeout(2 * GUNICORN_TIMEOUT)
def test_pooled_connections_to_a_host_gone_silent_are_given_up_and_answered_503(cabled):
    """The database's host gone from the network (powered off, or its address moved by a failover): the
    pool's connections to it look sound until used, and what is then sent is never acknowledged. Linux
    sends it again for about 15 minutes before the request hears of it (tcp_retries2), where gunicorn
    kills a worker silent for 30 s. Clinic gives such a connection DATABASE_NETWORK_TIMEOUT."""
    browsers, pages = cabled.browsers, _pages(cabled.service_id)
    for who, path, _ in pages:
        assert browsers[who].get(path).status_code == 200

    cabled.link.pull()
    for who, path, kind in pages:
        started = time.monotonic()
        answer = browsers[who].get(path)  # hung until pytest's timeout before the fix
        assert time.monotonic() - started < 3 * SILENCE
        assert_unavailable(answer, kind)

    cabled.link.plug()
    for who, path, _ in pages:
        assert browsers[who].get(path).status_code == 200


@postgres_only
def test_a_request_waiting_for_an_answer_when_its_host_goes_silent_is_answered_503(cabled):
    """Its statement sent and acknowledged, the request only waits to hear back, here for a lock held
    elsewhere; nothing is left unacknowledged, and before the fix it waited for ever."""
    patient, path = cabled.browsers["patient"], _pages(cabled.service_id)[1][1]
    answers = []
    request = threading.Thread(target=lambda: answers.append(patient.get(path)), daemon=True)

    with write_lock_held(PG_URL):
        request.start()
        lock_waiters(PG_URL)
        cabled.link.pull()
        started = time.monotonic()
        request.join(GUNICORN_TIMEOUT)
        waited = time.monotonic() - started

    assert answers, f"no answer in {GUNICORN_TIMEOUT} s"
    assert_unavailable(answers[0], "text/html")
    assert waited < 3 * SILENCE
    cabled.link.plug()
    assert patient.get(path).status_code == 200


@postgres_only
@pytest.mark.parametrize("way", ["api", "page"])
def test_a_booking_whose_commit_went_unanswered_is_tried_again_and_made_once(cut_off, session, way):
    """PostgreSQL committed the booking, and the link went before it could say so: the patient is told
    to try again, and the same request (its idempotency key, the form's or the API's header) returns
    that booking, not a second one."""
    cut_off.link.cut_after_sending(b"COMMIT\x00")  # the statement, not READ COMMITTED

    unanswered = _book(cut_off, way)
    cut_off.link.mend()
    again = _book(cut_off, way)

    assert_unavailable(unanswered, "application/problem+json" if way == "api" else "text/html")
    if way == "api":
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    else:
        assert again.status_code == 303
    assert session.scalar(select(func.count()).select_from(Consultation)) == 1


@contextmanager
def only_reading(database_url: str) -> Iterator[None]:
    """The database as a standby serves it after a failover, to clients that still reach the old primary's
    address: every transaction only reads (SQLSTATE 25006 on a write). Its sessions are ended, as the
    old primary's are when it is demoted; at the end, it writes again (the address leads to the new
    primary) for new sessions, as a standby's open sessions never would."""
    setting = f'ALTER DATABASE "{make_url(database_url).database}" {{}} default_transaction_read_only'
    with psycopg.connect(libpq_url(database_url), autocommit=True) as admin:
        admin.execute(setting.format("SET") + " = on")
        try:
            others = "datname = current_database() AND pid NOT IN (pg_backend_pid(), %s)"
            end_backends(others, [admin.info.backend_pid])
            yield
        finally:
            admin.execute(setting.format("RESET"))


@postgres_only
@pytest.mark.parametrize("way", ["api", "page"])
def test_a_booking_on_a_standby_is_told_to_try_again_and_made_once_the_primary_answers(direct, way):
    """Pages that only read are served meanwhile, and leave connections to the standby in the pool: as
    many as the process served requests at once, here two. Before, a write's error (25006) answered
    500, and only that write's connection was replaced, so the next booking took the other one and
    failed too, after the address led to the new primary."""
    with only_reading(PG_URL):
        assert direct.browsers["patient"].get(_pages(direct.service_id)[1][1]).status_code == 200
        with direct.app.app_context():
            pooled = [db.engine.raw_connection() for _ in range(2)]
            for connection in pooled:
                connection.close()  # back to the pool
        refused = _book(direct, way)

    again = _book(direct, way)

    assert_unavailable(refused, "application/problem+json" if way == "api" else "text/html")
    assert again.status_code == (201 if way == "api" else 303)
    with direct.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Consultation)) == 1


def _book(clinic: LinkedClinic, way: str):
    """The patient's booking through the API or the booking page, the same request each time."""
    patient = clinic.browsers["patient"]
    if way == "api":
        body = booking_body(clinic.service_id, wall(monday_after_next(), 10))
        return patient.post("/api/v1/bookings", json=body, headers={"Idempotency-Key": "sent-once"})
    return patient.post(
        "/book/confirm", data=booking_form(SimpleNamespace(id=clinic.service_id), next_week_at(11))
    )
