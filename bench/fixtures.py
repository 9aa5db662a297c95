"""Shared set-up for the benchmarks: a migrated database, a hospital, bulk-loaded bookings, timing."""

import itertools
import logging
import os
import statistics
import tempfile
import time as clock
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from random import Random
from zoneinfo import ZoneInfo

from flask_migrate import upgrade
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from clinic import create_app
from clinic.extensions import db
from clinic.models import AvailabilityRule, Clinician, Consultation, Department, Patient, Service

BENCH_SECRET = "bench-secret-key"
# Monday 2 March 2026, 07:00 UTC: before any clinic opens, three weeks before Europe's DST change.
NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
ZONES = ("Europe/London", "Europe/Amsterdam")
HOURS = ((time(9), time(12, 30)), (time(13, 30), time(17)))  # with a lunch break
WORKDAYS = range(5)
SLOT = timedelta(minutes=30)
_references = itertools.count(1)


@dataclass(frozen=True)
class Hospital:
    """What the benchmarks need to know of the hospital they built."""

    service_id: int
    clinicians: tuple[tuple[int, str], ...]  # (id, time zone)
    patient_id: int


@dataclass(frozen=True)
class Timing:
    """Seconds per run over repeated runs."""

    best: float
    median: float

    def __str__(self) -> str:
        return f"best {self.best * 1000:8.2f} ms   median {self.median * 1000:8.2f} ms"


@contextmanager
def bench_engine(database_url: str | None, audit_key: str | None = None) -> Iterator[Engine]:
    """The app's engine on a fresh, migrated database: a temp SQLite file unless a URL is given.

    A PostgreSQL database is wiped first, so only names containing "bench" are accepted. `audit_key`: the
    CLINIC_AUDIT_KEY of the server the bench then starts on it, which refuses a chain another key signed.
    """
    with tempfile.TemporaryDirectory(prefix="clinic-bench-") as folder:
        url = database_url or f"sqlite:///{folder}/bench.sqlite"
        if make_url(url).get_backend_name() == "postgresql":
            _wipe_postgres(url)
        os.environ["CLINIC_INSTANCE_PATH"] = folder
        settings = {"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "SECRET_KEY": BENCH_SECRET}
        app = create_app({**settings, "AUDIT_KEY": audit_key})
        with app.app_context():
            logging.disable(logging.INFO)  # Alembic's "Running upgrade" lines are not figures
            try:
                upgrade()
            finally:
                logging.disable(logging.NOTSET)
            try:
                yield db.engine
            finally:
                db.engine.dispose()


def _wipe_postgres(url: str) -> None:
    target = make_url(url)
    if target.host not in (None, "127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing {target.host}: the benchmarks run on loopback only")
    if "bench" not in (target.database or ""):
        raise SystemExit(
            f"refusing to wipe {target.database!r}: a benchmark database has 'bench' in its name"
        )
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def build_hospital(engine: Engine, clinicians: int = 50) -> Hospital:
    """One 30-minute service (15-minute steps) offered by `clinicians` in London and Amsterdam."""
    with Session(engine) as session:
        department = Department(name="Bench Department", contact_phone="+44 20 7946 0000")
        service = Service(
            department=department,
            name="Video consultation",
            duration_minutes=30,
            slot_interval_minutes=15,
            min_notice_minutes=0,
            horizon_days=60,
        )
        people = [clinician(department, [service], n) for n in range(clinicians)]
        patient = Patient(
            name="Bulk Patient",
            email="bulk@example.org",
            phone="+44 7700 900000",
            birth_date=date(1980, 1, 1),
            time_zone="Europe/London",
        )
        session.add_all([department, service, patient, *people])
        session.commit()
        return Hospital(service.id, tuple((p.id, p.time_zone) for p in people), patient.id)


def clinician(
    department: Department, services: list[Service], n: int, hours: tuple[tuple[time, time], ...] = HOURS
) -> Clinician:
    """Dr Bench n, in London or Amsterdam, offering `services` in `hours` on weekdays."""
    person = Clinician(
        department=department,
        display_name=f"Dr Bench {n}",
        email=f"bench{n}@hospital.example",
        time_zone=ZONES[n % len(ZONES)],
    )
    person.services = services
    person.availability_rules = [
        AvailabilityRule(weekday=day, start_time=start, end_time=end)
        for day in WORKDAYS
        for start, end in hours
    ]
    return person


def working_slots(time_zone: str, first_day: date, days: int) -> Iterator[datetime]:
    """Every 30-minute slot on the half-hour grid of the weekly hours, as UTC instants."""
    tz = ZoneInfo(time_zone)
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if day.weekday() not in WORKDAYS:
            continue
        for start, end in HOURS:
            moment, stop = datetime.combine(day, start, tzinfo=tz), datetime.combine(day, end, tzinfo=tz)
            while moment + SLOT <= stop:
                yield moment.astimezone(UTC)
                moment += SLOT


def free_slots(hospital: Hospital, first_day: date, days: int) -> list[tuple[int, datetime]]:
    """Every (clinician, start) on the half-hour grid of those days, shuffled: distinct and free."""
    slots = [
        (clinician_id, start)
        for clinician_id, time_zone in hospital.clinicians
        for start in working_slots(time_zone, first_day, days)
    ]
    Random(0).shuffle(slots)
    return slots


def bulk_book(engine: Engine, hospital: Hospital, first_day: date, days: int, share: float = 0.5) -> int:
    """Book about `share` of every clinician's slots on those days with Core inserts; return the count."""
    pick = Random(f"{first_day}:{days}")
    rows = [
        consultation_row(hospital, clinician_id, start)
        for clinician_id, time_zone in hospital.clinicians
        for start in working_slots(time_zone, first_day, days)
        if pick.random() < share
    ]
    with engine.begin() as conn:
        for chunk in range(0, len(rows), 5000):
            conn.execute(insert(Consultation), rows[chunk : chunk + 5000])
        conn.execute(text("ANALYZE consultation"))  # fresh planner statistics, as a live table has
    return len(rows)


def consultation_row(hospital: Hospital, clinician_id: int, start: datetime) -> dict:
    """A booked 30-minute consultation of the hospital's service and bulk patient, for a Core insert."""
    return {
        "uuid": str(uuid.uuid4()),
        "reference": f"BULK{next(_references):08d}",
        "patient_id": hospital.patient_id,
        "clinician_id": clinician_id,
        "service_id": hospital.service_id,
        "starts_at": start,
        "ends_at": start + SLOT,
        "blocked_from": start,
        "blocked_until": start + SLOT,
        "status": "booked",
        "reason": "",
        "patient_time_zone": "Europe/London",
        "invite_sequence": 0,
        "manage_token_hash": "0" * 64,
        "cancel_reason": "",
        "created_at": NOW,
        "updated_at": NOW,
    }


def measure(runs: dict[str, Callable[[], float]], repeats: int, warmup: int = 2) -> dict[str, Timing]:
    """Run each timer (a callable returning the seconds it measured) `repeats` times.

    The runs are interleaved round by round, so drift in the machine's speed hits all alike.
    """
    for _ in range(warmup):
        for run in runs.values():
            run()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            samples[name].append(run())
    return {name: Timing(min(s), statistics.median(s)) for name, s in samples.items()}


def timed(work: Callable[[], object]) -> Callable[[], float]:
    """A timer for `work` as a whole."""

    def run() -> float:
        started = clock.perf_counter()
        work()
        return clock.perf_counter() - started

    return run
