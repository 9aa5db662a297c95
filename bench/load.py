"""Load: patients browsing free times and booking, and clinicians reading their day, under gunicorn.

    python -m bench.load --database-url postgresql+psycopg://postgres@127.0.0.1/clinic_bench_load
        [--seconds 60] [--clients 50] [--think 4] [--scale-seconds 20] [--scale-rounds 3]
        [--race-attempts 10000] [--no-race] [--no-load] [--no-scale]

The app runs under gunicorn with the repo's gunicorn.conf.py (workers as processes), served through
bench/served.py, which adds two hello-world routes: gunicorn's bare answer, the baseline each page's
latency is compared with, and Flask's hello-world app (the framework alone), the same target read against
a route of the framework. Beside them the app's /healthz, which for a patient goes through Flask and the
app's hooks without touching the database: the floor under every page of Clinic (asked by a signed-in
clinician it checks their session in the database first, so their answers are measured apart; the
in-worker columns cannot tell the two apart); and a durable commit, one row inserted and committed on the
same PostgreSQL through psycopg alone a few times a second: the floor under every booking, which waits for
its WAL to reach disk. And for each read page, its SQL alone: the SELECTs the page ran, replayed by the
worker through a bare DB-API cursor, with no Flask and no Python of the page around them
(bench/served.py): that page's floor under the database. And the same SELECTs replayed from a route of the
app, on the cursor a page's reads take, through the hooks and headers every page goes through: that page's
floor under Clinic, all of the page but its own Python. Both outside any transaction, as a page's reads
run. And a booking's statements, captured from book() on the same database and sent alone through psycopg
by the load generator twice a second (bench/script_replay.py): the booking POST's floor under the database.
And routes of pure Python on the same workers, 1, 2 and 4 ms of a busy core's CPU each and no code of
Clinic's (bench/served.py): what a page's own CPU costs at p95 on this host, whatever spends it.
The baselines are asked for through the run by PROBES clients beside the people, one request at a time
after a pause drawn from an exponential distribution (PROBE_GAP seconds on average), so they sample the
run evenly in time, and none comes in a burst just ahead of a page. Before, each person asked for all seven
in a burst ahead of each page, 65 requests a second in all where the probes make 32.
Limits are off (CLINIC_RATELIMIT_ENABLED=false).
The clients are threads in as many processes as the machine has cores, so the load generator is not one
GIL; the CPU they took is printed. Each client reads a page for about `--think` seconds (0.5–1.5×, at
random) before the next, as people do: without it, 50 clients saturate a 2-core server, every route
waits in the same queue, and each p95 measures that queue rather than the route. For the same reason each
client starts at a random moment of its first `--think` seconds, not all on one instant.

Then the scale run: web processes are how Clinic scales, so the same patients' pages (the slots API and
the time step, no bookings) are served by gunicorn with one worker and with two, `--scale-rounds` rounds
interleaved, each `--scale-seconds` long, from `--scale-clients` clients that never pause (each worker
always has a request waiting): pages/s with two workers against one, which should be about 2×, and the CPU
per page of the workers and of the whole machine, which says what holds two short of 2× on two cores.

Then the race: `--race-attempts` bookings through the API from the same clients, aimed at 500 targets
(three services of 30, 45 and 60 minutes, so targets overlap; named clinicians and "first available"
mixed), on PostgreSQL and on SQLite. After each run an overlap query counts double bookings: must be 0.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time as clock
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from clinic.audit import Actor
from clinic.booking.calendar import form_value
from clinic.models import Consultation, Department, Service, StaffRole
from clinic.staff.accounts import create_staff
from config import Config
from tests.fakes.reminders import cpu_now

from . import script_replay
from .booking_throughput import Slots, booking_script, ids_apart
from .databases import databases
from .figures import emit
from .fixtures import Hospital, bench_engine, build_hospital, bulk_book, clinician, consultation_row
from .processes import GUNICORN
from .served import FLASK_HELLO_PATH, HELLO_PATH, SPIN_PATH, SQL_ALONE_PAGES, SQL_ALONE_PATH, SQL_IN_APP_PATH

ROOT = Path(__file__).resolve().parent.parent
BENCH = "load"
LONDON = ZoneInfo("Europe/London")
LOAD_CLINICIANS = 20
BOOKED_DAYS = 14  # from tomorrow, about half booked before the run; patients browse inside them
STAFF_CLIENTS = 5  # of the clients, clinicians reading their day; the rest are patients
PROBES = 4  # clients beside them asking for the baselines
PROBE_GAP = 0.125  # mean seconds between one probe's requests: 32 a second in all, about 3 per baseline
SCHEDULE_HOURS = ((time(8), time(18)),)  # 20 half-hours: the day of 20 consultations
STAFF_PASSWORD = "bench-staff-password-long-enough"
WARM_UP_SECONDS = 5  # unrecorded: each worker compiles its templates and fills its caches
RACE_TARGETS = 500
RACE_LENGTHS = (30, 45, 60)  # minutes: overlapping services
RACE_CLINICIANS = 5
# Figure and target (p95 ratio to hello) per route; None: measured, no target.
ROUTES = {
    "hello": None,
    "Flask hello": None,  # Flask's hello-world app on the same workers: the framework alone
    "/healthz": None,  # the app's own constant answer to patients: Flask, its hooks and headers, no database
    "/healthz signed in": None,  # the same to staff: their session is checked in the database first
    "/book/time": 3.0,
    "/api/v1/slots": 3.0,
    "/schedule": 3.0,
    "booking POST": 5.0,
    "durable commit": None,  # one row inserted and committed on the same PostgreSQL: a booking's floor
}
# Each read page's own SELECTs replayed through a bare cursor (bench/served.py): that page's floor under the
# database; and replayed from a route of the app, through its hooks: its floor under Clinic.
SQL_ALONE = {page.rstrip("/"): f"{page.rstrip('/')} SQL alone" for page in SQL_ALONE_PAGES}
SQL_IN_APP = {page.rstrip("/"): f"{page.rstrip('/')} SQL in the app" for page in SQL_ALONE_PAGES}
# What a route may answer for its figures to measure what they say, and the answer it must give at least
# once; any other route answers 200 alone. A time taken meanwhile is refused 409; a floor answers 204 until
# its worker has served the page it replays.
ANSWERS = {"booking POST": ({303, 409}, 303), "race": ({201, 409}, 201), "setup": ({200, 303}, 200)}
ANSWERS |= dict.fromkeys([*SQL_ALONE.values(), *SQL_IN_APP.values()], ({200, 204}, 200))
ROUTES |= dict.fromkeys(SQL_ALONE.values()) | dict.fromkeys(SQL_IN_APP.values())
# Pure Python on the same workers, each as much CPU as that many milliseconds of a busy core take
# (bench/served.py): what a page's own CPU alone comes to at p95 on this host, whatever code spends it. The
# read pages take about 4 ms each back to back in one process (bench/page_profile.py).
SPIN = {ms: f"pure Python, {ms} ms" for ms in (1, 2, 4)}
ROUTES |= dict.fromkeys(SPIN.values())
# A booking's statements sent through psycopg alone, from the load generator: the booking POST's floor.
BOOKING_SQL_ALONE = "booking SQL alone"
SQL_ALONE["booking POST"] = BOOKING_SQL_ALONE
ROUTES[BOOKING_SQL_ALONE] = None
COMMIT_PROBE_EVERY = 0.25  # seconds: about as often as the load run's patients book
BOOKING_PROBE_EVERY = 0.5  # seconds between two of a booking's statements sent alone
RSS_TARGET_MB = 150
# Production's settings (its refusals all pass) with the limits off: as a hospital would run it.
SERVER_SETTINGS = {
    "CLINIC_ENV": "production",
    "CLINIC_SECRET_KEY": "bench-load-secret-key-long-enough-for-production",
    "CLINIC_MANAGE_TOKEN_KEY": "bench-load-manage-token-key-long-enough",
    "CLINIC_AUDIT_KEY": "bench-load-audit-chain-key-long-enough",
    "CLINIC_NOTES_KEY": "QkX2oSqe2fJ0l3b4sYx2E0mKqP3n8yJ7ZQmE4y2C1Ko=",
    "CLINIC_MAIL_BACKEND": "smtp",
    "CLINIC_JITSI_BASE_URL": "https://video.hospital.example",
    "CLINIC_PUBLIC_BASE_URL": "https://clinic.hospital.example",  # for mails, which no client opens
    "CLINIC_ALLOW_SQLITE": "true",  # the race's SQLite run
    "CLINIC_RATELIMIT_ENABLED": "false",
    "CLINIC_MAX_ACTIVE_BOOKINGS_PER_EMAIL": "3",
}
SERVED_AUDIT_KEY = SERVER_SETTINGS["CLINIC_AUDIT_KEY"]  # the seeding signs the chain the server goes on with
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@dataclass(frozen=True)
class LoadPlan:
    """What the load clients need to know of the hospital, the server and the run."""

    base: tuple[str, int]
    seconds: float
    think: float  # mean seconds a client reads a page before its next request
    service_id: int
    clinician_ids: tuple[int, ...]
    first_day: date
    schedule_day: date
    staff_email: str


@dataclass(frozen=True)
class LoadHospital:
    """The hospital load_hospital built, and the run's plan for it once a server answers."""

    hospital: Hospital
    first_day: date
    schedule_day: date
    staff_email: str

    def plan(self, base: tuple[str, int], seconds: float, think: float) -> LoadPlan:
        ids = tuple(clinician_id for clinician_id, _ in self.hospital.clinicians)
        return LoadPlan(
            base,
            seconds,
            think,
            self.hospital.service_id,
            ids,
            self.first_day,
            self.schedule_day,
            self.staff_email,
        )


