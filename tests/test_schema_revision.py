"""A database with no schema, or an older one than the code needs, is named as such: the outbox worker and
gunicorn (test_gunicorn_start.py) refuse to start with one line that says to upgrade it, and /readyz answers
503 with the schema's check failing, where the worker crashed with a traceback, gunicorn served 500s, and
/readyz said the database did not answer. A database that does not exist is named in the driver's words,
without a secret, where the worker and /readyz gave only "OperationalError", as for a short outage."""

import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy import create_engine, make_url, text

from clinic import create_app
from clinic.extensions import db
from clinic.health import REFUSED_TO_START
from clinic.models.schema_revision import UPGRADE
from config import MIGRATIONS_DIR

from .conftest import (
    GIVEN_PG_URL,
    PG_URL,
    build_app,
    on_postgres,
    production_config,
    statements_run,
)
from .fakes.reminders import ROOT

TOKEN = "readyz-token-for-monitoring"
AS_MONITOR = {"Authorization": f"Bearer {TOKEN}"}
HEAD = ScriptDirectory(MIGRATIONS_DIR).get_current_head()  # the newest migration's revision
PASSWORD = "a-database-password-never-shown"


@pytest.fixture
def empty_database(tmp_path) -> Iterator[str]:
    """The URL of a database with no table: a new SQLite file, or a new PostgreSQL schema in the test
    database (found first on the search path, as an admin's `options=-csearch_path` gives it)."""
    if not on_postgres():
        yield f"sqlite:///{tmp_path}/empty.sqlite"
        return
    schema = f"unmigrated_{os.getpid()}"
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with engine.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def app_on(url: str, folder, **settings):
    return build_app(url, str(folder / "instance"), READYZ_TOKEN=TOKEN, **settings)


def upgraded_to(url: str, folder, revision: str) -> None:
    app = app_on(url, folder)
    with app.app_context():
        upgrade(revision=revision)
        db.engine.dispose()


def readyz(app, headers=None) -> tuple[int, dict]:
    with app.app_context():
        answer = app.test_client().get("/readyz", headers=headers or {})
        db.engine.dispose()
    return answer.status_code, answer.get_json()


def test_readyz_says_the_database_answers_without_a_schema_and_how_to_make_it(empty_database, tmp_path):
    app = app_on(empty_database, tmp_path)

    status, anonymous = readyz(app)
    _, monitored = readyz(app, AS_MONITOR)

    assert status == 503
    assert anonymous["checks"]["database"] == "ok" and anonymous["checks"]["schema"] == "failing"
    assert "reason" not in anonymous and not re.search(r"\d", str(anonymous))
    assert monitored["reason"] == (
        f"the database schema is at revision none, this code needs {HEAD}: run `{UPGRADE}`"
    )


def test_readyz_says_an_older_schema_is_behind(empty_database, tmp_path):
    upgraded_to(empty_database, tmp_path, "0003")

    status, body = readyz(app_on(empty_database, tmp_path), AS_MONITOR)

    assert status == 503 and body["checks"]["schema"] == "failing"
    assert body["reason"].startswith(f"the database schema is at revision 0003, this code needs {HEAD}")


@pytest.fixture
def stamped_ahead(database_url) -> Iterator[str]:
    """The test database, its schema stamped with a revision newer code would have made."""

    def stamp(revision: str) -> None:
        engine = create_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
        engine.dispose()

    stamp("9999")
    yield database_url
    stamp(HEAD)  # PostgreSQL's test database is kept for the next test


def test_a_schema_ahead_of_the_code_is_served(stamped_ahead, tmp_path, caplog):
    """Upgrading runs the new code's migrations while the old code still serves (docs/operations.md)."""
    status, body = readyz(app_on(stamped_ahead, tmp_path))

    assert status == 200 and body["checks"]["schema"] == "ok"
    assert f"revision 9999, which this code's migrations (head {HEAD}) do not know" in caplog.text


def test_the_schema_s_revision_is_read_once_a_process_while_it_is_current(database_url, tmp_path):
    app = app_on(database_url, tmp_path)
    client = app.test_client()
    asked = []
    with app.app_context():
        for page in ("/book", "/readyz", "/book"):
            with statements_run(db.engine) as run:
                assert client.get(page).status_code == 200
            asked.append(any("alembic_version" in statement for statement in run))
        db.engine.dispose()

    assert asked == [True, False, False]


