"""Every setting is read by its kind, wherever its value comes from: a value that is not one the setting
takes stops the start with a message naming the variable and what it takes, every such value at once,
and never a traceback; a choice is read in any case and with spaces around it."""

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import hypothesis
import pytest
from hypothesis import strategies as st

import config
from clinic import create_app, production
from clinic.meetings.base import PROVIDER_NAMES
from clinic.models import StaffRole
from clinic.production import UnsafeProductionConfig

from .conftest import PRODUCTION_SETTINGS, build_app

ROOT = Path(__file__).resolve().parent.parent

# A value each setting does not take, by the name the README gives it (CLINIC_<name>).
WRONG = {
    "ENV": "prod",
    "DATABASE_URL": "the clinic database",
    "ALLOW_SQLITE": "maybe",
    "DATABASE_LOCK_WAIT": "10s",
    "DATABASE_CONNECT_TIMEOUT": "1",
    "DATABASE_NETWORK_TIMEOUT": "ten",
    "TRUSTED_PROXIES": "-1",
    "HSTS_SECONDS": "abc",
    "LOG_FORMAT": "xml",
    "LOG_LEVEL": "VERBOSE",
    "DEFAULT_TIME_ZONE": "London",
    "BOOKING_DAYS_SHOWN": "0",
    "MAX_ACTIVE_BOOKINGS_PER_EMAIL": "three",
    "MANAGE_LINK_GRACE_DAYS": "7d",
    "MAX_CONTENT_LENGTH": "64k",
    "MEETING_PROVIDER": "skype",
    "MEETING_FALLBACK_PROVIDER": "Skype",
    "PROVIDER_CONNECT_TIMEOUT": "3s",
    "PROVIDER_READ_TIMEOUT": "nan",
    "JITSI_BASE_URL": "meet.hospital.example",
    "ALLOW_PUBLIC_JITSI": "yes please",
    "TEAMS_AUTHORITY_URL": "login.microsoftonline.com",
    "GRAPH_BASE_URL": "ftp://graph.microsoft.com/v1.0",
    "ZOOM_OAUTH_URL": "https://",
    "ZOOM_API_BASE_URL": "api.zoom.us/v2",
    "WEBHOOK_URL": "meet.hospital.example/meetings",
    "MAIL_BACKEND": "sendmail",
    "SMTP_PORT": "abc",
    "SMTP_TLS": "tls",
    "SMTP_TIMEOUT": "-1",
    "MAIL_FROM": "Clinic",
    "MAIL_SMTPUTF8": "sometimes",
    "PUBLIC_BASE_URL": "clinic.hospital.example",
    "ALLOW_HTTP_LINKS": "if need be",
    "REMINDER_OFFSETS": "1day",
    "MEETING_FALLBACK_AFTER": "2 hours",
    "OUTBOX_TICK_SECONDS": "0",
    "OUTBOX_BATCH_SIZE": "0",
    "OUTBOX_LEASE_SECONDS": "2m",
    "OUTBOX_MAX_ATTEMPTS": "ten",
    "OUTBOX_RETRY_BASE_SECONDS": "-5",
    "OUTBOX_RETRY_MAX_SECONDS": "15m",
    "WAITLIST_OFFERS_PER_TIME": "0",
    "WAITLIST_OFFER_LIFETIME": "forever",
    "WAITLIST_OFFER_DAY_STARTS": "24",
    "WAITLIST_OFFER_DAY_ENDS": "0",
    "JOIN_WINDOW_MINUTES": "15m",
    "JOIN_GRACE_MINUTES": "half an hour",
    "NOSHOW_AFTER_MINUTES": "-30",
    "NOSHOW_GRACE_MINUTES": "ten",
    "WALK_IN_ANSWER_MINUTES": "3m",
    "WALK_IN_MINUTES_PER_CALLER": "inf",
    "WALK_IN_REFRESH_SECONDS": "0",
    "RETENTION_PATIENT_DAYS": "2y",
    "RETENTION_REASON_DAYS": "1.5",
    "RETENTION_IDEMPOTENCY_DAYS": "a week",
    "RETENTION_OUTBOX_DAYS": "-1",
    "RETENTION_WAITLIST_DAYS": "0",
    "RETENTION_WALK_IN_DAYS": "a month",
    "PATIENT_SESSION_IDLE_MINUTES": "2880",
    "STAFF_IDLE_MINUTES": "30m",
    "STAFF_SESSION_HOURS": "12h",
    "LOGIN_MAX_FAILURES_PER_ADDRESS": "0",
    "LOGIN_FAILURE_WINDOW_MINUTES": "15 minutes",
    "STAFF_MAX_FAILED_LOGINS": "twenty",
    "STAFF_LOCKOUT_MINUTES": "-15",
    "RATELIMIT_ENABLED": "sometimes",
    "RATELIMIT_BOOKING": "ten a minute",
    "RATELIMIT_SLOT_SEARCH": "300/minute/hour",
    "RATELIMIT_WALK_IN": "5 per fortnight",
    "RATELIMIT_MANAGE_LINK": "sixty per minute",
    "RATELIMIT_WALK_IN_STATUS": "600 per",
    "RATELIMIT_ROOM_STATUS": "every minute",
    "RATELIMIT_API": "unlimited",
    "RATELIMIT_STAFF_LOGIN": "60 per minute;",
    "RATELIMIT_STORAGE_URL": "redis//127.0.0.1:6379",
    "NOTES_KEY": "not-a-fernet-key",
    "NOTES_ROLES": "nurse",
    "REQUIRE_ADMIN_MFA": "2",
    "START_WARNINGS": "quiet",
}
# Text any value of which is taken (names, secrets, paths, addresses); production checks the secrets.
FREE_TEXT = {
    "INSTANCE_PATH",
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "MANAGE_TOKEN_KEY",
    "READYZ_TOKEN",
    "HOSPITAL_NAME",
    "PRIVACY_NOTICE_VERSION",
    "PRIVACY_CONTROLLER_NAME",
    "PRIVACY_CONTROLLER_CONTACT",
    "PRIVACY_DPO_CONTACT",
    "JITSI_APP_ID",
    "JITSI_APP_SECRET",
    "TEAMS_TENANT_ID",
    "TEAMS_CLIENT_ID",
    "TEAMS_CLIENT_SECRET",
    "TEAMS_ORGANIZER_ID",
    "ZOOM_ACCOUNT_ID",
    "ZOOM_CLIENT_ID",
    "ZOOM_CLIENT_SECRET",
    "ZOOM_USER_ID",
    "WEBHOOK_SECRET",
    "SMTP_HOST",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "INVITE_DOMAIN",
    "WALK_IN_EMERGENCY_NOTICE",
    "AUDIT_KEY",
    "AUDIT_KEY_FALLBACKS",
    "AUDIT_LOST_KEY_IDS",
    "AUDIT_ANCHOR_PATH",
    "DEMO_PASSWORD",
}
# wsgi.py's exit status for settings it refuses (importing wsgi here would build its app).
APP_LOAD_ERROR = 4
# Where the app's config calls a setting by another name than its variable.
CONFIG_KEY = {"DATABASE_URL": "SQLALCHEMY_DATABASE_URI"}