@dataclass(frozen=True)
class RacePlan:
    base: tuple[str, int]
    attempts_per_client: int
    targets: tuple[tuple[int, int | None, str], ...]  # (service, clinician or None, UTC start)


@dataclass
class Outcome:
    """One client process's record: (route, seconds, status) per request, and the CPU it took."""

    samples: list[tuple[str, float, int]] = field(default_factory=list)
    cpu_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    if not args.database_url and not (args.no_load and args.no_scale):
        databases(None, "clinic_bench_load")
        raise SystemExit("the load and scale runs need PostgreSQL")
    if not args.no_load:
        with bench_engine(args.database_url, SERVED_AUDIT_KEY) as engine:
            load_run(engine, args.database_url, args.seconds, args.clients, args.think)
    if not args.no_scale:
        with bench_engine(args.database_url, SERVED_AUDIT_KEY) as engine:
            scale_run(engine, args.database_url, args.scale_seconds, args.scale_clients, args.scale_rounds)
    if args.no_race:
        return
    for name, url in databases(args.database_url, "clinic_bench_load").items():
        if args.race_on not in ("both", name):
            continue
        with bench_engine(url, SERVED_AUDIT_KEY) as engine:
            race_run(engine, url or str(engine.url), name, args.race_attempts, args.clients)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a loopback PostgreSQL URL (its database is wiped)")
    parser.add_argument("--seconds", type=float, default=60, help="length of the load run")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument("--think", type=float, default=4.0, help="mean seconds between a client's pages")
    parser.add_argument("--scale-seconds", type=float, default=20, help="length of each scale round")
    parser.add_argument("--scale-rounds", type=int, default=3, help="rounds of one worker, then two")
    parser.add_argument("--scale-clients", type=int, default=8, help="clients of the scale run")
    parser.add_argument("--race-attempts", type=int, default=10_000, help="booking attempts in each race")
    parser.add_argument("--no-race", action="store_true", help="no races")
    parser.add_argument("--no-load", action="store_true", help="no load run")
    parser.add_argument("--no-scale", action="store_true", help="no scale run")
    parser.add_argument("--race-on", choices=("both", "sqlite", "postgresql"), default="both")
    return parser.parse_args(argv)