def test_the_worker_refuses_a_database_without_the_schema_in_one_line(empty_database, tmp_path):
    env = {
        **os.environ,
        "CLINIC_ENV": "testing",
        "CLINIC_DATABASE_URL": empty_database,
        "CLINIC_INSTANCE_PATH": str(tmp_path / "worker"),
    }
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "clinic", "worker"]

    ran = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert ran.returncode == REFUSED_TO_START  # which systemd does not restart (test_systemd_units.py)
    assert ran.stderr.strip() == (
        f"Error: the database schema is at revision none, this code needs {HEAD}: run `{UPGRADE}`"
    ), ran.stderr


def test_flask_db_upgrade_still_builds_the_schema_of_an_empty_database(empty_database, tmp_path):
    """The refusals are where serving starts, never in create_app(), which `flask db upgrade` runs too."""
    env = {**os.environ, "CLINIC_DATABASE_URL": empty_database, "CLINIC_INSTANCE_PATH": str(tmp_path)}
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"]

    subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)

    assert readyz(app_on(empty_database, tmp_path))[1]["checks"]["schema"] == "ok"


@pytest.fixture
def missing_database(tmp_path) -> str:
    """The URL of a database that does not exist, with a password in it: on SQLite, a file in a folder
    that is not there."""
    if not on_postgres():
        return f"sqlite:///{tmp_path}/no-such-folder/clinic.sqlite"
    url = make_url(GIVEN_PG_URL).set(database="clinic_no_such_database", password=PASSWORD)
    return url.render_as_string(hide_password=False)


MISSING = re.compile(r'database "clinic_no_such_database" does not exist|unable to open database file')


def test_readyz_tells_the_monitor_what_the_driver_said_of_a_missing_database(missing_database, tmp_path):
    status, body = readyz(app_on(missing_database, tmp_path), AS_MONITOR)

    assert status == 503 and body["checks"]["database"] == "failing"
    assert body["reason"].startswith("the database does not answer: OperationalError: ")
    assert MISSING.search(body["reason"]), body["reason"]
    assert PASSWORD not in body["reason"] and "://" not in body["reason"]


def test_the_worker_logs_what_the_driver_said_of_a_missing_database(missing_database, tmp_path, caplog):
    from clinic.jobs.worker import Worker

    app = app_on(missing_database, tmp_path)
    worker = Worker(app)

    assert worker.through_outages(worker.register)() is False

    line = next(record.getMessage() for record in caplog.records if "out of reach" in record.getMessage())
    assert line.startswith("the database is out of reach (OperationalError: "), line
    assert MISSING.search(line), line
    assert PASSWORD not in caplog.text and "://" not in caplog.text


def started_in_production(url: str, folder, monkeypatch, caplog) -> list[str]:
    """The log lines of a production app's start on `url`, at INFO and above."""
    monkeypatch.setenv("CLINIC_ENV", "production")
    monkeypatch.setenv("CLINIC_INSTANCE_PATH", str(folder))
    caplog.set_level(logging.INFO, logger="clinic")
    app = create_app(production_config(url))
    with app.app_context():
        db.engine.dispose()
    return [record.getMessage() for record in caplog.records if "audit chain" in record.getMessage()]


def test_the_audit_key_unchecked_at_start_on_an_unmigrated_database_says_to_upgrade_it(
    empty_database, tmp_path, monkeypatch, caplog
):
    lines = started_in_production(empty_database, tmp_path, monkeypatch, caplog)

    assert lines == [
        "the audit chain's key was not checked at start: the database schema is at revision none, this code"
        f" needs {HEAD}: run `{UPGRADE}`"
    ]


def test_the_audit_key_unchecked_at_start_on_a_missing_database_gives_the_driver_s_words(
    missing_database, tmp_path, monkeypatch, caplog
):
    (line,) = started_in_production(missing_database, tmp_path, monkeypatch, caplog)

    assert line.startswith("the audit chain's key was not checked at start: the database does not answer"), (
        line
    )
    assert MISSING.search(line) and line.endswith("; it is checked at each audited change instead"), line
    assert PASSWORD not in line


@pytest.mark.parametrize(
    ("path", "kind"), [("/book", "text/html"), ("/api/v1/services", "application/problem+json")]
)
def test_pages_of_a_server_whose_database_lost_its_schema_answer_503_and_it_is_logged_once(
    empty_database, tmp_path, caplog, path, kind
):
    """gunicorn started while the database did not answer (not a refusal: it may come back), and it came
    back without the schema: pages answered 500, reading tables that are not there."""
    app = app_on(empty_database, tmp_path)
    client = app.test_client()

    answers = [client.get(path) for _ in range(2)]
    with app.app_context():
        db.engine.dispose()

    assert [answer.status_code for answer in answers] == [503, 503]
    assert answers[0].mimetype == kind and answers[0].headers["Retry-After"]
    said = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert said == [
        f"pages answer 503: the database schema is at revision none, this code needs {HEAD}: run `{UPGRADE}`"
    ]
