"""Production refuses to start with unsafe settings, naming every problem at once; safe settings start."""

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select

from clinic import audit, create_app
from clinic.extensions import db
from clinic.models import AuditEvent
from clinic.models.transactions import write_transaction
from clinic.production import UnsafeProductionConfig

from .conftest import PRODUCTION_SETTINGS, production_config, production_environment
from .conftest import production_refusals as refusals

ROOT = Path(__file__).resolve().parent.parent

NOW = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
JWT_SECRET = "the-jitsi-servers-jwt-secret-for-the-tests"
FORMER_AUDIT_KEY = "the-audit-key-in-use-before-the-rotation"


def made_key(name: str) -> str:
    """A key production takes, named (never one character repeated, "f" * 40: no random value)."""
    return f"{name}-a-key-made-for-the-production-tests"


ZOOM = {"ZOOM_ACCOUNT_ID": "acct", "ZOOM_CLIENT_ID": "client", "ZOOM_CLIENT_SECRET": "zoom-secret"}


def test_a_safe_production_config_starts(production, database_url):
    app = create_app(production_config(database_url))

    assert app.test_client().get("/healthz").status_code == 200


def test_every_problem_is_named_at_once_without_showing_a_secret(production, tmp_path):
    found = refusals(
        f"sqlite:///{tmp_path}/clinic.sqlite",
        SECRET_KEY="short-secret",
        MANAGE_TOKEN_KEY="short-manage-key",
        AUDIT_KEY=None,
        NOTES_KEY=None,
        MAIL_BACKEND="file",
        ALLOW_SQLITE=False,
        MEETING_PROVIDER="teams",
        JITSI_BASE_URL="https://meet.jit.si",
    )

    named = [
        "SECRET_KEY",
        "MANAGE_TOKEN_KEY",
        "AUDIT_KEY",
        "NOTES_KEY",
        "DATABASE_URL",
        "MAIL_BACKEND",
        "TEAMS",
        "JITSI",
    ]
    assert len(found) == len(named)
    for setting, problem in zip(named, found, strict=True):
        assert setting in problem
    assert "short-secret" not in str(found) and "short-manage-key" not in str(found)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"SECRET_KEY": "dev-only-not-secret"}, "CLINIC_SECRET_KEY"),
        ({"SECRET_KEY": "x" * 31}, "CLINIC_SECRET_KEY"),
        ({"SECRET_KEY": ""}, "CLINIC_SECRET_KEY"),
        ({"MANAGE_TOKEN_KEY": None}, "CLINIC_MANAGE_TOKEN_KEY"),
        ({"MANAGE_TOKEN_KEY": "short"}, "CLINIC_MANAGE_TOKEN_KEY"),
        ({"MANAGE_TOKEN_KEY": ",,"}, "CLINIC_MANAGE_TOKEN_KEY"),
        ({"AUDIT_KEY": None}, "CLINIC_AUDIT_KEY"),
        ({"AUDIT_KEY": "a" * 31}, "CLINIC_AUDIT_KEY"),
        ({"AUDIT_KEY_FALLBACKS": [FORMER_AUDIT_KEY, "a-former-key"]}, "key 2 of CLINIC_AUDIT_KEY_FALLBACKS"),
        ({"SECRET_KEY_FALLBACKS": ["a-former-secret-key"]}, "key 1 of CLINIC_SECRET_KEY_FALLBACKS is 19"),
        ({"NOTES_KEY": None}, "CLINIC_NOTES_KEY"),
        ({"MAIL_BACKEND": "file"}, "CLINIC_MAIL_BACKEND"),
        ({"MAIL_BACKEND": "File "}, "CLINIC_MAIL_BACKEND"),
        (
            {"SMTP_HOST": "smtp.hospital.example", "SMTP_TLS": "none"},
            "CLINIC_SMTP_TLS is none to smtp.hospital",
        ),
        (
            {"SMTP_HOST": "smtp.hospital.example", "SMTP_TLS": "NONE"},
            "CLINIC_SMTP_TLS is none to smtp.hospital",
        ),
        ({"PUBLIC_BASE_URL": "http://127.0.0.1:5000"}, "CLINIC_PUBLIC_BASE_URL is not set"),
        (
            {"PUBLIC_BASE_URL": "http://127.0.0.1:5000", "ALLOW_HTTP_LINKS": True},
            "CLINIC_PUBLIC_BASE_URL is not",
        ),
        ({"PUBLIC_BASE_URL": "http://clinic.hospital.example"}, "CLINIC_ALLOW_HTTP_LINKS"),
        ({"MEETING_PROVIDER": "teams"}, "CLINIC_TEAMS_CLIENT_SECRET"),
        ({"MEETING_PROVIDER": "zoom", "ZOOM_CLIENT_SECRET": None}, "CLINIC_ZOOM_CLIENT_SECRET"),
        ({"MEETING_PROVIDER": "webhook", "WEBHOOK_URL": "https://meet.hospital.example"}, "WEBHOOK_SECRET"),
        (
            {"MEETING_PROVIDER": "zoom", **ZOOM, "MEETING_FALLBACK_PROVIDER": "teams"},
            "FALLBACK_PROVIDER is teams",
        ),
        ({"JITSI_APP_ID": "clinic", "JITSI_APP_SECRET": None}, "CLINIC_JITSI_APP_SECRET"),
        ({"JITSI_BASE_URL": "https://meet.jit.si"}, "CLINIC_ALLOW_PUBLIC_JITSI"),
        ({"MEETING_PROVIDER": "zoom", **ZOOM, "JITSI_BASE_URL": "https://meet.jit.si/"}, "FALLBACK_PROVIDER"),
    ],
)
def test_production_refuses_an_unsafe_setting_by_name(production, database_url, settings, named):
    found = refusals(database_url, **settings)

    assert len(found) == 1 and named in found[0]