# --- the load run ---------------------------------------------------------------------------------


def load_run(engine: Engine, url: str, seconds: float, clients: int, think: float) -> None:
    built = load_hospital(engine)
    ids_apart(engine)
    script = booking_script(engine, Slots(built.hospital, batch=0))
    with gunicorn(url) as server:
        booted = server.worker_rss_mb()
        warm_up = built.plan(server.address, WARM_UP_SECONDS, 0.0)  # each worker compiles its templates
        run_clients(_load_client, warm_up, PROBES + clients)
        server.clear_timings()  # the figures are the load run's
        plan = built.plan(server.address, seconds, think)
        floors = Outcome()

        def probe_floors() -> None:
            bookings = threading.Thread(target=_probe_bookings, args=(url, script, seconds, floors))
            bookings.start()
            _probe_commits(engine, seconds, floors)
            bookings.join()

        outcomes = run_clients(_load_client, plan, PROBES + clients, beside=probe_floors)
        rss = server.worker_rss_mb()
        worker_times = server.worker_timings()
    samples = [sample for outcome in outcomes for sample in outcome.samples]
    cpu = sum(outcome.cpu_seconds for outcome in outcomes)
    samples += floors.samples  # not a client's: the load generator's CPU is theirs alone
    print(
        f"\nload on postgresql: {clients} clients ({STAFF_CLIENTS} clinicians) for {seconds:.0f} s,"
        f" reading each page about {think:g} s; {PROBES} probes asking for the baselines"
    )
    print(f"  load generator: {len(outcomes)} processes took {cpu:.1f} CPU-s ({cpu / seconds:.2f} cores)")
    _report_routes(samples, seconds, worker_times)
    booked = sum(1 for route, _, status in samples if route == "booking POST" and status == 303)
    refused = Counter(status for route, _, status in samples if route == "booking POST" and status != 303)
    doubles = double_bookings(engine)
    print(f"  bookings made {booked}; refused {dict(refused)}; double bookings found {doubles} (must be 0)")
    print(f"  RSS per worker after the load: {_megabytes(rss)} MB (target ≤ {RSS_TARGET_MB})", end="")
    print(f"; after booting: {_megabytes(booted)} MB")
    emit(BENCH, "bookings made", booked, None, "bookings", None)
    emit(BENCH, "double bookings (load)", doubles, 0, "bookings", None)
    for after, before in zip(rss, booted, strict=False):  # a worker recycled by max_requests is new
        emit(
            BENCH,
            f"RSS per web worker after the load (target ≤ {RSS_TARGET_MB} MB)",
            after,
            before,
            "MB",
            None,
        )
    check_answers(outcomes, samples)


def _megabytes(sizes: list[float]) -> str:
    return ", ".join(f"{mb:.0f}" for mb in sizes)


def load_hospital(engine: Engine) -> LoadHospital:
    """A hospital half booked for two weeks, and a clinician login with 20 consultations on one day."""
    hospital = build_hospital(engine, LOAD_CLINICIANS)
    first_day = datetime.now(UTC).date() + timedelta(days=1)
    bulk_book(engine, hospital, first_day, BOOKED_DAYS)
    schedule_day = _weekday_after(first_day + timedelta(days=BOOKED_DAYS))
    with Session(engine) as session:
        department = session.get(Service, hospital.service_id).department
        person = clinician(department, [], LOAD_CLINICIANS, SCHEDULE_HOURS)
        person.time_zone = "Europe/London"
        session.add(person)
        session.commit()
        starts = [
            datetime.combine(schedule_day, time(8), tzinfo=LONDON).astimezone(UTC) + timedelta(minutes=30 * n)
            for n in range(20)
        ]
        session.execute(
            insert(Consultation.__table__), [consultation_row(hospital, person.id, s) for s in starts]
        )
        session.commit()
        email = "schedule@hospital.example"
        moment = datetime.now(UTC)
        create_staff(
            session,
            email=email,
            display_name="Dr Schedule",
            password=STAFF_PASSWORD,
            role=StaffRole.CLINICIAN,
            now=moment,
            actor=Actor(),
            clinician_id=person.id,
        )
    return LoadHospital(hospital, first_day, schedule_day, email)


