# ruff: noqa: F811 - the fixture imported below is the tests' parameter
"""Request limits per client address: what each counts, the 429 answers, and the start-up checks.

Every other test module runs with the limits off (conftest.build_app); here they are on, and low.
"""

import json
import logging
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from clinic import create_app
from clinic.extensions import db, limiter
from clinic.models import Consultation, WaitlistEntry, utcnow

from . import factories
from .conftest import GUNICORN_TIMEOUT, build_app, production_config
from .fakes.redis_server import redis_server
from .fakes.tcp_link import linked
from .test_api import booking_body, clinic, wall  # noqa: F401 (fixture)
from .test_api_openapi import DOCUMENT, operations
from .test_booking_pages import booking_form, next_week_at
from .test_manage_link import open_link
from .test_rate_limits_across_workers import REDIS_URL, key_prefix  # noqa: F401 (fixture)
from .test_waiting_room_pages import starting_in
from .test_waitlist_pages import waitlist_form
from .test_worker import wait_for

LIMITS = {
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_BOOKING": "2 per minute",
    "RATELIMIT_SLOT_SEARCH": "3 per minute",
    "RATELIMIT_MANAGE_LINK": "3 per minute",
    "RATELIMIT_ROOM_STATUS": "5 per minute",
    "RATELIMIT_API": "5 per minute",
    "RATELIMIT_STAFF_LOGIN": "2 per minute",
}
NEIGHBOUR = {"REMOTE_ADDR": "198.51.100.7"}
# Flask-Limiter's words when it leaves its storage for the process's memory, and when it goes back.
FELL_BACK = "Rate limit storage unreachable - falling back to in-memory storage"
RECOVERED = "Rate limit storage recovered"


@pytest.fixture
def app(database_url, tmp_path):
    app = build_app(database_url, str(tmp_path / "instance"), **LIMITS)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def consultations(session) -> int:
    session.commit()
    return session.scalar(select(func.count()).select_from(Consultation))


def retry_after(response) -> int:
    seconds = int(response.headers["Retry-After"])
    assert 0 < seconds <= 61
    return seconds


def test_a_third_booking_within_the_minute_gets_a_page_saying_when_to_try_and_whom_to_call(
    client, session, clinic
):
    service = factories.service(session, dept=factories.department(session, name="Cardiology"))
    factories.clinician(session, [service])
    session.commit()
    forms = [
        booking_form(service, next_week_at(h), idempotency_key=f"key-{h:02}" + "a" * 20) for h in (9, 10, 11)
    ]

    answers = [client.post("/book/confirm", data=form) for form in forms]

    assert [a.status_code for a in answers] == [303, 303, 429]
    assert consultations(session) == 2
    page = answers[2].get_data(as_text=True)
    retry_after(answers[2])
    assert "Please try again in 1 minute" in page or "less than a minute" in page
    assert "Nothing from it was saved" in page
    assert 'Cardiology: <a href="tel:+442079460000">+44 20 7946 0000</a>' in page


def test_each_booking_step_counts_for_itself_and_each_address_for_itself(client, session, clinic):
    service = factories.service(session)
    form = booking_form(service, next_week_at(9))
    for _ in range(2):
        client.post("/book/details", data=form)

    assert client.post("/book/details", data=form).status_code == 429
    assert client.post("/book/details", data=form, environ_base=NEIGHBOUR).status_code != 429
    assert client.get("/book/details").status_code != 429  # only the POSTs count
    assert client.post("/book/confirm", data={}).status_code != 429


def test_joining_the_waitlist_is_limited_like_booking(client, session):
    service = factories.service(session)
    factories.clinician(session, [service])
    session.commit()
    forms = [waitlist_form(service, email=f"patient{n}@example.org") for n in range(3)]

    answers = [client.post("/book/waitlist", data=form) for form in forms]

    assert [a.status_code for a in answers] == [303, 303, 429]
    assert session.scalar(select(func.count()).select_from(WaitlistEntry)) == 2


def test_the_api_answers_429_as_problem_json_with_retry_after(client):
    for _ in range(5):
        assert client.get("/api/v1/services").status_code == 200

    refused = client.get("/api/v1/services")

    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    body = refused.get_json()
    assert body["status"] == 429 and body["code"] == "rate_limited"
    assert f"Try again in {retry_after(refused)} seconds" in body["detail"]
    assert client.get("/api/v1/services", environ_base=NEIGHBOUR).status_code == 200


