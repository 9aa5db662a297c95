"""End-to-end fixtures: the real app under gunicorn with its outbox worker, driven by Debian's Chromium.

`live_app` (one per run) migrates a fresh SQLite database with `flask db upgrade`, loads the demo
hospital with `flask clinic demo`, then serves it with the project's gunicorn.conf.py in production
settings, beside `flask clinic worker`; mail goes to a local SMTP sink, Teams, Zoom and the webhook to
the local provider fake. `page` and `page_without_js` are fresh browser contexts per test;
`sign_in(page, role)` signs a demo login in, second factor included; `screenshot(page, name)` keeps a
picture of the page under tests/e2e/screenshots/.

The accessibility and keyboard audits book in a department of their own (AUDIT_DEPARTMENT), made beside
the demo hospital, so their bookings never take a time a journey was going to book.

The suite is skipped, and says so in the summary, where /usr/bin/chromium (or Playwright) is missing,
and in the PostgreSQL run (CLINIC_TEST_DATABASE_URL): the app and its worker would share that database
with the rest of the suite, which empties it after every test; the browser journeys exercise the pages,
and the database layer has its PostgreSQL run in the ordinary suite.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
import pytest
import requests
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from clinic.extensions import db
from clinic.models import (
    AvailabilityRule,
    Clinician,
    Department,
    OutboxMessage,
    OutboxStatus,
    Service,
    StaffRole,
    StaffSession,
    StaffUser,
    WalkInQueue,
    utcnow,
)
from tests import factories
from tests.conftest import PG_URL, PRODUCTION_SETTINGS, build_app, production_environment
from tests.fakes.providers import FakeProviders, serving
from tests.fakes.smtp import FakeSMTPServer

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # requirements-dev.txt has it; a bare runtime install does not
    sync_playwright = None

ROOT = Path(__file__).resolve().parents[2]
E2E = Path(__file__).resolve().parent
SCREENSHOTS = E2E / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# Headless Chromium on a closed network: without the last four it keeps calling home for updates.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A camera and microphone for the waiting room's check: Chromium's test pattern and tone, allowed.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
DEMO_PASSWORD = "demo-password"
VIDEO_SERVICE = PRODUCTION_SETTINGS["JITSI_BASE_URL"]  # where meetings are; not on this machine
DEMO_BOOKINGS = 40  # enough for a full-looking day; the worker then mails them all at start
# Round-the-clock cover for the e2e journeys that need a consultation starting within minutes. Its
# first free time with one clinician opens the waiting room; the next (20 minutes on) does not yet: the
# waiting-room journey books Dr Ellen Brooks, the clinician's journey Dr Hannah Lewis; Dr Pieter Bakker
# is free for others (reception's journey books him hours ahead).
ON_CALL_DEPARTMENT = "Mental Health"
ON_CALL_SERVICE = "Check-in"
# The audits' own department: two services, a check-in that needs no notice (five minutes apart) and a
# consultation (changeable online only a day or more ahead), and five round-the-clock clinicians: four
# patients check in within minutes of each other (the waiting rooms' audit, the keyboard journey in three
# windows), each with a clinician free at once, and one to spare.
AUDIT_DEPARTMENT = "Accessibility Audit"
AUDIT_CHECK_IN = "Audit check-in"
AUDIT_CONSULTATION = "Audit consultation"
AUDIT_CLINICIANS = ["Dr Ada Audit", "Dr Ben Audit", "Dr Cleo Audit", "Dr Dev Audit", "Dr Eva Audit"]


def _zone_at_midday() -> str:
    """A fixed-offset zone where it is about midday as the suite starts. Round-the-clock hours still
    break at the clinician's midnight (no consultation runs across two days' hours), which leaves the
    last 20 minutes before it without a check-in; there, that is half a day away."""
    ahead = 12 - datetime.now(UTC).hour  # hours ahead of UTC: -11 to 12
    return f"Etc/GMT{-ahead:+d}"  # these names count the other way: Etc/GMT-5 is UTC+5


# The round-the-clock clinicians' zone (the on-call cover's and the audit department's), and so the days
# of their schedules.
MIDDAY_ZONE = _zone_at_midday()
# The logins `sign_in` uses, by role: the demo's (the clinician is one of the on-call department's), and
# the audit department's clinician (the first) and receptionist.
LOGINS = {
    "admin": "admin@demo.clinic.example",
    "receptionist": "reception.mental-health@demo.clinic.example",
    "clinician": "lewis.8@hospital.example",  # Dr Hannah Lewis
    "audit clinician": "ada.audit@hospital.example",
    "audit receptionist": "reception.audit@hospital.example",
    "walk-in clinician": "osei.duty@hospital.example",  # Dr Amara Osei: see _add_walk_in_duty
}
# The demo's walk-in queue, /walk-in/<slug>, and the clinician the walk-in journey signs in as.
WALK_IN_SLUG = "mental-health"
WALK_IN_CLINICIAN = "Dr Amara Osei"


def _skip_reason() -> str | None:
    if PG_URL:
        return "end-to-end browser tests run on SQLite only (CLINIC_TEST_DATABASE_URL is set)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"end-to-end browser tests skipped: no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if sync_playwright is None:
        return "end-to-end browser tests skipped: Playwright is not installed (requirements-dev.txt)"
    return None


SKIPPED = _skip_reason()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E in Path(item.path).parents:
            # The first test also waits for the app, its worker and the browser to start.
            item.add_marker(pytest.mark.timeout(300))
            if SKIPPED:
                item.add_marker(pytest.mark.skip(reason=SKIPPED))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if SKIPPED:
        terminalreporter.write_line(SKIPPED, yellow=True, bold=True)


@dataclass
class LiveApp:
    url: str
    mail: FakeSMTPServer
    providers: FakeProviders
    database_url: str
    logs: Path

    @property
    def template_notes(self) -> Path:
        """The names of the templates the app has rendered, a line each (see noted_wsgi)."""
        return self.logs / "templates.txt"


@pytest.fixture(scope="package")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The app under gunicorn and its worker on a fresh demo hospital; mail at `.mail`, logs at `.logs`.
    One for all of tests/e2e, stopped when they are done, not left idling through the rest of the suite."""
    folder = tmp_path_factory.mktemp("e2e")
    database_url = f"sqlite:///{folder}/clinic.sqlite"
    url = f"http://127.0.0.1:{_free_port()}"
    mail = FakeSMTPServer()
    mail.start()
    processes: list[subprocess.Popen] = []
    try:
        with serving() as providers:
            env = _environment(database_url, folder, url, mail, providers)
            # gunicorn boots its workers (imports only) while the database is made ready here.
            processes.append(_start(env, folder / "gunicorn.log", *_gunicorn(url)))
            _prepare_database(database_url, env)
            processes.append(_start(env, folder / "worker.log", *WORKER))
            _wait_until_up(url, processes, folder)
            _wait_for_demo_mail(database_url, processes, folder)
            yield LiveApp(url, mail, providers, database_url, folder)
    finally:
        _stop(processes)
        mail.stop()