def readme_settings() -> list[str]:
    """The <name> of every CLINIC_<name> in the README's settings table."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- settings-table -->")[1].split("<!-- /settings-table -->")[0]
    return re.findall(r"^\| `CLINIC_([A-Z0-9_]+)` \|", table, flags=re.MULTILINE)


def test_every_setting_the_readme_lists_has_a_wrong_value_here_or_takes_any_text():
    listed = readme_settings()

    assert len(listed) == len(set(listed))
    assert set(listed) == set(WRONG) | FREE_TEXT, "give a new setting a wrong value here, or call it text"
    assert not set(WRONG) & FREE_TEXT


def test_the_readme_gives_each_setting_the_default_config_py_gives_it():
    """The table is written by hand: its first default, read by the setting's kind, is config.py's."""
    declared = {declared.variable: (key, declared.kind) for key, declared in config.DECLARED.items()}
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- settings-table -->")[1].split("<!-- /settings-table -->")[0]
    written = re.findall(r"^\| `CLINIC_([A-Z0-9_]+)` \| `([^`]*)`", table, flags=re.MULTILINE)

    differ = {
        name: default
        for name, default in written
        if name in declared and declared[name][1].value_of(default) != config.defaults()[declared[name][0]]
    }
    assert len(written) > 50 and not differ


def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, given: str):
    """Build an app with CLINIC_<name> set to `given`, as the environment gives it: as text."""
    if name == "ENV":  # chooses the config class, so read when the app is built
        monkeypatch.setenv("CLINIC_ENV", given)
        return build_app(f"sqlite:///{tmp_path}/clinic.sqlite", str(tmp_path))
    return build_app(
        f"sqlite:///{tmp_path}/clinic.sqlite", str(tmp_path), **{CONFIG_KEY.get(name, name): given}
    )


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_value_of_any_setting_stops_the_start_naming_the_variable(tmp_path, monkeypatch, name):
    with pytest.raises(RuntimeError) as refused:
        start(tmp_path, monkeypatch, name, WRONG[name])

    assert f"CLINIC_{name} must be" in str(refused.value)
    assert str(refused.value).count("CLINIC_") == 1  # this one only


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("ENV", "development, testing or production"),
        ("MAIL_BACKEND", "file or smtp"),
        ("SMTP_TLS", "none, starttls or ssl"),
        ("LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR"),
        ("MEETING_PROVIDER", "jitsi, teams, zoom or webhook"),
        ("DEFAULT_TIME_ZONE", "Europe/London"),
    ],
)
def test_a_choice_refused_names_the_values_it_takes(tmp_path, monkeypatch, name, allowed):
    with pytest.raises(RuntimeError, match=re.escape(allowed)):
        start(tmp_path, monkeypatch, name, WRONG[name])


@pytest.mark.parametrize(
    ("name", "given", "read"),
    [
        ("MAIL_BACKEND", " SMTP ", "smtp"),
        ("SMTP_TLS", "StartTLS", "starttls"),
        ("LOG_LEVEL", "debug", "DEBUG"),
        ("LOG_FORMAT", "JSON", "json"),
        ("MEETING_PROVIDER", "Zoom ", "zoom"),
        ("SMTP_PORT", " 587", 587),
        ("SMTP_TIMEOUT", "2.5", 2.5),
        ("ALLOW_PUBLIC_JITSI", "Yes", True),
        ("NOTES_ROLES", " Admin , clinician", "admin,clinician"),
    ],
)
def test_a_value_is_read_once_into_its_kind_in_any_case_and_with_spaces(
    tmp_path, monkeypatch, name, given, read
):
    app = start(tmp_path, monkeypatch, name, given)

    assert app.config[name] == read


def test_the_environment_is_named_in_any_case(tmp_path, monkeypatch):
    monkeypatch.setenv("CLINIC_ENV", " Production")
    monkeypatch.setenv("CLINIC_INSTANCE_PATH", str(tmp_path))

    with pytest.raises(UnsafeProductionConfig):  # production's own checks: it is production
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/clinic.sqlite"})


def test_every_wrong_value_in_the_environment_is_named_at_once_without_a_traceback(tmp_path):
    started = start_process(tmp_path, {f"CLINIC_{name}": value for name, value in WRONG.items()})

    assert started.returncode != 0
    assert "Traceback" not in started.stderr, started.stderr
    unnamed = [name for name in WRONG if f"CLINIC_{name} must be" not in started.stderr]
    assert not unnamed, started.stderr


def start_process(tmp_path: Path, variables: dict[str, str]) -> subprocess.CompletedProcess:
    """Import wsgi.py, as gunicorn and `flask --app wsgi` do, with these CLINIC_* variables."""
    env = {**os.environ, "CLINIC_INSTANCE_PATH": str(tmp_path), **variables}
    return subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_a_secret_given_wrong_is_named_but_never_repeated(tmp_path):
    """The refusal goes to a terminal, a service log, a ticket: a mistyped key or a database password
    must not go with it."""
    secrets = {
        "CLINIC_NOTES_KEY": "Zm9yLXRoZS1yZWNvcmQtb25seS0tbm90LWEta2V5,second-key-typed-wrong",
        "CLINIC_DATABASE_URL": "postgresql+psycopg://clinic:hunter2-s3cret@db.hospital.example:5432:x/clinic",
    }

    started = start_process(tmp_path, secrets)

    assert started.returncode == APP_LOAD_ERROR
    assert "CLINIC_NOTES_KEY must be Fernet keys" in started.stderr
    assert "CLINIC_DATABASE_URL must be a database URL" in started.stderr
    for secret in ("Zm9yLXRoZS1yZWNvcmQ", "second-key", "hunter2"):
        assert secret not in started.stderr


def test_a_setting_given_twice_or_as_a_file_that_cannot_be_read_is_named_without_a_traceback(tmp_path):
    (tmp_path / "secret_key").write_text("s" * 40)
    variables = {
        "CLINIC_SECRET_KEY": "t" * 40,
        "CLINIC_SECRET_KEY_FILE": str(tmp_path / "secret_key"),
        "CLINIC_AUDIT_KEY_FILE": str(tmp_path / "missing"),
        "CLINIC_SMTP_PORT": "abc",  # named in the same message: one restart fixes all
    }

    started = start_process(tmp_path, variables)

    assert started.returncode == APP_LOAD_ERROR
    assert "Traceback" not in started.stderr, started.stderr
    assert "set CLINIC_SECRET_KEY or CLINIC_SECRET_KEY_FILE, not both" in started.stderr
    assert f"CLINIC_AUDIT_KEY_FILE names '{tmp_path / 'missing'}', which cannot be read" in started.stderr
    assert "CLINIC_SMTP_PORT must be" in started.stderr


def test_an_instance_folder_that_cannot_be_made_or_written_in_is_named_without_a_traceback(tmp_path):
    """As user clinic before systemd's StateDirectory= made /var/lib/clinic, the app factory's makedirs
    ended the command with a FileNotFoundError's traceback."""
    (tmp_path / "a_file").write_text("")
    refusals = {
        "/proc/nope": "a folder this process cannot create (No such file or directory)",
        str(tmp_path / "a_file" / "instance"): "a folder this process cannot create (Not a directory)",
        "/proc": "a folder this process cannot write in",  # there even for root, and no file goes in it
    }

    for path, refusal in refusals.items():
        started = start_process(tmp_path, {"CLINIC_INSTANCE_PATH": path, "CLINIC_SMTP_PORT": "abc"})

        assert started.returncode == APP_LOAD_ERROR
        assert "Traceback" not in started.stderr, started.stderr
        assert f"- CLINIC_INSTANCE_PATH names '{path}', {refusal}" in started.stderr
        assert "CLINIC_SMTP_PORT must be" in started.stderr  # one restart fixes both


