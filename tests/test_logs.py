"""Log lines carry ids, never personal data: a whole booking run at debug level (booked on the pages and
through the API, a companion invited, the manage link opened, the booking moved and cancelled, every
mail and reminder sent by the worker into a real SMTP server) leaves no name, e-mail address, phone
number, reason or token in any line; in JSON each line is one object with the request id or the
worker's outbox message id."""

# ruff: noqa: F811 - the fixtures imported below are the tests' parameters

import io
import json
import logging
import random
import re
import string
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from clinic import create_app
from clinic.booking.calendar import form_value
from clinic.extensions import db
from clinic.logs import REQUEST_ID_HEADER, log_handler
from clinic.models import OutboxMessage, OutboxStatus, utcnow
from clinic.scheduling.timezones import zone

from . import factories
from .conftest import production_config
from .fakes.outbox import outbox  # noqa: F401
from .fakes.outbox import text as mail_text
from .fakes.providers import fake_providers  # noqa: F401
from .fakes.reminders import WorkerProcess
from .fakes.smtp import smtp_server  # noqa: F401
from .test_api import bearer, booking_body
from .test_booking_pages import booking_form, clinic, next_week_at  # noqa: F401
from .test_link_logs import gunicorn, log_lines  # noqa: F401
from .test_manage_link import follow

LINK = re.compile(r"http://localhost(/[cg]/[A-Z0-9-]+#t=[\w-]+)")
TOKEN = re.compile(r"[#?&](?:t|jwt)=([\w.~-]+)")


def word() -> str:
    return "".join(random.choices(string.ascii_lowercase, k=10)).capitalize()


class RecordingClient(FlaskClient):
    """A test client that keeps the X-Request-ID of every answer it got."""

    request_ids: list[str]

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        type(self).request_ids.append(response.headers[REQUEST_ID_HEADER])
        return response


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every line logged while the test runs, as production writes it, clinic.* at debug level."""
    stream, root, clinic_log = io.StringIO(), logging.getLogger(), logging.getLogger("clinic")
    handler, level = log_handler("json", stream), clinic_log.level
    root.addHandler(handler)
    clinic_log.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    clinic_log.setLevel(level)


def test_a_whole_booking_run_logs_ids_in_json_and_no_personal_data_or_token(
    app, session, clinic, outbox, smtp_server, json_log
):
    service, _ = clinic
    app.config["PUBLIC_BASE_URL"] = "http://localhost"
    app.test_client_class, RecordingClient.request_ids = RecordingClient, []
    patient, companion, caller, guest = word(), word(), word(), word()
    web = {
        "name": f"Philippa {patient}",
        "email": f"{patient.lower()}@example.org",
        "phone": f"+44 7700 9{random.randint(10000, 99999)}",
        "reason": f"Recurring {patient} palpitations",
        "companion_name": f"Ignatius {companion}",
        "companion_email": f"{companion.lower()}@example.net",
        "companion_role": "interpreter",
    }
    api = {
        "name": f"Bartholomew {caller}",
        "email": f"{caller.lower()}@example.org",
        "phone": f"+44 7700 9{random.randint(10000, 99999)}",
        "birth_date": "1971-04-02",
    }
    api_companion = {"name": f"Cordelia {guest}", "email": f"{guest.lower()}@example.net", "role": "relative"}
    api_reason, cancel_reason = f"Dizzy spells since {caller}", f"A clash with {patient} day"
    browser, phone_app = app.test_client(), app.test_client()

    # Booked on the pages, then through the API; the worker sends the confirmations and invitations.
    form = booking_form(service, next_week_at(10), **web)
    assert browser.post("/book/details", data=form).status_code == 200
    assert browser.post("/book/confirm", data=form).status_code == 303
    london_11 = next_week_at(11).astimezone(zone("Europe/London")).replace(tzinfo=None).isoformat()
    body = booking_body(service.id, london_11, patient=api, reason=api_reason, companion=api_companion)
    booked = phone_app.post("/api/v1/bookings", json=body).get_json()
    assert (
        phone_app.get(
            f"/api/v1/bookings/{booked['reference']}", headers=bearer(booked["manage_token"])
        ).status_code
        == 200
    )
    outbox.clock.now = utcnow()  # the pages book on the real clock
    outbox.drain()
    # The patient opens the link in their mail, moves the booking and cancels it; the companion looks in.
    manage = link_in(smtp_server.inbox(web["email"]), "/c/")
    reference = manage.split("#")[0].removeprefix("/c/")
    mail_reader = app.test_client()  # the link opened elsewhere than where they booked
    assert (
        follow(mail_reader, manage).status_code == 303
        and mail_reader.get(f"/c/{reference}").status_code == 200
    )
    join = link_in(smtp_server.inbox(web["companion_email"]), "/g/")
    assert follow(app.test_client(), join).status_code in (200, 303)
    moved = mail_reader.post(f"/c/{reference}/reschedule", data={"start": form_value(next_week_at(14))})
    cancelled = mail_reader.post(f"/c/{reference}/cancel", data={"reason": cancel_reason})
    assert moved.status_code == 303 and cancelled.status_code == 303
    outbox.drain(until=next_week_at(12))  # every mail, the API booking's reminders included

    lines = json_log.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]
    secrets = [*web.values(), *api.values(), *api_companion.values(), api_reason, cancel_reason]
    secrets += [
        web["phone"].replace(" ", ""),
        api["phone"].replace(" ", ""),
        patient,
        companion,
        caller,
        guest,
    ]
    tokens = {
        booked["manage_token"],
        *(t for mail in smtp_server.received for t in TOKEN.findall(unfolded(mail.message))),
    }
    sent = session.scalars(select(OutboxMessage.id).where(OutboxMessage.status == OutboxStatus.DONE)).all()
    assert len(smtp_server.received) >= 10 and len(tokens) >= 5  # two patients, two companions, reminders
    assert [line for line in lines if any(s.lower() in line.lower() for s in secrets + sorted(tokens))] == []
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    assert all("request_id" in entry or "worker_id" in entry for entry in entries)
    assert {e["request_id"] for e in entries if "request_id" in e} == set(RecordingClient.request_ids)
    ran = [e for e in entries if e["logger"] == "clinic.jobs.dispatch"]
    assert all("outbox_id" in e and "consultation_id" in e for e in ran)
    assert {e["outbox_id"] for e in ran} >= set(sent) and len(sent) >= 10


def link_in(inbox: list, path: str) -> str:
    """The one link under `path` that the mails in `inbox` carry."""
    (link,) = {found for mail in inbox for found in LINK.findall(unfolded(mail)) if found.startswith(path)}
    return link


def unfolded(mail: EmailMessage) -> str:
    """Every part of `mail` decoded, the invite's folded lines (RFC 5545) joined again."""
    return re.sub(r"\r?\n[ \t]", "", mail_text(mail))