def _environment(database_url: str, folder: Path, url: str, mail: FakeSMTPServer, providers) -> dict:
    """Production settings (so admins need a second factor), mail to the sink, providers to the fake."""
    provider_settings = {f"CLINIC_{name}": str(value) for name, value in providers.settings().items()}
    return {
        **os.environ,
        **production_environment(database_url),
        **provider_settings,
        "CLINIC_INSTANCE_PATH": str(folder / "instance"),
        "CLINIC_PUBLIC_BASE_URL": url,
        "CLINIC_ALLOW_HTTP_LINKS": "true",  # the journeys' server, on this machine
        "CLINIC_SMTP_HOST": mail.host,
        "CLINIC_SMTP_PORT": str(mail.port),
        "CLINIC_OUTBOX_TICK_SECONDS": "0.5",
        "CLINIC_RATELIMIT_ENABLED": "false",  # every journey comes from 127.0.0.1
        "CLINIC_LOG_FORMAT": "text",
        "E2E_TEMPLATE_NOTES": str(folder / "templates.txt"),
    }


def _prepare_database(database_url: str, env: dict) -> None:
    """`flask db upgrade` and `flask clinic demo` (run here, through Flask's CLI runner: two interpreters
    fewer to start), with the server's audit key and instance folder, then the on-call cover."""
    app = build_app(
        database_url,
        env["CLINIC_INSTANCE_PATH"],
        AUDIT_KEY=env["CLINIC_AUDIT_KEY"],
        DEMO_PASSWORD=DEMO_PASSWORD,
    )
    runner = app.test_cli_runner()
    for command in (["db", "upgrade"], ["clinic", "demo", "--bookings", str(DEMO_BOOKINGS)]):
        result = runner.invoke(args=command)
        if result.exit_code:
            raise RuntimeError(f"flask {' '.join(command)} failed:\n{result.output}") from result.exception
    with app.app_context():
        _open_on_call_cover()
        _open_audit_department()
        _add_walk_in_duty()
        db.engine.dispose()