# Texts near what settings take, as well as any text: numbers with and without units, choices in any case.
NEAR_VALUES = st.one_of(
    st.text(),
    st.from_regex(r"\s?-?\d{1,5}(\.\d{1,2})?[smhdSMHD]?(,\s?\d{1,3}[smhd])?\s?", fullmatch=True),
    st.sampled_from(
        ["none", "SMTP", " StartTLS ", "debug", "Europe/London", "UTC", "GMT", "https://x.example"]
    ),
    st.sampled_from(["10 per minute", "admin, clinician", "nan", "-0", "1e3", "True", "off", "http://[::1"]),
)


@hypothesis.settings(max_examples=500)
@hypothesis.given(key=st.sampled_from(sorted(config.DECLARED)), given_text=NEAR_VALUES)
def test_any_text_of_any_setting_is_read_or_refused_by_name_never_raised(key, given_text):
    given_settings = {key: given_text}

    found = config.check(given_settings, "development")

    if found:
        assert found == [found[0]] and found[0].startswith(f"CLINIC_{config.DECLARED[key].variable} must be ")
    else:  # what it was read as reads as itself: read once, the same everywhere after
        read = given_settings[key]
        assert config.check(given_settings, "development") == [] and given_settings[key] == read


@hypothesis.settings(max_examples=500)
@hypothesis.given(key=st.sampled_from(sorted(config.DECLARED)), given_text=NEAR_VALUES)
@hypothesis.example(key="WAITLIST_OFFER_DAY_STARTS", given_text="22")  # past the day's end, 21
def test_production_checks_what_every_kind_took_and_never_raises_on_what_one_refused(key, given_text):
    """Production's own checks run beside the kinds' (one round of refusals): a value its kind refused is
    named by it alone, the rest checked, and nothing raised on the way."""
    given_settings = {**config.defaults(), **PRODUCTION_SETTINGS, key: given_text}

    refused = config.refusals(given_settings, "production")
    found = production.problems(given_settings, unread=refused)

    # Only the offer day's order names another setting: its end, when the start given is not before it.
    ordered_after = {"WAITLIST_OFFER_DAY_ENDS"} if key == "WAITLIST_OFFER_DAY_STARTS" else set()
    assert set(refused) <= {key} | ordered_after
    named = f"CLINIC_{config.DECLARED[key].variable} "
    assert not refused or not any(problem.startswith(named) for problem in found)