def test_production_refuses_sqlite_unless_allowed(production, tmp_path):
    sqlite = f"sqlite:///{tmp_path}/clinic.sqlite"

    assert "CLINIC_ALLOW_SQLITE" in refusals(sqlite, ALLOW_SQLITE=False)[0]
    assert create_app(production_config(sqlite, ALLOW_SQLITE=True))


@pytest.mark.parametrize(
    "settings",
    [
        {"SMTP_HOST": "localhost", "SMTP_TLS": "none"},
        {"SMTP_HOST": "127.0.0.1", "SMTP_TLS": "none"},
        {"SMTP_HOST": "::1", "SMTP_TLS": "none"},
        {"SMTP_HOST": "smtp.hospital.example", "SMTP_TLS": "starttls"},
        {"JITSI_BASE_URL": "https://meet.jit.si", "ALLOW_PUBLIC_JITSI": True},
        {"JITSI_BASE_URL": "https://meet.jit.si", "JITSI_APP_ID": "clinic", "JITSI_APP_SECRET": JWT_SECRET},
        {"MEETING_PROVIDER": "zoom", **ZOOM},
        {"MEETING_PROVIDER": "zoom", **ZOOM, "MEETING_FALLBACK_PROVIDER": ""},  # no fallback
        {"PUBLIC_BASE_URL": "http://clinic.hospital.example", "ALLOW_HTTP_LINKS": True},
        {"PUBLIC_BASE_URL": "https://clinic.hospital.example/appointments/"},
    ],
)
def test_production_starts_with_these_safe_choices(production, database_url, settings):
    assert create_app(production_config(database_url, **settings))


def test_production_tells_browsers_to_use_https_only(production, database_url):
    app = create_app(production_config(database_url))

    answer = app.test_client().get("/healthz")

    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_development_sends_no_hsts_as_it_runs_on_plain_http(client):
    assert "Strict-Transport-Security" not in client.get("/healthz").headers