def _probe_commits(engine: Engine, seconds: float, out: Outcome) -> None:
    """Every COMMIT_PROBE_EVERY seconds through the run, one row inserted and committed through psycopg
    alone: how long the database takes to make a write durable (its WAL flushed to disk) meanwhile, which
    every booking waits for once."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_commit_probe (id bigserial PRIMARY KEY, at timestamptz)"
        )
        connection.commit()

        def commit_one() -> None:
            cursor.execute("INSERT INTO bench_commit_probe (at) VALUES (now())")
            connection.commit()

        _time_every(COMMIT_PROBE_EVERY, seconds, "durable commit", commit_one, out)
        cursor.execute("DROP TABLE bench_commit_probe")
        connection.commit()
    finally:
        connection.close()


def _weekday_after(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _probe_bookings(url: str, script: str, seconds: float, out: Outcome) -> None:
    """Every BOOKING_PROBE_EVERY seconds through the run, one booking's statements, captured from book() on
    this database (bench/booking_throughput.py), sent as text through psycopg alone at an hour of their own
    far from the run's (bench/script_replay.py): a booking with no HTTP, Flask or Python of Clinic around it,
    its WAL flushed like any: the booking POST's floor under the database."""
    steps = script_replay.parse(script)
    variables = {"n": 0, "round": 0, "client_id": 63}
    with script_replay.connect(url) as connection, connection.cursor() as cursor:

        def book_one() -> None:
            script_replay.run_transaction(cursor, steps, variables)

        _time_every(BOOKING_PROBE_EVERY, seconds, BOOKING_SQL_ALONE, book_one, out)


def _time_every(every: float, seconds: float, route: str, action: Callable[[], None], out: Outcome) -> None:
    """`action` run every `every` seconds for `seconds`, each run's time recorded as a sample of `route`."""
    deadline = clock.perf_counter() + seconds
    while clock.perf_counter() < deadline:
        clock.sleep(every)
        started = clock.perf_counter()
        action()
        out.samples.append((route, clock.perf_counter() - started, 200))


def _load_client(plan: LoadPlan, number: int, started: threading.Barrier, out: Outcome) -> None:
    """The first PROBES clients probe the baselines; of the people after them, the first STAFF_CLIENTS
    are clinicians reading their day, the rest patients browsing and booking."""
    if number < PROBES:
        _probe(plan, number, started, out)
    else:
        _person(plan, number, number - PROBES < STAFF_CLIENTS, started, out)


def _person(plan: LoadPlan, number: int, staff: bool, started: threading.Barrier, out: Outcome) -> None:
    browser = Browser(plan.base, out)
    rng = random.Random(number)
    csrf = browser.csrf_token()
    if staff:
        browser.sign_in(plan.staff_email, STAFF_PASSWORD, csrf)
    started.wait()
    deadline = clock.perf_counter() + plan.seconds
    bookings = 0

    def read_page() -> None:
        clock.sleep(plan.think * rng.uniform(0.5, 1.5))

    # People arrive one by one: 50 clients starting on the same instant would send their first pages
    # together, and those queued behind each other made the p95 of the routes each visit starts with.
    clock.sleep(rng.uniform(0, plan.think))

    while clock.perf_counter() < deadline:
        if staff:
            browser.get("/schedule", "/schedule/", {"date": plan.schedule_day.isoformat()})
            read_page()
            continue
        page, (status, body) = _browse(browser, plan, rng, read_page)
        read_page()
        free = json.loads(body)["slots"] if status == 200 else []
        if free:
            slot = rng.choice(free)
            bookings += 1
            form = {
                **page,
                "start": form_value(datetime.fromisoformat(slot["start"])),
                "csrf_token": csrf,
                **patient_form(f"load{number}-{bookings}@example.org"),
            }
            browser.post_form("booking POST", "/book/confirm", form)
            read_page()


def _probe(plan: LoadPlan, number: int, started: threading.Barrier, out: Outcome) -> None:
    """One baseline request at a time, each of a route drawn at random, after a pause drawn from an
    exponential distribution: arrivals at random moments sample the run evenly in time, as the people's
    pages do."""
    anonymous, staff = Browser(plan.base, out), Browser(plan.base, out)
    staff.sign_in(plan.staff_email, STAFF_PASSWORD, staff.csrf_token())
    baselines = [
        (anonymous, "hello", HELLO_PATH),
        (anonymous, "Flask hello", FLASK_HELLO_PATH),
        (anonymous, "/healthz", "/healthz"),
        (staff, "/healthz signed in", "/healthz"),
        *((anonymous, SQL_ALONE[page.rstrip("/")], SQL_ALONE_PATH + page) for page in SQL_ALONE_PAGES),
        *((anonymous, SQL_IN_APP[page.rstrip("/")], SQL_IN_APP_PATH + page) for page in SQL_ALONE_PAGES),
        *((anonymous, route, f"{SPIN_PATH}/{ms}") for ms, route in SPIN.items()),
    ]
    rng = random.Random(-1 - number)
    started.wait()
    deadline = clock.perf_counter() + plan.seconds
    while True:
        clock.sleep(rng.expovariate(1 / PROBE_GAP))
        if clock.perf_counter() >= deadline:
            return
        browser, route, path = rng.choice(baselines)
        browser.get(route, path)