def test_the_choices_are_those_the_app_knows():
    """config.py names the video providers and the staff roles: the same as the app's own."""
    assert config.MEETING_PROVIDERS == PROVIDER_NAMES
    roles = {role.value for role in StaffRole}
    taken = {role: config.check({"NOTES_ROLES": role}, "testing") == [] for role in roles}
    assert taken == {role: role != "reception" for role in roles}


def test_an_offer_day_that_ends_before_it_starts_stops_the_start_naming_both(tmp_path):
    with pytest.raises(RuntimeError) as refused:
        build_app(
            f"sqlite:///{tmp_path}/clinic.sqlite",
            str(tmp_path),
            WAITLIST_OFFER_DAY_STARTS="21",
            WAITLIST_OFFER_DAY_ENDS="8",
        )

    assert "CLINIC_WAITLIST_OFFER_DAY_ENDS must be after WAITLIST_OFFER_DAY_STARTS (21), not 8" in str(
        refused.value
    )


# Two Fernet keys (Fernet.generate_key()), for notes key lists.
NOTES_KEYS = ("QkX2oSqe2fJ0l3b4sYx2E0mKqP3n8yJ7ZQmE4y2C1Ko=", "r0Yk3n3vQ9y3y5Jp6mX1h2L8wK4cZsT7uB0dE9fGaHc=")