def start_production(
    variables: dict[str, str],
    tmp_path: Path,
    command: str = "from wsgi import app; print(len(app.config['SECRET_KEY']))",
) -> subprocess.CompletedProcess:
    """Import wsgi.py as gunicorn does with these CLINIC_* variables: run `command`."""
    env = {**os.environ, **variables, "CLINIC_INSTANCE_PATH": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_secrets_may_come_from_files_named_by_file_settings(database_url, tmp_path):
    variables = production_environment(database_url)
    for name, value in [("SECRET_KEY", made_key("s") + "\n"), ("MANAGE_TOKEN_KEY", made_key("m"))]:
        (tmp_path / name).write_text(value)
        variables[f"CLINIC_{name}_FILE"] = str(tmp_path / name)
        del variables[f"CLINIC_{name}"]

    started = start_production(variables, tmp_path)

    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == str(len(made_key("s")))  # the file's contents, without its final newline


def test_a_secret_given_both_inline_and_as_a_file_is_refused(database_url, tmp_path):
    (tmp_path / "secret_key").write_text(made_key("s"))
    variables = {
        **production_environment(database_url),
        "CLINIC_SECRET_KEY_FILE": str(tmp_path / "secret_key"),
    }

    started = start_production(variables, tmp_path)

    assert started.returncode != 0
    assert "set CLINIC_SECRET_KEY or CLINIC_SECRET_KEY_FILE, not both" in started.stderr


def test_audit_key_fallbacks_come_from_the_environment_or_a_file_comma_separated(database_url, tmp_path):
    (tmp_path / "fallbacks").write_text(made_key("f") + ", " + made_key("g") + "\n")
    variables = {
        **production_environment(database_url),
        "CLINIC_AUDIT_KEY_FALLBACKS_FILE": str(tmp_path / "fallbacks"),
    }
    expected = [made_key("f"), made_key("g")]
    command = f"from wsgi import app; print(app.config['AUDIT_KEY_FALLBACKS'] == {expected})"

    started = start_production(variables, tmp_path, command)

    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "True"


def test_production_names_each_clinic_variable_no_setting_reads(database_url, tmp_path, monkeypatch, caplog):
    """A misspelt or renamed setting (CLINIC_SQLITE_LOCK_WAIT is now CLINIC_DATABASE_LOCK_WAIT) would
    otherwise be ignored without a word."""
    monkeypatch.setenv("CLINIC_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("CLINIC_ENV", "production")
    monkeypatch.setenv("CLINIC_SQLITE_LOCK_WAIT", "5")
    monkeypatch.setenv("CLINIC_SMTP_HOTS", "mail.hospital.example")
    monkeypatch.setenv("CLINIC_DATABASE_LOCK_WAIT", "5")
    monkeypatch.setenv("CLINIC_AUDIT_KEY_FILE", str(tmp_path / "unused"))  # a setting's file form
    monkeypatch.setattr(logging.getLogger("clinic"), "disabled", False)  # Alembic's log config

    with caplog.at_level(logging.WARNING, logger="clinic"):
        create_app(production_config(database_url))

    named = {record.args[0] for record in caplog.records if "is not a setting" in record.getMessage()}
    assert {"CLINIC_SQLITE_LOCK_WAIT", "CLINIC_SMTP_HOTS"} <= named
    assert not {"CLINIC_DATABASE_LOCK_WAIT", "CLINIC_AUDIT_KEY_FILE", "CLINIC_INSTANCE_PATH"} & named


def test_every_key_list_is_read_with_spaces_around_each_key_and_blank_items_dropped(database_url, tmp_path):
    """`old1, old2` is two keys, the second without its space: kept with it, that key matched nothing, and
    the sessions and TOTP codes it opened were refused."""
    variables = {
        **production_environment(database_url),
        "CLINIC_SECRET_KEY_FALLBACKS": f"{made_key('f')}, {made_key('g')} ,",
        "CLINIC_AUDIT_KEY_FALLBACKS": f" {made_key('h')},, {made_key('i')}",
        "CLINIC_MANAGE_TOKEN_KEY": f"{made_key('m')}, {made_key('n')},",
    }
    command = (
        "from wsgi import app; from clinic.keys import secret_keys; "
        "from clinic.scheduling.tokens import LinkKeys; "
        "print(secret_keys(app.config)[1:], app.config['AUDIT_KEY_FALLBACKS'], "
        "LinkKeys.from_config(app.config).keys)"
    )

    started = start_production(variables, tmp_path, command)

    assert started.returncode == 0, started.stderr
    expected = (
        (made_key("f"), made_key("g")),
        [made_key("h"), made_key("i")],
        (made_key("m"), made_key("n")),
    )
    assert started.stdout.strip() == " ".join(repr(keys) for keys in expected)


@pytest.mark.parametrize(
    ("secret_key", "said"),
    [
        (
            "dev-only-not-secret",
            "CLINIC_SECRET_KEY is the development default: set a random value of at least 32",
        ),
        ("", "CLINIC_SECRET_KEY is not set: set a random value of at least 32 bytes"),
        (None, "CLINIC_SECRET_KEY is not set: set a random value of at least 32 bytes"),
        ("short", "CLINIC_SECRET_KEY is 5 bytes long: set a random value of at least 32 bytes"),
    ],
)
def test_a_secret_key_refused_is_told_what_is_wrong_with_it(production, database_url, secret_key, said):
    """A short key was told 'not the default', which it was not."""
    found = refusals(database_url, SECRET_KEY=secret_key)

    assert len(found) == 1 and found[0].startswith(said), found


def chain_one_event(app) -> str:
    """An audited change made by `app`; the key id that signed it."""
    with app.app_context():
        with write_transaction(db.session):
            event = audit.record(
                db.session, audit.SYSTEM, "test.event", entity_type="test", entity_id=1, now=NOW
            )
        db.session.remove()
        db.engine.dispose()
    return event.key_id


def test_production_refuses_to_start_on_a_chain_whose_latest_key_is_not_configured(production, database_url):
    """CLINIC_AUDIT_KEY changed without the former key among the fallbacks (forgotten, or mistyped): the
    first audited change would hand the chain over to the new key, and nothing could verify it again."""
    former = chain_one_event(create_app(production_config(database_url, AUDIT_KEY=FORMER_AUDIT_KEY)))

    found = refusals(database_url, AUDIT_KEY_FALLBACKS=["a-mistyped-former-audit-key-for-the-tests"])

    assert len(found) == 1
    assert f"is signed by key id {former}, which is not configured" in found[0]
    assert "CLINIC_AUDIT_KEY_FALLBACKS" in found[0]
    assert FORMER_AUDIT_KEY not in found[0] and PRODUCTION_SETTINGS["AUDIT_KEY"] not in found[0]


def test_production_starts_after_a_rotation_that_keeps_the_former_key_and_hands_the_chain_over(
    production, database_url
):
    chain_one_event(create_app(production_config(database_url, AUDIT_KEY=FORMER_AUDIT_KEY)))
    app = create_app(production_config(database_url, AUDIT_KEY_FALLBACKS=[FORMER_AUDIT_KEY]))

    chain_one_event(app)

    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions == ["test.event", audit.KEY_ROTATED, "test.event"]
        assert isinstance(audit.verify(db.session), audit.Verified)
        db.session.remove()
        db.engine.dispose()


def test_development_warns_of_a_chain_whose_latest_key_is_not_configured(
    database_url, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("CLINIC_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("CLINIC_ENV", "development")
    monkeypatch.setattr(logging.getLogger("clinic"), "disabled", False)  # Alembic's log config
    settings = {"SQLALCHEMY_DATABASE_URI": database_url}
    former = chain_one_event(create_app({**settings, "AUDIT_KEY": FORMER_AUDIT_KEY}))

    with caplog.at_level(logging.WARNING, logger="clinic"):
        app = create_app({**settings, "AUDIT_KEY": PRODUCTION_SETTINGS["AUDIT_KEY"]})

    warned = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any(f"signed by key id {former}, which is not configured" in message for message in warned)
    with app.app_context():
        db.engine.dispose()


def test_production_starts_on_a_database_not_migrated_yet_so_that_it_can_be_migrated(production, tmp_path):
    app = create_app(production_config(f"sqlite:///{tmp_path}/new.sqlite"))

    with app.app_context():
        upgrade()
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0
        db.session.remove()
        db.engine.dispose()


def test_a_blank_setting_beside_its_file_setting_is_unset(database_url, tmp_path):
    """The example env file leaves CLINIC_SECRET_KEY= blank; with CLINIC_SECRET_KEY_FILE set beside it the
    start was refused as 'not both', though a blank value keeps the default."""
    (tmp_path / "secret_key").write_text(made_key("s") + "\n")
    variables = {
        **production_environment(database_url),
        "CLINIC_SECRET_KEY": "",
        "CLINIC_SECRET_KEY_FILE": str(tmp_path / "secret_key"),
        "CLINIC_AUDIT_KEY_FILE": " ",
    }

    started = start_production(variables, tmp_path)

    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == str(len(made_key("s")))


def test_spaces_around_a_host_name_or_an_id_are_not_part_of_it(production, database_url):
    """CLINIC_SMTP_HOST="127.0.0.1 " was refused as a remote relay without TLS, naming '127.0.0.1 '."""
    app = create_app(
        production_config(
            database_url,
            SMTP_HOST="127.0.0.1 ",
            SMTP_TLS="none",
            SMTP_USERNAME=" clinic\n",
            INVITE_DOMAIN=" hospital.example",
            SMTP_PASSWORD=" pass phrase ",
        )
    )

    assert (app.config["SMTP_HOST"], app.config["SMTP_USERNAME"], app.config["INVITE_DOMAIN"]) == (
        "127.0.0.1",
        "clinic",
        "hospital.example",
    )
    assert app.config["SMTP_PASSWORD"] == " pass phrase "  # a password may hold any character, spaces too


def test_production_starts_on_a_chain_whose_latest_key_is_declared_lost_and_records_the_break(
    production, database_url, monkeypatch, caplog
):
    """The former key truly lost: CLINIC_AUDIT_LOST_KEY_IDS lets Clinic start again, with one warning naming
    the key id; the next audited change first records audit.key_declared_lost, then the change."""
    lost = chain_one_event(create_app(production_config(database_url, AUDIT_KEY=FORMER_AUDIT_KEY)))
    assert f"CLINIC_AUDIT_LOST_KEY_IDS={lost}" in refusals(database_url)[0]  # the way out, named
    monkeypatch.setattr(logging.getLogger("clinic"), "disabled", False)  # Alembic's log config
    never_used = "0123456789abcdef"

    with caplog.at_level(logging.WARNING, logger="clinic"):
        app = create_app(production_config(database_url, AUDIT_LOST_KEY_IDS=[lost, never_used]))

    with app.app_context():
        head = db.session.scalar(select(func.max(AuditEvent.id)))
        db.session.remove()
    warned = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert [message for message in warned if lost in message] == [
        f"the audit key with key id {lost} is declared lost (CLINIC_AUDIT_LOST_KEY_IDS): the next audited "
        f"change records audit.key_declared_lost after event {head}, and the events that key signed "
        "cannot be verified"
    ]
    assert [message for message in warned if never_used in message] == [
        f"CLINIC_AUDIT_LOST_KEY_IDS names key id {never_used}, which signed neither the audit chain's latest "
        "event nor any events a key handover in it names: ignored"
    ]
    chain_one_event(app)
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions == ["test.event", audit.KEY_DECLARED_LOST, "test.event"]
        result = audit.verify(db.session)
        assert isinstance(result, audit.Verified)
        assert [(lost_events.key_id, lost_events.last_id) for lost_events in result.lost] == [(lost, head)]
        db.session.remove()
        db.engine.dispose()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="clinic"):  # declared in the chain now: no warning
        again = create_app(production_config(database_url, AUDIT_LOST_KEY_IDS=[lost]))
    assert not [record for record in caplog.records if lost in record.getMessage()]
    with again.app_context():
        db.engine.dispose()


def test_a_key_id_declared_lost_that_is_not_the_heads_does_not_lift_the_refusal(production, database_url):
    former = chain_one_event(create_app(production_config(database_url, AUDIT_KEY=FORMER_AUDIT_KEY)))

    found = refusals(database_url, AUDIT_LOST_KEY_IDS=["0123456789abcdef"])

    assert len(found) == 1 and f"is signed by key id {former}, which is not configured" in found[0]


def test_wrong_values_and_production_refusals_are_named_in_one_round(production, database_url):
    """An admin fixed the values their kinds refused, restarted, and only then learnt production's own
    refusals: now both come at once, one restart fixing all."""
    with pytest.raises(UnsafeProductionConfig) as refused:
        create_app(production_config(database_url, SMTP_PORT="abc", SECRET_KEY="short", MAIL_BACKEND="file"))

    found = refused.value.problems
    assert [problem.split(" ")[0] for problem in found] == [
        "CLINIC_SMTP_PORT",
        "CLINIC_SECRET_KEY",
        "CLINIC_MAIL_BACKEND",
    ], found
    assert str(refused.value).startswith("refusing to start in production:")


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"SQLALCHEMY_DATABASE_URI": "the clinic database"}, "CLINIC_DATABASE_URL must be"),
        ({"MEETING_PROVIDER": "skype"}, "CLINIC_MEETING_PROVIDER must be"),
        ({"PUBLIC_BASE_URL": "http://[::1"}, "CLINIC_PUBLIC_BASE_URL must be"),
        ({"NOTES_KEY": "not-a-fernet-key"}, "CLINIC_NOTES_KEY must be"),
    ],
)
def test_a_value_its_kind_refuses_is_not_checked_further(production, database_url, settings, named):
    """What production checks of a setting reads its value; one its kind refused is named once, by it."""
    found = refusals(database_url, MAIL_BACKEND="file", **settings)

    assert len(found) == 2 and found[0].startswith(named) and "CLINIC_MAIL_BACKEND" in found[1], found