def _browse(
    browser: "Browser", plan: LoadPlan, rng: random.Random, read_page: Callable[[], None]
) -> tuple[dict, tuple[int, bytes]]:
    """A patient looking for a time: a week's free slots through the API, then that week on the time step,
    with a named clinician or the first available. The time step's query, and the API's answer (status and
    JSON body), left for the caller to decode: the scale run's clients, which never book, spent 0.35 ms of
    CPU per page decoding it too, against 0.20 without, on the cores the server shares with them."""
    day = plan.first_day + timedelta(days=rng.randrange(BOOKED_DAYS - 6))
    who = rng.choice(plan.clinician_ids) if rng.random() < 0.5 else None
    query = {"service": plan.service_id, "tz": "Europe/London", "start": day, "end": day + timedelta(6)}
    answer = browser.get_answer(
        "/api/v1/slots", "/api/v1/slots", {**query, **({"clinician": who} if who else {})}
    )
    read_page()
    page = {"service": plan.service_id, "clinician": who or "any", "time_zone": "Europe/London"}
    browser.get("/book/time", "/book/time", {**page, "day": day.isoformat()})
    return page, answer


def patient_form(email: str) -> dict[str, str]:
    return {
        "name": "Ada Lovelace",
        "email": email,
        "phone": "+44 7700 900123",
        "birth_date-day": "10",
        "birth_date-month": "12",
        "birth_date-year": "1980",
        "reason": "",
        "consent": "y",
        "idempotency_key": secrets.token_urlsafe(24),
    }


def _report_routes(
    samples: list[tuple[str, float, int]], seconds: float, worker_times: dict[str, list[tuple[float, float]]]
) -> None:
    by_route: dict[str, list[float]] = defaultdict(list)
    for route, elapsed, status in samples:
        if status != 204:  # a page's SQL asked of a worker that has not yet served the page
            by_route[route].append(elapsed)
    hello, flask_hello = _percentiles(by_route["hello"]), _percentiles(by_route["Flask hello"])
    print(f"  {'route':<30} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'p95/hello':>10}", end="")
    print(f" {'target':>7} {'p95/Flask':>10} {'in worker: wall ms, p95':>24} {'CPU ms':>7}")
    for route, target in ROUTES.items():
        times = by_route.get(route)
        if not times:
            continue
        p50, p95, p99 = _percentiles(times)
        inside = worker_times.get(route, [])
        wall = statistics.mean(w for w, _ in inside) * 1000 if inside else 0.0
        wall_p95 = _percentiles([w for w, _ in inside])[1] * 1000
        cpu = statistics.mean(c for _, c in inside) * 1000 if inside else 0.0
        print(
            f"  {route:<30} {len(times) / seconds:7.1f} {p50 * 1000:8.1f} {p95 * 1000:8.1f} {p99 * 1000:8.1f}"
            f" {p95 / hello[1]:9.2f}× {f'≤ {target}×' if target else '':>7} {p95 / flask_hello[1]:9.2f}×"
            f" {wall:16.1f}, {wall_p95:6.1f} {cpu:7.1f}"
        )
        emit(BENCH, f"{route} requests/s", len(times) / seconds, None, "requests/s", None)
        if route != "hello":
            emit(BENCH, f"{route} p95", p95 * 1000, hello[1] * 1000, "ms", target)
            emit(BENCH, f"{route} p50", p50 * 1000, hello[0] * 1000, "ms", None)
            emit(BENCH, f"{route} p99", p99 * 1000, hello[2] * 1000, "ms", None)
        if target:  # the same against the framework's own hello-world route
            emit(BENCH, f"{route} p95 against Flask hello", p95 * 1000, flask_hello[1] * 1000, "ms", target)
        for name, floors in (("SQL alone", SQL_ALONE), ("SQL in the app", SQL_IN_APP)):
            if by_route.get(floors.get(route)):
                below = _percentiles(by_route[floors[route]])[1]
                emit(BENCH, f"{route} p95 against its {name}", p95 * 1000, below * 1000, "ms", None)
        if inside:
            emit(BENCH, f"{route} worker CPU per request", cpu, None, "ms", None)


def _percentiles(times: list[float]) -> tuple[float, float, float]:
    if len(times) < 2:
        return (times[0],) * 3 if times else (0.0, 0.0, 0.0)
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def check_answers(outcomes: list[Outcome], samples: list[tuple[str, float, int]]) -> None:
    """Print the clients' errors; exit non-zero if a route answered what its figures do not measure (an error,
    a sign-in page, a refusal of every booking) or never answered as it should (`ANSWERS`): its figures, and
    a check such as "no double booking", would stand for nothing."""
    errors = [error for outcome in outcomes for error in outcome.errors]
    if errors:
        print(f"  {len(errors)} client errors, first: {errors[0]}")
    answers: dict[str, Counter] = defaultdict(Counter)
    for route, _, status in samples:
        answers[route][status] += 1
    wrong = {route: dict(got) for route, got in answers.items() if not _as_measured(route, got)}
    if wrong:
        raise SystemExit(f"routes whose answers measure nothing: {wrong}")


def _as_measured(route: str, answers: Counter) -> bool:
    allowed, needed = ANSWERS.get(route, ({200}, 200))
    return answers[needed] > 0 and set(answers) <= allowed


# --- the scale run --------------------------------------------------------------------------------


