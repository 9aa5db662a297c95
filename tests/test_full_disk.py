"""With the disk under the database full (SQLite's file, or a PostgreSQL tablespace), a write gets Clinic's
own 503, says so in the log for IT, and stores nothing; pages that only read are served; once there is room
again, the same request is made once. The outbox worker says so once and delivers what fell due, once.
Mail written to files leaves nothing behind on a full disk.

The disks are real (tests/fakes/small_disk.py): each write fails on the kernel's ENOSPC."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage

import psycopg
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import DBAPIError

from clinic.extensions import db
from clinic.models import Consultation, utcnow
from clinic.models.transactions import is_full
from clinic.notify.mail import FileBackend, MailTemporaryError

from .conftest import build_app, sqlite_only
from .fakes.reminders import WorkerProcess
from .fakes.small_disk import SmallDisk, database_on_small_disk, small_disk
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)
from .test_database_unreachable import LinkedClinic, _book, _clinic, _pages
from .test_worker import assert_told_once, mails_due_in, wait_for

FULL_RETRY_AFTER = "300"
# Seconds from now when the worker's mails fall due: after it has started and the disk is full.
DUE_IN = 6


@pytest.fixture
def small_disk_database(migrated_database, tmp_path) -> Iterator[tuple[str, SmallDisk]]:
    """The URL of a migrated database of the suite's kind whose disk a test can fill, and the disk."""
    with database_on_small_disk(migrated_database, str(tmp_path / "migrating")) as (url, disk):
        yield url, disk


@pytest.fixture
def on_a_small_disk(small_disk_database, tmp_path) -> Iterator[tuple[LinkedClinic, SmallDisk, str]]:
    """A clinic (a clinician signed in, a patient) on that database."""
    url, disk = small_disk_database
    with _clinic(url, None, tmp_path) as clinic:
        yield clinic, disk, url


def _consultations(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(Consultation))
    finally:
        engine.dispose()


@pytest.mark.parametrize("way", ["api", "page"])
def test_a_booking_on_a_full_disk_is_refused_503_and_made_once_there_is_room(on_a_small_disk, caplog, way):
    """Before, the database's "disk full" (SQLITE_FULL; PostgreSQL's 53100) answered 500, and the log said
    only "unhandled OperationalError", nothing IT could act on."""
    clinic, disk, url = on_a_small_disk
    disk.fill()

    with caplog.at_level(logging.WARNING, logger="clinic.errors"):
        refused = _book(clinic, way)
    read = [clinic.browsers[who].get(path).status_code for who, path, _ in _pages(clinic.service_id)]
    consultations_while_full = _consultations(url)
    disk.free()
    again = _book(clinic, way)

    assert refused.status_code == 503 and refused.headers["Retry-After"] == FULL_RETRY_AFTER
    if way == "api":
        assert refused.mimetype == "application/problem+json"
        assert refused.get_json()["code"] == "unavailable"
        assert refused.get_json()["detail"].startswith("The system cannot save anything just now")
    else:
        page = refused.get_data(as_text=True)
        assert "The system cannot save anything just now" in page
        assert 'href="tel:+442079460000"' in page  # the department's number, to book by phone instead
    (line,) = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert line.levelno == logging.ERROR and "database full" in line.getMessage()
    assert read == [200, 200, 200]
    assert consultations_while_full == 0
    assert again.status_code == (201 if way == "api" else 303)
    assert _consultations(url) == 1


@sqlite_only
def test_the_worker_rides_out_a_full_disk_and_delivers_what_fell_due_once(
    small_disk_database, tmp_path, smtp_server
):
    """On SQLite (Clinic's default, and one worker), where every write needs room: the worker's claims and
    heartbeats fail while the disk is full. Before, each failed tick logged a traceback, every 0.1 s here
    and every 5 s in production. On PostgreSQL a full tablespace fails only a write that needs a new page,
    which the worker's updates of rows it holds seldom do; the booking test above shows it there."""
    url, disk = small_disk_database
    app = build_app(url, str(tmp_path / "instance"))
    with app.app_context():
        email, due = mails_due_in(db.session, DUE_IN)
        db.session.remove()
        db.engine.dispose()

    worker = WorkerProcess(url, smtp_server, tmp_path, lease_seconds=120)
    try:
        assert wait_for(lambda: "ticking every" in worker.log()), worker.log()
        disk.fill()
        assert utcnow() < due, "the disk filled too late: the mails were due before"
        # Ticks that find the mails due and no room to claim them (the heartbeat may have found none before).
        assert wait_for(lambda: utcnow() > due + timedelta(seconds=1), timeout=2 * DUE_IN)
        assert "the database is full" in worker.log() and smtp_server.inbox(email) == []
        disk.free()
        assert wait_for(lambda: len(smtp_server.inbox(email)) == 1), worker.log()
        time.sleep(1)
    finally:
        worker.stop()
    log = worker.log()
    assert worker.process.returncode == 0, log
    assert len(smtp_server.inbox(email)) == 1
    assert email not in log
    assert_told_once(log, "the database is full", "the database stores again")


def test_a_mail_written_to_a_full_disk_leaves_nothing_behind_and_is_written_once_there_is_room():
    """Before, each failed attempt left its part-written .part file, which the outbox's retries added to
    (each a file of its own), on the disk that was already full."""
    first, message = _mail(1), _mail(2)
    with small_disk() as disk:
        folder = disk.path / "mail"
        backend = FileBackend(folder)
        backend.send(first)  # the folder made, with room
        written = set(folder.iterdir())
        disk.fill()
        for _ in range(3):
            with pytest.raises(MailTemporaryError, match="No space left on device"):
                backend.send(message)
        left = set(folder.iterdir()) - written
        disk.free()
        backend.send(message)
        arrived = set(folder.iterdir()) - written

    assert left == set()
    assert [path.suffix for path in arrived] == [".eml"]


def _mail(n: int) -> EmailMessage:
    message = EmailMessage()
    message["To"], message["Subject"] = "ada@example.org", "Hello"
    message["Message-ID"] = f"<{n}@example.org>"
    message.set_content("Hello " * 2000)
    return message


@pytest.mark.parametrize(
    ("sqlstate", "full"),
    [
        ("53100", True),  # disk full
        ("53200", False),  # out of memory: the server's, not the disk
        ("53300", False),  # too many connections: out of reach, not full
        ("54000", False),  # a program limit exceeded
        ("23505", False),  # a unique violation
    ],
)
def test_only_postgresqls_disk_full_is_a_full_database(sqlstate, full):
    cause = psycopg.errors.lookup(sqlstate)("from the server")
    assert is_full(DBAPIError.instance(None, None, cause, psycopg.Error)) is full