def test_addresses_of_one_ipv6_network_share_one_count(client):
    """Each IPv6 address was counted apart, and anyone holds a /64 of them (every home line, every
    hosted server): a client changing its address each request was never refused, on the API or anywhere."""
    for n in range(1, 6):
        answer = client.get("/api/v1/services", environ_base={"REMOTE_ADDR": f"2001:db8:1:2::{n:x}"})
        assert answer.status_code == 200

    refused = client.get("/api/v1/services", environ_base={"REMOTE_ADDR": "2001:db8:1:2:ffff:1:2:3"})

    assert refused.status_code == 429
    assert client.get("/api/v1/services", environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"}).status_code == 200


def test_every_api_operation_documents_its_429():
    spec = json.loads(DOCUMENT.read_text())

    documented = {op["responses"].get("429", {}).get("$ref") for _, _, op in operations(spec)}

    assert documented == {"#/components/responses/TooManyRequests"}
    assert "Retry-After" in spec["components"]["responses"]["TooManyRequests"]["headers"]


def test_api_bookings_are_limited_like_the_booking_pages(client, session, clinic):
    bodies = [
        booking_body(clinic.service.id, wall(clinic.day, h), clinician=clinic.first.id) for h in (9, 10, 11)
    ]
    bodies = [{**b, "patient": {**b["patient"], "email": f"p{n}@example.org"}} for n, b in enumerate(bodies)]

    answers = [client.post("/api/v1/bookings", json=body).status_code for body in bodies]

    assert answers == [201, 201, 429]
    assert consultations(session) == 2


def test_slot_search_on_the_pages_and_the_api_share_one_count(client):
    client.get("/book/time")
    client.get("/api/v1/slots")
    client.get("/book/time")

    assert client.get("/api/v1/slots").status_code == 429
    assert client.get("/book/time").status_code == 429
    assert client.get("/book").status_code == 200  # choosing a service is not a search


def test_manage_and_companion_links_share_one_count(client):
    for path in ("/c/AAAA-1111?t=guess", "/g/BBBB-2222?t=guess", "/api/v1/bookings/CCCC-3333"):
        assert client.get(path).status_code != 429

    assert client.get("/c/DDDD-4444?t=guess").status_code == 429
    assert client.post("/c/EEEE-5555", data={"link": "guess"}).status_code == 429  # guessing tokens
    assert client.post("/g/EEEE-5555", data={"link": "guess"}).status_code == 429
    assert client.post("/c/EEEE-5555/check-in").status_code == 429
    assert client.get("/c/DDDD-4444", environ_base=NEIGHBOUR).status_code != 429


def test_free_times_to_move_a_booking_count_with_the_manage_links_as_they_take_its_token(client):
    """GET /api/v1/slots?moving=<reference> opens the booking with its token: counted only as a slot search,
    it let a guesser try tokens at that limit, five times the links'."""
    for _ in range(3):
        assert client.get("/api/v1/bookings/CCCC-3333").status_code != 429

    assert client.get("/api/v1/slots?moving=CCCC-3333").status_code == 429
    assert client.get("/api/v1/slots").status_code != 429  # a search for a new booking takes no token


def test_a_waiting_room_left_open_asks_its_status_without_using_up_the_links_count(client, session):
    """Its countdown asks every minute, for days maybe: counted with the links, an open page (or a few
    behind one address) would use their count up, and be refused as the room opens. The status takes no
    token, so its own count opens no way to try tokens past the links'."""
    service = factories.service(session)
    factories.clinician(session, [service])
    session.commit()
    booked = factories.booking(session, service, next_week_at(10), now=utcnow())
    reference = booked.consultation.reference
    open_link(client, booked)  # the form, a room's page with no token: one of the polls' five; its post too

    polls = [client.get(f"/c/{reference}/status").status_code for _ in range(5)]

    assert polls == [200] * 4 + [429]
    assert [client.post(f"/c/{reference}", data={"code": "guess"}).status_code for _ in range(2)] == [404] * 2
    assert client.post(f"/c/{reference}", data={"code": "guess"}).status_code == 429
    assert client.get(f"/c/{reference}/status", environ_base=NEIGHBOUR).status_code == 200  # its own count


def test_open_waiting_rooms_asked_for_again_do_not_use_up_the_links_count(client, session):
    """An open room's page is asked for again every 30 seconds (waiting_room.js): a ward's tablets or a care
    home's residents behind one address, their rooms open at once, would use the links' count up and the
    next patient's link would be refused. Asked for with this browser's pass, no token, it tries no link:
    it is counted with the rooms' polls."""
    service = factories.service(session)
    factories.clinician(session, [service])
    session.commit()
    booked = starting_in(session, service, timedelta(minutes=5))
    reference = booked.consultation.reference
    open_link(client, booked)

    pages = [client.get(f"/c/{reference}") for _ in range(3)]

    assert [page.status_code for page in pages] == [200] * 3
    assert "Your waiting room is open" in pages[-1].text
    assert [client.post(f"/c/{reference}", data={"code": "guess"}).status_code for _ in range(2)] == [404] * 2
    assert client.get(f"/c/{reference}?t=guess").status_code == 429  # a token tried: the links' fourth
    assert [client.get(f"/c/{reference}").status_code for _ in range(2)] == [200, 429]  # the polls' sixth


def test_staff_sign_in_posts_are_limited_before_the_failure_throttle_and_name_no_phone(client, session):
    factories.department(session, name="Cardiology")
    user = factories.staff(session)
    session.commit()
    for _ in range(2):
        factories.sign_in(client, user, password="guess")

    refused = factories.sign_in(client, user)

    assert refused.status_code == 429
    retry_after(refused)
    assert "Please wait before trying again" in refused.get_data(as_text=True)
    assert "Cardiology" not in refused.get_data(as_text=True)
    assert client.get("/login").status_code == 200
    assert factories.sign_in(client, user, remote_addr=NEIGHBOUR["REMOTE_ADDR"]).status_code == 303


def test_pages_no_limit_counts_leave_the_counters_alone_and_counted_ones_still_count(client):
    uncounted = ("/healthz", "/book", "/privacy", "/login", "/book/details", "/readyz")

    pages = [client.get(path).status_code for path in uncounted for _ in range(4)]
    counters_after_pages = limiter.storage.reset()  # the memory storage: how many counters it held
    searches = [client.get("/book/time").status_code for _ in range(4)]

    assert 429 not in pages and counters_after_pages == 0
    assert searches[3] == 429 and 429 not in searches[:3]
    assert limiter.storage.reset() > 0


def test_limits_off_let_a_load_test_through(database_url, tmp_path):
    app = build_app(database_url, str(tmp_path), **{**LIMITS, "RATELIMIT_ENABLED": False})
    client = app.test_client()

    assert {client.get("/api/v1/services").status_code for _ in range(20)} == {200}


def test_limits_off_never_ask_the_storage(database_url, tmp_path, caplog):
    settings = {**LIMITS, "RATELIMIT_ENABLED": False, "RATELIMIT_STORAGE_URL": "redis://127.0.0.1:1/0"}
    client = build_app(database_url, str(tmp_path), **settings).test_client()

    with caplog.at_level(logging.WARNING, logger="flask-limiter"):
        answers = [client.get(path).status_code for path in ("/api/v1/services", "/book/time") * 6]

    assert 429 not in answers
    assert "storage unreachable" not in caplog.text


def test_an_empty_limit_counts_nothing(database_url, tmp_path):
    app = build_app(database_url, str(tmp_path), **{**LIMITS, "RATELIMIT_API": ""})
    client = app.test_client()

    assert {client.get("/api/v1/services").status_code for _ in range(20)} == {200}


def test_a_limit_that_is_not_a_limit_stops_the_start_naming_the_setting(database_url, tmp_path):
    with pytest.raises(RuntimeError, match="CLINIC_RATELIMIT_BOOKING must be limits like"):
        build_app(database_url, str(tmp_path), **{**LIMITS, "RATELIMIT_BOOKING": "ten a minute"})


@pytest.mark.parametrize("setting", ["RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION"])
def test_a_limit_over_every_request_stops_the_start_rather_than_count_less_than_it_says(
    database_url, tmp_path, setting
):
    # Pages no guard counts skip the limiter, so such a limit would never see most requests.
    with pytest.raises(RuntimeError, match=f"{setting} is not applied"):
        build_app(database_url, str(tmp_path), **{**LIMITS, setting: "100 per minute"})


def test_production_warns_when_each_process_would_count_for_itself(
    database_url, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("CLINIC_ENV", "production")
    monkeypatch.setenv("CLINIC_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setattr(logging.getLogger("clinic"), "disabled", False)  # Alembic's log config

    def limits_warnings() -> str:  # the limits' own: the test run's CLINIC_TEST_* variables are named too
        messages = (record.getMessage() for record in caplog.records)
        return "".join(message for message in messages if message.startswith("CLINIC_RATELIMIT"))

    with caplog.at_level(logging.WARNING, logger="clinic"):
        create_app(production_config(database_url))
        warned = limits_warnings()
        caplog.clear()
        create_app(production_config(database_url, RATELIMIT_STORAGE_URL="redis://127.0.0.1:6379/0"))

    assert "CLINIC_RATELIMIT_STORAGE_URL is memory://" in warned and "gunicorn worker" in warned
    assert limits_warnings() == ""


def test_unreachable_storage_still_serves_and_limits_in_the_process(database_url, tmp_path):
    dead = build_app(
        database_url, str(tmp_path), **{**LIMITS, "RATELIMIT_STORAGE_URL": "redis://127.0.0.1:1/0"}
    )
    client = dead.test_client()

    answers = [client.get("/api/v1/services").status_code for _ in range(6)]

    assert answers == [200] * 5 + [429]


def test_a_limits_storage_that_never_answers_is_left_for_counting_in_the_process(
    database_url, tmp_path, key_prefix
):
    """Redis gone from the network (connections accepted and never answered) held each limited request
    for as long as Redis was gone: redis-py waits without end by default, and gunicorn kills a worker
    silent for 30 s. The storage's timeouts hand the count to the process instead, as for a refusal."""
    with linked(REDIS_URL) as (url, link):
        settings = {**LIMITS, "RATELIMIT_STORAGE_URL": url, "RATELIMIT_KEY_PREFIX": key_prefix}
        client = build_app(database_url, str(tmp_path), **settings).test_client()
        assert client.get("/api/v1/services").status_code == 200  # counted in Redis
        link.stall()

        started = time.monotonic()
        answers = [client.get("/api/v1/services").status_code for _ in range(6)]
        waited = time.monotonic() - started

    # Served, then limited by the process's own count (from 0, or from 1 where a test before left the
    # limiter, one object in every test app, counting in the process).
    assert answers[:4] == [200] * 4 and answers[-1] == 429
    assert waited < GUNICORN_TIMEOUT


def test_a_full_redis_is_left_for_the_process_once_and_counted_in_again_once_there_is_room(
    database_url, tmp_path, caplog
):
    """Redis at its memory limit answers PING and refuses every count. Flask-Limiter took the PING for
    Redis back, about once a second, failed the next count, and fell back again: a WARNING a second in
    each process for as long as Redis stayed full."""
    with redis_server() as server:
        settings = {**LIMITS, "RATELIMIT_API": "1000 per minute", "RATELIMIT_STORAGE_URL": server.url}
        client = build_app(database_url, str(tmp_path), **settings).test_client()
        server.fill()
        with caplog.at_level(logging.INFO, logger="flask-limiter"):
            answers = _asked_for(client, seconds=3.5)
            server.free()
            counted_in_redis = wait_for(lambda: _asked_for(client, seconds=0.1) and server.counts())
        said = [record.getMessage() for record in caplog.records if record.name == "flask-limiter"]

    assert set(answers) == {200}
    assert counted_in_redis
    # Fallen back from once (or already, where a test before left the limiter, one object in every test
    # app, counting in the process), and gone back to once.
    assert said in ([FELL_BACK, RECOVERED], [RECOVERED])


def _asked_for(client, seconds: float) -> list[int]:
    """The answers to a limited request asked for every 0.1 s for `seconds`."""
    answers, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        answers.append(client.get("/api/v1/services").status_code)
        time.sleep(0.1)
    return answers