def _open_on_call_cover() -> None:
    """The on-call department's clinicians work round the clock (in MIDDAY_ZONE) and its check-ins need
    no notice, five minutes apart: a journey can book one that opens its waiting room at once, whatever
    the hour."""
    department = db.session.scalar(select(Department).where(Department.name == ON_CALL_DEPARTMENT))
    service = db.session.scalar(
        select(Service).where(Service.department_id == department.id, Service.name == ON_CALL_SERVICE)
    )
    service.min_notice_minutes, service.slot_interval_minutes = 0, 5
    for clinician in db.session.scalars(select(Clinician).where(Clinician.department_id == department.id)):
        clinician.time_zone = MIDDAY_ZONE
        # Midnight to midnight: a period whose end is not after its start runs past midnight.
        clinician.availability_rules = [
            AvailabilityRule(weekday=day, start_time=clock(0), end_time=clock(0)) for day in range(7)
        ]
    db.session.commit()


def _open_audit_department() -> None:
    """AUDIT_DEPARTMENT with its services, clinicians (round the clock, in MIDDAY_ZONE) and two logins."""
    department = factories.department(db.session, name=AUDIT_DEPARTMENT)
    check_in = factories.service(
        db.session, department, name=AUDIT_CHECK_IN, duration_minutes=20, slot_interval_minutes=5
    )
    consultation = factories.service(
        db.session, department, name=AUDIT_CONSULTATION, slot_interval_minutes=60
    )
    clinicians = [
        factories.clinician(
            db.session,
            [check_in, consultation],
            hours=[(clock(0), clock(0))],  # midnight to midnight, as the on-call cover
            weekdays=range(7),
            time_zone=MIDDAY_ZONE,
            display_name=name,
            email=f"{name.split()[1].lower()}.audit@hospital.example",
        )
        for name in AUDIT_CLINICIANS
    ]
    for role, login in [(StaffRole.CLINICIAN, "clinician"), (StaffRole.RECEPTION, "receptionist")]:
        email = LOGINS[f"audit {login}"]
        factories.linked_staff(db.session, clinicians[0], role, email=email, password=DEMO_PASSWORD)


def _add_walk_in_duty() -> None:
    """A clinician of the on-call department with a login, on duty for the demo's walk-in queue. The
    demo's own (Dr Brooks, Dr Lewis) have soon bookings from other journeys, which refuse a take in
    their time; offering no service, this one is never booked, so their "Take next" never waits."""
    queue = db.session.scalar(select(WalkInQueue).where(WalkInQueue.slug == WALK_IN_SLUG))
    clinician = Clinician(
        department=queue.department,
        display_name=WALK_IN_CLINICIAN,
        email=LOGINS["walk-in clinician"],
        time_zone="Europe/London",
    )
    db.session.add(clinician)
    queue.staff.append(clinician)
    db.session.commit()
    factories.linked_staff(
        db.session, clinician, StaffRole.CLINICIAN, email=clinician.email, password=DEMO_PASSWORD
    )


WORKER = ["-m", "flask", "--app", "wsgi", "clinic", "worker"]


def _gunicorn(url: str) -> list[str]:
    bind = url.removeprefix("http://")
    return [
        "-m",
        "gunicorn",
        "--config",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        bind,
        "--workers",
        "2",
        "tests.e2e.noted_wsgi:app",
    ]


def _start(env: dict, log: Path, *arguments: str) -> subprocess.Popen:
    with log.open("w") as output:
        return subprocess.Popen(
            [sys.executable, *arguments], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )


def _wait_until_up(url: str, processes: list[subprocess.Popen], folder: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_running(processes, folder)
        try:
            if requests.get(f"{url}/healthz", timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"gunicorn did not answer at {url} within {timeout} s")


def _check_running(processes: list[subprocess.Popen], folder: Path) -> None:
    if any(process.poll() is not None for process in processes):
        logs = "\n".join(f"{log.name}:\n{log.read_text()[-3000:]}" for log in folder.glob("*.log"))
        raise RuntimeError(f"the app or its worker exited:\n{logs}")


def _wait_for_demo_mail(database_url: str, processes: list[subprocess.Popen], folder: Path) -> None:
    """Until the worker has done the demo's meetings and mails: a journey then waits for its own only."""
    engine = create_engine(database_url)
    due = select(func.count(OutboxMessage.id)).where(
        OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.RUNNING]),
        OutboxMessage.due_at <= utcnow(),
    )
    deadline = time.monotonic() + 180
    try:
        with Session(engine) as session:
            while session.scalar(due):
                _check_running(processes, folder)
                if time.monotonic() > deadline:
                    raise TimeoutError("the worker did not send the demo hospital's mail within 180 s")
                time.sleep(0.5)
    finally:
        engine.dispose()


