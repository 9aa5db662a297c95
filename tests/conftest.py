"""Fixtures: a fresh app and database per test, on SQLite or (with CLINIC_TEST_DATABASE_URL) PostgreSQL.

The schema always comes from the Alembic migrations, never from create_all(), so the
tests run against exactly what `flask db upgrade` builds.
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import hypothesis
import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, event, make_url, text

from clinic import create_app
from clinic.extensions import db
from clinic.models.schema_revision import schema_check
from clinic.production import UnsafeProductionConfig
from clinic.scheduling.tokens import LinkKeys
from config import ProductionConfig, defaults

# Speed is measured in bench/, never by a test: on a busy machine (CI, two pytest workers) a property
# must not fail on Hypothesis's default 200 ms per example alone.
hypothesis.settings.register_profile("clinic", deadline=None)
hypothesis.settings.load_profile("clinic")

GIVEN_PG_URL = os.environ.get("CLINIC_TEST_DATABASE_URL")


def _database_of_this_worker(url: str | None) -> str | None:
    """Under pytest-xdist (`make test` runs two workers) each worker has a PostgreSQL database of its
    own, named after the given one: `test` becomes `test_gw0`, `test_gw1`."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    given = make_url(url)
    return given.set(database=f"{given.database}_{worker}").render_as_string(hide_password=False)


PG_URL = _database_of_this_worker(GIVEN_PG_URL)
TEST_SECRET = "test-secret-key"
# Seconds gunicorn lets a worker be silent before it kills it (gunicorn.conf.py's `timeout`): a request
# waiting for a server that never answers must be answered well before.
GUNICORN_TIMEOUT = 30
# The link keys of every test app (derived from TEST_SECRET, as CLINIC_MANAGE_TOKEN_KEY is unset).
TEST_KEYS = LinkKeys.from_config({**defaults(), "SECRET_KEY": TEST_SECRET, "MANAGE_TOKEN_KEY": None})


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the group to name it in each test's id
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests share one live app and one Chromium per worker: under pytest-xdist's
    `--dist loadgroup` they all go to the same worker, which starts them once."""
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.xdist_group("browser"))


def on_postgres() -> bool:
    return bool(PG_URL)


def libpq_url(url: str) -> str:
    """The PostgreSQL database at SQLAlchemy's `url`, as psycopg.connect takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


postgres_only = pytest.mark.skipif(not PG_URL, reason="needs CLINIC_TEST_DATABASE_URL (PostgreSQL)")
sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="SQLite-specific")


def build_app(database_url: str, instance_path: str, **overrides):
    os.environ["CLINIC_INSTANCE_PATH"] = instance_path
    config = {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,  # tests of the limits turn them on
        **overrides,
    }
    return create_app(config)


# Production settings that pass every refusal (on SQLite too, allowed here as the tests run on it).
PRODUCTION_SETTINGS = {
    "SECRET_KEY": "a-long-random-production-secret-for-tests",
    "MANAGE_TOKEN_KEY": "a-long-random-manage-token-key-for-tests",
    "AUDIT_KEY": "a-long-random-audit-chain-key-for-tests",
    "MAIL_BACKEND": "smtp",
    "NOTES_KEY": "QkX2oSqe2fJ0l3b4sYx2E0mKqP3n8yJ7ZQmE4y2C1Ko=",
    "JITSI_BASE_URL": "https://video.hospital.example",
    "PUBLIC_BASE_URL": "https://clinic.hospital.example",
    "ALLOW_SQLITE": True,
}


@contextmanager
def statements_run(engine) -> Iterator[list[str]]:
    """The SQL of each statement SQLAlchemy executes on `engine` in the block (not those on the driver's
    path, clinic/models/driver.py)."""
    run: list[str] = []

    def record(_connection, _cursor, statement, *_rest) -> None:
        run.append(statement)

    with listening(engine, "before_cursor_execute", record):
        yield run


@contextmanager
def listening(target, name: str, listener) -> Iterator[None]:
    """`listener` hears `target`'s SQLAlchemy event `name` in the block."""
    event.listen(target, name, listener)
    try:
        yield
    finally:
        event.remove(target, name, listener)


def production_config(database_url: str, **settings) -> type:
    """A production config class that starts cleanly, for tests of production's refusals.

    Use with CLINIC_ENV=production set, so the development defaults are not loaded underneath.
    """
    defaults = {**PRODUCTION_SETTINGS, "SQLALCHEMY_DATABASE_URI": database_url}
    return type("Production", (ProductionConfig,), defaults | settings)


@pytest.fixture
def production(monkeypatch, tmp_path):
    """CLINIC_ENV=production, with the instance folder in the test's own."""
    monkeypatch.setenv("CLINIC_ENV", "production")
    monkeypatch.setenv("CLINIC_INSTANCE_PATH", str(tmp_path))


def production_refusals(database_url: str, **settings) -> list[str]:
    """What production refuses to start with: the clean settings, with these."""
    with pytest.raises(UnsafeProductionConfig) as refused:
        create_app(production_config(database_url, **settings))
    return refused.value.problems


def production_environment(database_url: str) -> dict[str, str]:
    """The same clean production settings as CLINIC_* variables, for a server started in a subprocess."""
    variables = {f"CLINIC_{name}": str(value) for name, value in PRODUCTION_SETTINGS.items()}
    return {**variables, "CLINIC_ENV": "production", "CLINIC_DATABASE_URL": database_url}


def _create_if_missing(url: str) -> None:
    """Create a worker's own database beside the given one, where it does not exist yet."""
    if url == GIVEN_PG_URL:
        return
    name = make_url(url).database
    engine = create_engine(GIVEN_PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}) is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def reset_postgres(url: str) -> None:
    _create_if_missing(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory) -> str:
    """A database upgraded to head once per run: a template file on SQLite, the test DB on PostgreSQL."""
    folder = tmp_path_factory.mktemp("template")
    if PG_URL:
        reset_postgres(PG_URL)
        url = PG_URL
    else:
        url = f"sqlite:///{folder}/template.sqlite"
    app = build_app(url, str(folder))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


@pytest.fixture
def database_url(migrated_database, tmp_path) -> str:
    if PG_URL:
        yield PG_URL
        _truncate_all(PG_URL)
        return
    path = tmp_path / "clinic.sqlite"
    shutil.copy(migrated_database.removeprefix("sqlite:///"), path)
    yield f"sqlite:///{path}"


def _truncate_all(url: str) -> None:
    from clinic.models import Base

    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def app(database_url, tmp_path):
    """An app as a gunicorn worker has it once started: its schema checked (clinic.health), so its first
    request asks no more than the next."""
    app = build_app(database_url, str(tmp_path / "instance"))
    with app.app_context():
        with db.engine.connect() as connection:
            schema_check(app).require_current(connection)
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def session(app):
    return db.session


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def now() -> datetime:
    """A fixed 'now': Monday 2 March 2026, 08:00 UTC."""
    return datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
