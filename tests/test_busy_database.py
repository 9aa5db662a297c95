"""SQLite has one write lock. A request that cannot take it within SQLITE_LOCK_WAIT is answered 503
"busy, try again" with nothing saved, well before gunicorn's worker timeout would kill it mid-way (the
load bench's race run found requests killed after 30 s of waiting, some just after their booking was
saved, so the patient never heard)."""

import runpy
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from clinic.extensions import db
from clinic.models import Consultation
from config import Config

from .conftest import build_app, sqlite_only
from .test_api import booking_body, monday_after_next, wall
from .test_booking_pages import booking_form, clinic, next_week_at  # noqa: F401 (clinic: a fixture)

pytestmark = sqlite_only

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app(database_url, tmp_path):
    """The usual test app, waiting only a quarter of a second for the write lock."""
    app = build_app(database_url, str(tmp_path / "instance"), SQLITE_LOCK_WAIT=0.25)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@contextmanager
def write_lock_held(database_url: str):
    """Another process's writer, holding SQLite's write lock until the block ends."""
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def bookings(session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(Consultation))


def test_a_booking_page_waiting_too_long_for_the_lock_is_told_to_try_again_and_nothing_is_saved(
    client,
    session,
    database_url,
    clinic,  # noqa: F811
):
    service, _ = clinic
    form = booking_form(service, next_week_at(11))

    with write_lock_held(database_url):
        busy = client.post("/book/confirm", data=form)
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "5"
    assert "Nothing was saved; please try again" in busy.get_data(as_text=True)
    assert bookings(session) == 0

    again = client.post("/book/confirm", data=form)
    assert again.status_code in (200, 302, 303)
    assert bookings(session) == 1


def test_the_api_answers_a_busy_database_with_503_problem_json(client, session, database_url, clinic):  # noqa: F811
    service, _ = clinic
    body = booking_body(service.id, wall(monday_after_next(), 10))

    with write_lock_held(database_url):
        busy = client.post("/api/v1/bookings", json=body, headers={"Idempotency-Key": "busy-once"})
    assert busy.status_code == 503
    assert busy.mimetype == "application/problem+json"
    assert busy.get_json()["code"] == "busy"
    assert busy.headers["Retry-After"] == "5"
    assert bookings(session) == 0

    again = client.post("/api/v1/bookings", json=body, headers={"Idempotency-Key": "busy-once"})
    assert again.status_code == 201
    assert bookings(session) == 1


def test_the_lock_wait_leaves_a_request_time_to_answer_before_gunicorn_kills_its_worker():
    gunicorn_settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert Config.SQLITE_LOCK_WAIT * 2 <= gunicorn_settings["timeout"]