@pytest.mark.parametrize("separator", [";", " ", "\n", "|", ":"])
def test_notes_keys_run_together_by_a_wrong_separator_stop_the_start_unrepeated(
    tmp_path, monkeypatch, separator
):
    """Base64 decoding stops at the first key's '=', so the two read as the first alone, and notes written
    with the second gave a 500."""
    with pytest.raises(RuntimeError) as refused:
        start(tmp_path, monkeypatch, "NOTES_KEY", separator.join(NOTES_KEYS))

    assert "CLINIC_NOTES_KEY must be Fernet keys, comma separated" in str(refused.value)
    assert not any(key[:8] in str(refused.value) for key in NOTES_KEYS)


def test_notes_keys_comma_separated_with_spaces_are_each_read(tmp_path, monkeypatch):
    app = start(tmp_path, monkeypatch, "NOTES_KEY", f" {NOTES_KEYS[0]} ,\n{NOTES_KEYS[1]},")

    assert app.config["NOTES_KEY"] == ",".join(NOTES_KEYS)


@pytest.mark.parametrize(
    "given",
    ["rediss//:S3cretRedisPass@127.0.0.1:6379/0", "127.0.0.1:6379", "http://:S3cretRedisPass@redis:6379"],
)
def test_a_rate_limit_storage_url_without_a_scheme_it_takes_is_refused_without_its_password(tmp_path, given):
    """It reached the limiter, whose ConfigurationError was a traceback that carried the URL, password and
    all, into the error log."""
    started = start_process(tmp_path, {"CLINIC_RATELIMIT_STORAGE_URL": given})

    assert started.returncode == APP_LOAD_ERROR
    assert "Traceback" not in started.stderr, started.stderr
    assert (
        "CLINIC_RATELIMIT_STORAGE_URL must be memory:// or a Redis URL (redis://, rediss://" in started.stderr
    )
    assert "S3cretRedisPass" not in started.stderr and "127.0.0.1" not in started.stderr