def scale_run(engine: Engine, url: str, seconds: float, clients: int, rounds: int) -> None:
    """Pages/s from gunicorn with two workers against one, rounds interleaved, with the CPU behind them."""
    plan_of = load_hospital(engine).plan
    rounds_of: dict[int, list[ScaleRound]] = {1: [], 2: []}
    for _ in range(rounds):
        for workers in rounds_of:
            rounds_of[workers].append(_scale_round(url, plan_of, workers, seconds, clients))
    one, two = (max(rounds_of[n], key=lambda r: r.pages_per_second) for n in (1, 2))
    ratios = [
        b.pages_per_second / a.pages_per_second for a, b in zip(rounds_of[1], rounds_of[2], strict=True)
    ]
    print(
        f"\nscale on postgresql: patients' pages (slots API and time step) from {clients} clients that never"
        f" pause, {rounds} rounds of {seconds:.0f} s each, one worker then two"
    )
    for workers, best in ((1, one), (2, two)):
        each = ", ".join(f"{r.pages_per_second:.1f}" for r in rounds_of[workers])
        print(
            f"  {workers} worker{'s' if workers > 1 else ' '}: best {best.pages_per_second:6.1f} pages/s"
            f" (rounds {each}); CPU per page: workers {best.worker_cpu_ms:.2f} ms,"
            f" clients {best.client_cpu_ms:.2f} ms, machine {best.machine_cpu_ms:.2f} ms;"
            f" machine busy {best.machine_cores:.2f} of {os.cpu_count()} cores;"
            f" waiting for a core: workers {best.worker_wait_ms:.2f} ms per page,"
            f" a core with a task queued for it {best.stalled:.0%} of the time"
        )
    print(
        f"  two workers / one: {two.pages_per_second / one.pages_per_second:.2f}× best,"
        f" rounds {', '.join(f'{r:.2f}×' for r in ratios)} (target about 2×)"
    )
    emit(
        BENCH,
        "pages/s, two web workers (target about 2× one)",
        two.pages_per_second,
        one.pages_per_second,
        "pages/s",
        2.0,
    )
    emit(
        BENCH,
        "web workers' wait for a core per page, two vs one",
        two.worker_wait_ms,
        one.worker_wait_ms,
        "ms",
        None,
    )
    emit(
        BENCH,
        "share of the time a core had a task queued, two web workers vs one",
        two.stalled,
        one.stalled,
        "share of the time",
        None,
    )
    for workers, best in ((1, one), (2, two)):
        emit(
            BENCH,
            f"machine CPU per page, {workers} web worker(s)",
            best.machine_cpu_ms,
            best.worker_cpu_ms,
            "ms",
            None,
        )


@dataclass(frozen=True)
class ScaleRound:
    pages_per_second: float
    worker_cpu_ms: float  # per page, in the gunicorn workers
    client_cpu_ms: float  # per page, in the load generator's processes
    machine_cpu_ms: float  # per page, every process on the machine (PostgreSQL and the clients included)
    machine_cores: float  # cores the machine kept busy
    worker_wait_ms: float  # per page, the gunicorn workers ready to run but waiting for a core
    stalled: float  # share of the round in which a busy core had a task queued for it


def _scale_round(
    url: str,
    plan_of: Callable[[tuple[str, int], float, float], LoadPlan],
    workers: int,
    seconds: float,
    clients: int,
) -> ScaleRound:
    with gunicorn(url, workers) as server:
        run_clients(_browsing_client, plan_of(server.address, WARM_UP_SECONDS, 0.0), clients)
        pids = server.worker_pids()
        before, started = cpu_now(pids, []), clock.perf_counter()
        outcomes = run_clients(_browsing_client, plan_of(server.address, seconds, 0.0), clients)
        used, elapsed = cpu_now(pids, []) - before, clock.perf_counter() - started
    pages = sum(1 for outcome in outcomes for _, _, status in outcome.samples if status == 200)
    check_answers(outcomes, [sample for outcome in outcomes for sample in outcome.samples])
    return ScaleRound(
        pages / seconds,
        used.workers / pages * 1000,
        sum(outcome.cpu_seconds for outcome in outcomes) / pages * 1000,
        used.machine / pages * 1000,
        used.machine / elapsed,
        used.waited / pages * 1000,
        used.stalled / elapsed,
    )


def _browsing_client(plan: LoadPlan, number: int, started: threading.Barrier, out: Outcome) -> None:
    """A patient browsing free times without pause, never booking: every round sees the same hospital."""
    browser = Browser(plan.base, out)
    rng = random.Random(number)
    started.wait()
    deadline = clock.perf_counter() + plan.seconds
    while clock.perf_counter() < deadline:
        _browse(browser, plan, rng, lambda: None)


# --- the race -------------------------------------------------------------------------------------