def _stop(processes: list[subprocess.Popen]) -> None:
    """Stop each at once (gunicorn's quick shutdown is SIGINT; the worker's, SIGTERM), then wait for all;
    SIGKILL what has not gone in 20 s. Nothing is left to finish gracefully at the end of the run."""
    for process in processes:
        process.send_signal(signal.SIGINT if "gunicorn" in process.args else signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="package")
def browser() -> Iterator["Browser"]:
    """Debian's Chromium, headless; never a downloaded browser."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser, live_app) -> Iterator[Callable[..., "Page"]]:
    """`new_page(javascript=True, timezone_id="Europe/London", **context_options)`: a page in a fresh
    browser context (its own cookies) at the live app; every context is closed after the test."""
    contexts = []

    def open_page(*, javascript: bool = True, timezone_id: str = "Europe/London", **options) -> "Page":
        context = browser.new_context(
            base_url=live_app.url,
            java_script_enabled=javascript,
            timezone_id=timezone_id,
            locale="en-GB",
            **options,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page) -> "Page":
    """A page with JavaScript on, in a fresh context (London time)."""
    return new_page()


@pytest.fixture
def page_without_js(new_page) -> "Page":
    """A page with JavaScript off, in a fresh context (London time): progressive enhancement's floor."""
    return new_page(javascript=False)


# Each login's TOTP key once set up, and the last time step used: a code works once, so a second
# sign-in within the same 30 s takes the next step's code (the app accepts one step of drift).
_second_factors: dict[str, pyotp.TOTP] = {}
_last_steps: dict[str, int] = {}


def sign_in(page: "Page", role: str, *, here: bool = False) -> None:
    """Sign `page` in as the demo login for `role` ("admin", "clinician" or "receptionist"), setting up
    or answering the second factor where the app asks for one. `here`: on the sign-in page the browser
    was sent to, which leads back where it was going."""
    email = LOGINS[role]
    if not here:
        page.goto("/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(
        lambda address: urlsplit(address).path != "/login"
    )  # the click returns before the answer
    if page.url.endswith("/account/two-factor"):
        _set_up_second_factor(page, email)
    elif page.url.endswith("/login/code"):
        page.get_by_label("Code").fill(_next_code(email))
        page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def leave_idle(live_app: LiveApp, role: str, minutes: float) -> None:
    """Make the newest session of `role`'s login `minutes` idle, as time without a request would: its
    last_seen_at moved back in the database."""
    engine = create_engine(live_app.database_url)
    try:
        with Session(engine) as session:
            session.scalars(_newest_session(role)).one().last_seen_at = utcnow() - timedelta(minutes=minutes)
            session.commit()
    finally:
        engine.dispose()


def _newest_session(role: str):
    return (
        select(StaffSession)
        .join(StaffUser, StaffUser.id == StaffSession.staff_user_id)
        .where(StaffUser.email == LOGINS[role], StaffSession.ended_at.is_(None))
        .order_by(StaffSession.created_at.desc(), StaffSession.id.desc())
        .limit(1)
    )


def minutes_idle(live_app: LiveApp, role: str) -> float:
    """How long the newest session of `role`'s login has been without activity, by the database."""
    engine = create_engine(live_app.database_url)
    try:
        with Session(engine) as session:
            seen = session.scalars(_newest_session(role).with_only_columns(StaffSession.last_seen_at)).one()
    finally:
        engine.dispose()
    return (utcnow() - seen.replace(tzinfo=UTC)).total_seconds() / 60


def _set_up_second_factor(page: "Page", email: str) -> None:
    confirm_second_factor(page, email)
    page.get_by_role("link", name="I have kept my recovery codes: continue").click()


def confirm_second_factor(page: "Page", email: str) -> None:
    """On the page that sets up the second factor: scan its key (kept for `email`'s later sign-ins) and
    confirm with a code, which leads to the recovery codes."""
    _second_factors[email] = pyotp.TOTP(page.locator("#totp-key").inner_text())
    page.get_by_label("Code").fill(_next_code(email))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="Two-step sign-in is set up").wait_for()


def _next_code(email: str) -> str:
    totp = _second_factors[email]
    step = max(int(time.time()) // totp.interval, _last_steps.get(email, -1) + 1)
    while step > int(time.time()) // totp.interval + 1:  # two sign-ins ahead of the clock: wait
        time.sleep(1)
    _last_steps[email] = step
    return totp.at(step * totp.interval)


def screenshot(page: "Page", name: str) -> Path:
    """Save the whole page as tests/e2e/screenshots/<name>.png (ignored by git) and return the path."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path