@pytest.mark.parametrize(
    "given",
    [
        "memory://",
        " redis://127.0.0.1:6379/0",
        "rediss://:pass@redis.hospital.example:6380/0",
        "redis+unix:///run/redis.sock",
    ],
)
def test_the_rate_limit_storage_urls_clinic_counts_in_are_taken(tmp_path, monkeypatch, given):
    app = start(tmp_path, monkeypatch, "RATELIMIT_STORAGE_URL", given)

    assert app.config["RATELIMIT_STORAGE_URL"] == given.strip()


@pytest.mark.parametrize(
    "given",
    [
        "postgres://clinic:hunter2-s3cret@db.hospital.example:5432/clinic",
        "postgresql://clinic:hunter2-s3cret@db.hospital.example:5432/clinic",
        " postgresql+psycopg://clinic:hunter2-s3cret@db.hospital.example:5432/clinic ",
    ],
)
def test_a_postgresql_url_in_its_common_forms_is_read_as_psycopg_3s(given):
    """postgres:// and postgresql:// passed the check, then every command failed on a dialect or driver
    Clinic does not ship (NoSuchModuleError: sqlalchemy.dialects:postgres; psycopg2)."""
    given_settings = {"SQLALCHEMY_DATABASE_URI": given}

    assert config.check(given_settings, "production") == []
    assert given_settings["SQLALCHEMY_DATABASE_URI"] == (
        "postgresql+psycopg://clinic:hunter2-s3cret@db.hospital.example:5432/clinic"
    )


def test_a_postgresql_url_from_the_environment_is_read_as_psycopg_3s(tmp_path):
    variables = {"CLINIC_DATABASE_URL": "postgres://clinic@db.hospital.example/clinic"}
    env = {**os.environ, "CLINIC_INSTANCE_PATH": str(tmp_path), **variables}
    command = "import config; print(config.Config.SQLALCHEMY_DATABASE_URI)"

    read = subprocess.run([sys.executable, "-c", command], cwd=ROOT, env=env, capture_output=True, text=True)

    assert read.stdout.strip() == "postgresql+psycopg://clinic@db.hospital.example/clinic", read.stderr


@pytest.mark.parametrize(
    "given",
    [
        "postgresql+psycopg2://clinic:hunter2-s3cret@db.hospital.example/clinic",
        "mysql://clinic:hunter2-s3cret@db.hospital.example/clinic",
        "postgre://clinic:hunter2-s3cret@db.hospital.example/clinic",
    ],
)
def test_a_database_url_clinic_cannot_open_is_refused_without_its_password(given):
    found = config.check({"SQLALCHEMY_DATABASE_URI": given}, "production")

    assert found == [
        "CLINIC_DATABASE_URL must be a database URL such as postgresql+psycopg://user@host/db (postgres:// "
        "and postgresql:// are read so) or sqlite:///path, not what it holds (not shown: it is a secret)"
    ]


@pytest.mark.parametrize(
    "given",
    [
        "Clinic <appointments>",
        "appointments@",
        "Clinic <appointments@hospital.example",
        "a@x.example, b@x.example",
        ":;0",
    ],
)
def test_a_mail_from_that_is_not_one_address_stops_the_start(tmp_path, monkeypatch, given):
    """CLINIC_MAIL_FROM=Clinic started, and every mail left with From: Clinic, which a relay refuses."""
    with pytest.raises(RuntimeError) as refused:
        start(tmp_path, monkeypatch, "MAIL_FROM", given)

    assert "CLINIC_MAIL_FROM must be an e-mail address" in str(refused.value)


@pytest.mark.parametrize(
    "given",
    [
        "appointments@hospital.example",
        "Clinic <appointments@hospital.example>",
        '"Clinic, Outpatients" <a@h.example>',
    ],
)
def test_a_mail_from_with_or_without_a_name_is_taken(tmp_path, monkeypatch, given):
    app = start(tmp_path, monkeypatch, "MAIL_FROM", f" {given} ")

    assert app.config["MAIL_FROM"] == given