def test_an_incoming_request_id_is_kept_when_plain_and_replaced_otherwise(app, client, json_log):
    kept = client.get("/healthz", headers={REQUEST_ID_HEADER: "lb-7f3a.19:2"})
    forged = client.get("/healthz", headers={REQUEST_ID_HEADER: 'ada@example.org", "level": "x'})
    fresh = client.get("/healthz")

    assert kept.headers[REQUEST_ID_HEADER] == "lb-7f3a.19:2"
    replaced = forged.headers[REQUEST_ID_HEADER]
    assert re.fullmatch(r"[0-9a-f]{32}", replaced) and replaced != fresh.headers[REQUEST_ID_HEADER]
    logged = [json.loads(line)["request_id"] for line in json_log.getvalue().splitlines()]
    assert logged == ["lb-7f3a.19:2", replaced, fresh.headers[REQUEST_ID_HEADER]]


def test_a_json_line_names_an_exception_and_where_it_was_raised_but_not_its_text():
    stream, logger = io.StringIO(), logging.getLogger("clinic.tests.exceptions")
    logger.addHandler(log_handler("json", stream))
    address = "ada@example.org"  # a variable: the stack shows each frame's source line
    try:
        raise ValueError(f"INSERT INTO patient VALUES ('{address}')")
    except ValueError:
        logger.error("booking failed", exc_info=True)

    (entry,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert entry["exception"] == "ValueError" and "test_logs.py" in entry["stack"]
    assert "ada@example.org" not in stream.getvalue()


def test_text_lines_stay_readable_with_the_ids_at_the_end():
    stream, logger = io.StringIO(), logging.getLogger("clinic.tests.text")
    logger.addHandler(log_handler("text", stream))
    logger.warning("outbox message %s: lease expired", 12, extra={"fields": {"outbox_id": 12}})

    assert (
        stream.getvalue()
        .rstrip()
        .endswith("WARNING clinic.tests.text: outbox message 12: lease expired [outbox_id=12]")
    )


def test_under_gunicorn_json_access_lines_carry_the_request_id_and_no_query_string(gunicorn, monkeypatch):
    monkeypatch.setenv("CLINIC_LOG_FORMAT", "json")
    base, logs = gunicorn(project_config=True)

    answer = requests.get(f"{base}/healthz?t=secret-token-in-the-query", timeout=30)

    (line,) = logged_with(logs / "access.log", answer.headers[REQUEST_ID_HEADER])
    assert line["logger"] == "gunicorn.access" and line["path"] == "/healthz" and line["status"] == 200
    assert "secret-token-in-the-query" not in (logs / "access.log").read_text()
    booted = [
        json.loads(entry) for entry in (logs / "error.log").read_text().splitlines() if entry.startswith("{")
    ]
    assert any("Booting worker" in entry["message"] for entry in booted)


# A WSGI app whose error escapes it, as one raised in a Flask teardown or while sending a body does:
# gunicorn then answers 500 itself and logs the answer it made.
FAILING_APP = """
def app(environ, start_response):
    raise RuntimeError("escaped the app")
"""


def test_under_gunicorn_an_error_escaping_the_app_is_answered_and_logged_without_ending_the_worker(
    gunicorn, monkeypatch, tmp_path
):
    """gunicorn logs the 500 it made through our access logger, with a response that has no status_code:
    reading it there ended the worker, so each such request cost a worker and its restart. Its error line
    named the request with its query string, where a link's token may be."""
    monkeypatch.setenv("CLINIC_LOG_FORMAT", "json")
    (tmp_path / "failing.py").write_text(FAILING_APP)
    base, logs = gunicorn(project_config=True, app="failing:app", pythonpath=tmp_path)

    answers = [requests.get(f"{base}/healthz?t=a-token", timeout=30).status_code for _ in range(4)]

    assert answers == [500] * 4
    logged = [line for line in _json_lines(logs / "access.log", '"status": 500') if line.get("status")]
    assert logged and all(line["path"] == "/healthz" and line["status"] == 500 for line in logged)
    assert [name for name in ("access.log", "error.log") if "a-token" in (logs / name).read_text()] == []
    errors = [line["message"] for line in _json_lines(logs / "error.log")]
    assert not [message for message in errors if "Exception in worker process" in message]


def _json_lines(path: Path, waiting_for: str = "") -> list[dict]:
    return [json.loads(line) for line in log_lines(path, waiting_for) if line.startswith("{")]


def logged_with(path: Path, request_id: str, timeout: float = 10) -> list[dict]:
    """The JSON lines of `path` with `request_id`, once there: gunicorn logs an answer after sending it."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        found = [line for line in lines if line.get("request_id") == request_id]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_signed_in_staff_members_request_lines_carry_their_id_not_their_name_or_email(
    app, session, json_log
):
    user = factories.staff(session, display_name="Octavia Fenwick-Hale")
    browser = factories.browser(app)
    factories.sign_in(browser, user)

    page = browser.get("/admin/outbox")

    assert page.status_code == 200
    request_id = page.headers[REQUEST_ID_HEADER]
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert [line["staff_id"] for line in lines if line["request_id"] == request_id] == [user.id]
    assert "Fenwick" not in json_log.getvalue() and user.email not in json_log.getvalue()


@pytest.mark.parametrize(
    "path", ["/admin/staff/999999/unlock", "/schedule/consultations/999999/notes"], ids=["admin", "notes"]
)
def test_a_staff_post_whose_limits_are_read_before_the_request_starts_names_its_staff_and_leaks_them_nowhere(
    app, session, json_log, path
):
    """The admin's and the notes' POSTs read who is signed in (for their body limit) before any
    before_request hook: the id bound then was dropped from the request's own lines and stayed bound to the
    thread after it, so a later line outside any request named them (the suite's text line once did)."""
    user = factories.staff(session)
    browser = factories.browser(app)
    factories.sign_in(browser, user)

    posted = browser.post(path)
    logging.getLogger("clinic.tests.after").warning("a line outside any request")

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    request_id = posted.headers[REQUEST_ID_HEADER]
    assert {line.get("staff_id") for line in lines if line.get("request_id") == request_id} == {user.id}
    assert "staff_id" not in lines[-1] and lines[-1]["message"] == "a line outside any request"


def test_in_production_a_database_error_leaves_out_the_values_of_its_statement(
    database_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("CLINIC_ENV", "production")
    monkeypatch.setenv("CLINIC_INSTANCE_PATH", str(tmp_path))
    production = create_app(production_config(database_url))

    with production.app_context(), pytest.raises(DBAPIError) as failed:
        db.session.execute(text("SELECT * FROM no_such_table WHERE name = :name"), {"name": "Ada Lovelace"})

    assert "no_such_table" in str(failed.value) and "Ada Lovelace" not in str(failed.value)


def test_the_worker_process_writes_json_lines_each_naming_its_outbox_message(
    session, clinic, smtp_server, database_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("CLINIC_LOG_FORMAT", "json")
    monkeypatch.setenv("CLINIC_LOG_LEVEL", "DEBUG")
    service, _ = clinic
    patient = factories.patient_details(name=f"Winifred {word()}", email=f"{word().lower()}@example.org")
    factories.booking(session, service, next_week_at(10), now=utcnow(), patient=patient)
    session.commit()
    due = session.scalars(select(OutboxMessage.id).where(OutboxMessage.due_at <= utcnow())).all()

    worker = WorkerProcess(database_url, smtp_server, tmp_path, lease_seconds=120)
    try:
        deadline = time.monotonic() + 60
        while _done(session, due) < len(due) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.stop()

    lines = [json.loads(line) for line in worker.log().splitlines()]
    ran = [line for line in lines if line["logger"] == "clinic.jobs.dispatch"]
    assert _done(session, due) == len(due) >= 3  # the meeting and a mail each to patient and clinician
    assert {line["outbox_id"] for line in ran} == set(due) and all("worker_id" in line for line in ran)
    assert patient.name not in worker.log() and patient.email not in worker.log()


def _done(session, ids: list[int]) -> int:
    session.commit()  # a fresh snapshot: the worker writes from its own process
    done = OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.DONE
    return len(session.scalars(select(OutboxMessage.id).where(*done)).all())