def race_run(engine: Engine, url: str, database: str, attempts: int, clients: int) -> None:
    targets = _race_hospital(engine)
    with gunicorn(url) as server:
        plan = RacePlan(server.address, max(attempts // clients, 1), targets)
        started = clock.perf_counter()
        outcomes = run_clients(_race_client, plan, clients)
        elapsed = clock.perf_counter() - started
    samples = [sample for outcome in outcomes for sample in outcome.samples]
    statuses = Counter(status for _, _, status in samples)
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM consultation WHERE status <> 'cancelled'")
        ).scalar_one()
    doubles = double_bookings(engine)
    print(f"\nrace on {database}: {len(samples)} booking attempts, {clients} clients, {len(targets)} targets")
    print(f"  {len(samples) / elapsed:.1f} attempts/s; answers {dict(sorted(statuses.items()))}")
    print(f"  bookings stored {stored} (answered 201: {statuses[201]})")
    print(f"  double bookings found {doubles} (must be 0)")
    emit(BENCH, f"race attempts/s ({database})", len(samples) / elapsed, None, "attempts/s", None)
    emit(BENCH, f"race bookings ({database})", stored, statuses[201], "bookings", None)
    emit(BENCH, f"double bookings (race, {database})", doubles, 0, "bookings", None)
    check_answers(outcomes, samples)


def _race_hospital(engine: Engine) -> tuple[tuple[int, int | None, str], ...]:
    """Three services of overlapping lengths offered by the same clinicians on one day: 500 targets."""
    day = _weekday_after(datetime.now(UTC).date() + timedelta(days=2))
    with Session(engine) as session:
        department = Department(name="Race Department", contact_phone="+44 20 7946 0000")
        services = [
            Service(
                department=department,
                name=f"Consultation {minutes} min",
                duration_minutes=minutes,
                slot_interval_minutes=15,
                min_notice_minutes=0,
                horizon_days=60,
            )
            for minutes in RACE_LENGTHS
        ]
        people = [clinician(department, services, n, ((time(9), time(17)),)) for n in range(RACE_CLINICIANS)]
        for person in people:
            person.time_zone = "Europe/London"
        session.add_all([department, *services, *people])
        session.commit()
        opening = datetime.combine(day, time(9), tzinfo=LONDON)
        targets = [
            (service.id, who, (opening + timedelta(minutes=15 * n)).astimezone(UTC).isoformat())
            for service in services
            for n in range((8 * 60 - service.duration_minutes) // 15 + 1)
            for who in (*(person.id for person in people), None)
        ]
    random.Random(0).shuffle(targets)
    return tuple(targets[:RACE_TARGETS])


def _race_client(plan: RacePlan, number: int, started: threading.Barrier, out: Outcome) -> None:
    browser = Browser(plan.base, out)
    rng = random.Random(number)
    started.wait()
    for attempt in range(plan.attempts_per_client):
        service, who, start = rng.choice(plan.targets)
        body = {
            "service": service,
            "start": start,
            "time_zone": "Europe/London",
            "consent": {"privacy_notice_version": Config.PRIVACY_NOTICE_VERSION},
            "patient": {
                "name": "Ada Lovelace",
                "email": f"race{number}-{attempt}@example.org",
                "phone": "+44 7700 900123",
                "birth_date": "1985-12-10",
            },
            **({"clinician": who} if who else {}),
        }
        browser.post_json("race", "/api/v1/bookings", body)


def double_bookings(engine: Engine) -> int:
    """Pairs of a clinician's active consultations whose blocked times (with buffers) overlap."""
    query = text(
        "SELECT count(*) FROM consultation a JOIN consultation b"
        " ON a.clinician_id = b.clinician_id AND a.id < b.id"
        " AND a.blocked_from < b.blocked_until AND b.blocked_from < a.blocked_until"
        " WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'"
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


# --- clients --------------------------------------------------------------------------------------


class Browser:
    """One client's HTTP/1.1 requests (gunicorn's sync workers close each connection), with cookies."""

    def __init__(self, base: tuple[str, int], out: Outcome) -> None:
        self.base, self.out, self.cookies = base, out, {}

    def get(self, route: str, path: str, query: dict | None = None) -> bytes:
        return self.get_answer(route, path, query)[1]

    def get_answer(self, route: str, path: str, query: dict | None = None) -> tuple[int, bytes]:
        """The status and the body."""
        return self._request(route, "GET", f"{path}?{urlencode(query)}" if query else path)

    def post_form(self, route: str, path: str, form: dict) -> int:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self._request(route, "POST", path, urlencode(form).encode(), headers)[0]

    def post_json(self, route: str, path: str, body: dict) -> int:
        headers = {"Content-Type": "application/json"}
        return self._request(route, "POST", path, json.dumps(body).encode(), headers)[0]

    def csrf_token(self) -> str:
        """A CSRF token bound to this client's session (Flask-WTF: one serves every form)."""
        match = _CSRF.search(self.get("setup", "/login").decode())
        if not match:
            raise RuntimeError("no CSRF token on /login")
        return match.group(1)

    def sign_in(self, email: str, password: str, csrf: str) -> None:
        status = self.post_form("setup", "/login", {"email": email, "password": password, "csrf_token": csrf})
        if status != 303:
            raise RuntimeError(f"staff sign-in answered {status}")

    def _request(
        self, route: str, method: str, target: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, bytes]:
        host, port = self.base
        headers = {
            **(headers or {}),
            "Host": f"{host}:{port}",
            "Accept-Language": "en-GB",
            "Connection": "close",
        }
        if body is not None:
            headers["Content-Length"] = str(len(body))
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        started = clock.perf_counter()
        try:
            answer = _exchange(
                self.base, f"{method} {target} HTTP/1.1\r\n{head}\r\n".encode() + (body or b"")
            )
        except OSError as error:
            self.out.errors.append(f"{method} {target.split('?')[0]}: {error}")
            self.out.samples.append((route, clock.perf_counter() - started, 0))
            return 0, b""
        status, cookies, data = _parsed(answer)
        self.out.samples.append((route, clock.perf_counter() - started, status))
        self.cookies |= cookies
        return status, data


def _exchange(address: tuple[str, int], request: bytes) -> bytes:
    """Send one HTTP/1.1 request on a connection of its own; the whole answer, read until the server
    closes (gunicorn's sync workers close each one). A bare socket, not http.client, whose parsing of each
    answer's headers (through the email package) made the clients of the scale run take 0.49 ms of CPU per
    page against 0.35: CPU taken from the two cores the server they measure runs on."""
    with socket.create_connection(address, timeout=60) as connection:
        connection.sendall(request)
        parts = []
        while part := connection.recv(65536):
            parts.append(part)
    if not parts:
        raise ConnectionResetError("the server closed the connection without an answer")
    return b"".join(parts)


def _parsed(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    """An HTTP/1.1 answer's status, the cookies it sets (name: value) and its body."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    cookies = {}
    for line in lines:
        name, _, value = line.partition(":")
        if name.lower() == "set-cookie":
            cookie, _, _ = value.strip().partition(";")
            key, _, cookie_value = cookie.partition("=")
            cookies[key.strip()] = cookie_value
        elif name.lower() == "transfer-encoding":
            raise ValueError(f"a {value.strip()} answer: this client reads only answers of a known length")
    return int(status_line.split(" ", 2)[1]), cookies, body


def run_clients(
    client: Callable, plan: object, clients: int, beside: Callable[[], None] | None = None
) -> list[Outcome]:
    """`clients` threads running client(plan, number, barrier, outcome), spread over one process per core,
    all starting together once each has set up; returns each process's Outcome. `beside` runs in a thread
    of this process meanwhile, started once the client processes are (a fork never copies it)."""
    context = multiprocessing.get_context("fork")
    processes = min(os.cpu_count() or 1, clients)
    barrier = context.Barrier(clients)
    results = context.Queue()
    workers = [
        context.Process(
            target=_client_process, args=(client, plan, range(p, clients, processes), barrier, results)
        )
        for p in range(processes)
    ]
    for worker in workers:
        worker.start()
    alongside = threading.Thread(target=beside) if beside else None
    if alongside:
        alongside.start()
    outcomes = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    if alongside:
        alongside.join()
    return outcomes


def _client_process(client: Callable, plan: object, numbers: range, barrier, results) -> None:
    out = Outcome()
    threads = [threading.Thread(target=_guarded, args=(client, plan, n, barrier, out)) for n in numbers]
    cpu = clock.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.cpu_seconds = clock.process_time() - cpu
    results.put(out)


def _guarded(client: Callable, plan: object, number: int, barrier, out: Outcome) -> None:
    try:
        client(plan, number, barrier, out)
    except Exception as error:  # counted and shown; the barrier must not wait for a client that died
        out.errors.append(f"client {number}: {type(error).__name__}: {error}")
        barrier.abort()


# --- the server -----------------------------------------------------------------------------------


class Server:
    """A running gunicorn: its address, its workers' memory and their timings of each route."""

    def __init__(self, process: subprocess.Popen, address: tuple[str, int], timings: Path) -> None:
        self.process, self.address, self.timings = process, address, timings

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def worker_rss_mb(self) -> list[float]:
        """Each worker's resident memory, from /proc (VmRSS, kB)."""
        sizes = []
        for pid in self.worker_pids():
            status = Path(f"/proc/{pid}/status").read_text()
            kb = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1))
            sizes.append(kb / 1024)
        return sizes

    def clear_timings(self) -> None:
        for file in self.timings.glob("worker-*.txt"):
            file.unlink()  # each worker opens its file anew for every request

    def worker_timings(self) -> dict[str, list[tuple[float, float]]]:
        """(wall, CPU) seconds per request inside the workers, by route (bench/served.py writes them)."""
        found: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for file in self.timings.glob("worker-*.txt"):
            for line in file.read_text().splitlines():
                method, path, wall, cpu = line.split()
                found[_route(method, path)].append((float(wall), float(cpu)))
        return found


def _route(method: str, path: str) -> str:
    if method == "POST" and path == "/book/confirm":
        return "booking POST"
    if path.startswith(SPIN_PATH):
        return SPIN[int(path.removeprefix(f"{SPIN_PATH}/"))]
    return "/schedule" if path.startswith("/schedule") else path


@contextmanager
def gunicorn(database_url: str, workers: int | None = None) -> Iterator[Server]:
    """The app under gunicorn with the repo's gunicorn.conf.py (or `workers` workers) on a free loopback
    port, logs to a file."""
    with tempfile.TemporaryDirectory(prefix="clinic-load-") as folder:
        port = _free_port()
        env = {
            **os.environ,
            **SERVER_SETTINGS,
            "CLINIC_DATABASE_URL": database_url,
            "CLINIC_BENCH_TIMINGS": folder,
            "PYTHONPATH": str(ROOT),
        }
        command = [*GUNICORN, "--config", str(ROOT / "gunicorn.conf.py")]
        command += ["--bind", f"127.0.0.1:{port}", *(["--workers", str(workers)] if workers else [])]
        # No recycling after max_requests: a scale round's worker serves thousands of pages, and one
        # replaced mid-round would be measured starting up (and its CPU lost with its process).
        command += ["--max-requests", "0", "bench.served:app"]
        with open(Path(folder) / "gunicorn.log", "wb") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        server = Server(process, ("127.0.0.1", port), Path(folder))
        try:
            _wait_until_up(server, Path(folder) / "gunicorn.log")
            yield server
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(server: Server, log: Path) -> None:
    """Until every worker has loaded the app (a worker answers once it has)."""
    deadline = clock.monotonic() + 300  # a shared machine under load takes its time importing the app
    while clock.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        booted = log.read_text().count("Booting worker")
        try:
            connection = http.client.HTTPConnection(*server.address, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200 and booted and booted == len(server.worker_pids()):
                return
        except OSError:
            pass
        clock.sleep(0.5)
    raise RuntimeError(f"gunicorn did not come up:\n{log.read_text()[-3000:]}")


if __name__ == "__main__":
    main()