@pytest.mark.parametrize(
    ("name", "given"),
    [
        ("RETENTION_PATIENT_DAYS", "999999"),  # "keep for ever": housekeeping failed with it each round
        ("MANAGE_LINK_GRACE_DAYS", "99999999"),
        ("JOIN_WINDOW_MINUTES", "9999999999"),
        ("STAFF_IDLE_MINUTES", "99999999999"),
        ("STAFF_SESSION_HOURS", "1e9"),
        ("WALK_IN_ANSWER_MINUTES", "1e12"),
        ("REMINDER_OFFSETS", "24h,9999999999d"),  # stopped the start with a traceback
        ("WAITLIST_OFFER_LIFETIME", "99999999d"),
    ],
)
def test_a_span_of_time_longer_than_a_century_is_refused_by_name(name, given):
    """A span is added to or taken from an instant: one past the calendar's end made OverflowError where it
    was used (on a page, in each housekeeping round), or at the start itself."""
    found = config.check({config._key_of(name): given}, "development")

    assert len(found) == 1 and found[0].startswith(f"CLINIC_{name} must be "), found
    assert "century" in found[0] or "36525" in found[0] or "most" in found[0], found


@pytest.mark.parametrize("given", ["32", "100000", "99999999"])
def test_a_booking_page_longer_than_a_month_is_refused_by_name(given):
    """A page of the booking calendar is read on a phone, a day under another: 100000 drew a 15 MB page of
    100000 days, nearly all past any service's horizon (730 days at most), and 99999999 ran past the
    calendar's end (OverflowError: a 500 on every booking page)."""
    found = config.check({"BOOKING_DAYS_SHOWN": given}, "development")

    assert found == ["CLINIC_BOOKING_DAYS_SHOWN must be a whole number from 1 to 31, not " + repr(given)]


def test_a_booking_page_of_a_month_is_taken():
    assert config.check({"BOOKING_DAYS_SHOWN": "31"}, "development") == []


@hypothesis.settings(max_examples=300)
@hypothesis.given(
    key=st.sampled_from(sorted(config.SPANS)),
    given_text=st.one_of(
        st.integers(min_value=0, max_value=10**13).map(str),
        st.floats(min_value=0, max_value=1e13, allow_nan=False).map(repr),
        st.builds("{}{}".format, st.integers(min_value=0, max_value=10**13), st.sampled_from("smhd")),
    ),
)
def test_every_span_of_time_a_setting_takes_fits_the_calendar_around_any_instant_of_ours(key, given_text):
    settings = {key: given_text}

    if config.check(settings, "development"):
        return
    span = settings[key] * config.SPANS[key]
    for year in (1970, 2026, 2200):
        instant = datetime(year, 1, 1, tzinfo=UTC)
        assert instant - span <= instant + span  # neither raises OverflowError


@pytest.mark.parametrize(
    ("name", "given"),
    [
        ("DATABASE_LOCK_WAIT", "2592000"),  # 30 days, "wait for ever"
        ("DATABASE_LOCK_WAIT", "0.0004"),  # rounds to lock_timeout=0, which PostgreSQL reads as no limit
        ("DATABASE_NETWORK_TIMEOUT", "2592000"),
    ],
)
def test_a_database_wait_postgresql_cannot_take_in_milliseconds_is_refused_by_name(name, given):
    """Each is sent to PostgreSQL in milliseconds, a whole number under 2**31 ("lock_timeout", libpq's
    tcp_user_timeout): past it every connection was refused ("Value exceeds integer range"), the app
    answering 503 to everyone; under a millisecond, the lock wait had no limit at all."""
    found = config.check({name: given}, "development")

    assert len(found) == 1 and found[0].startswith(f"CLINIC_{name} must be "), found


@pytest.mark.parametrize("name", ["DATABASE_LOCK_WAIT", "DATABASE_NETWORK_TIMEOUT"])
def test_the_longest_database_wait_postgresql_takes_is_taken(name):
    assert config.check({name: "2147483"}, "development") == []