START_WARNINGS = ("CLINIC_REQUIRE_ADMIN_MFA", "CLINIC_RATELIMIT_STORAGE_URL", "CLINIC_DATABASE_LOCK_WAIT")


def start_warnings(caplog, monkeypatch, database_url: str, **settings) -> list[str]:
    """The warnings a production start logs about these settings (over clean ones)."""
    monkeypatch.setattr(logging.getLogger("clinic"), "disabled", False)  # Alembic's log config
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="clinic"):
        create_app(production_config(database_url, **settings))
    messages = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    return [message for message in messages if message.startswith(START_WARNINGS)]


@pytest.mark.parametrize(
    ("settings", "warned"),
    [
        ({"REQUIRE_ADMIN_MFA": "0"}, "CLINIC_REQUIRE_ADMIN_MFA is off: admins sign in with a password alone"),
        ({"RATELIMIT_STORAGE_URL": "memory://"}, "CLINIC_RATELIMIT_STORAGE_URL is memory://"),
        ({"DATABASE_LOCK_WAIT": "30"}, "CLINIC_DATABASE_LOCK_WAIT is 30 seconds, not under gunicorn's"),
        ({"DATABASE_LOCK_WAIT": "45.5"}, "CLINIC_DATABASE_LOCK_WAIT is 45.5 seconds, not under gunicorn's"),
    ],
)
def test_production_warns_at_start_of_a_choice_that_weakens_it(
    production, database_url, caplog, monkeypatch, settings, warned
):
    """Allowed, as a hospital may choose so, but never without a word: each went unmentioned (memory://
    was called 'not set' when set so)."""
    redis = {"RATELIMIT_STORAGE_URL": "redis://127.0.0.1:6379/0"}
    found = start_warnings(caplog, monkeypatch, database_url, **{**redis, **settings})

    assert len(found) == 1 and found[0].startswith(warned), found


def test_production_with_its_safe_choices_warns_of_none(production, database_url, caplog, monkeypatch):
    safe = {"RATELIMIT_STORAGE_URL": "redis://127.0.0.1:6379/0", "DATABASE_LOCK_WAIT": "29"}

    assert start_warnings(caplog, monkeypatch, database_url, **safe) == []
