"""Due reminders in bulk, drained by real `flask clinic worker` processes into fake SMTP servers.

The one home of the worker fault proofs: `tests/test_worker_faults.py` asserts on what these
scenarios return and `bench/outbox_workers.py` prints it. Workers run on the real clock, so the
reminders are made due now for consultations that start in the next days.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import astuple, dataclass
from datetime import date, datetime, timedelta
from email.parser import BytesHeaderParser
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from clinic.jobs.claims import UNFINISHED
from clinic.jobs.context import message_id_for
from clinic.jobs.outbox import plan_reminders
from clinic.models import (
    Clinician,
    Consultation,
    Department,
    OutboxMessage,
    Patient,
    Service,
    WorkerHeartbeat,
    utcnow,
)

from .smtp import FakeSMTPServer, Received, SMTPServerProcess

ROOT = Path(__file__).resolve().parents[2]
# libfaketime, for threaded programs (Debian's package faketime); None without it.
FAKETIME = next(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"), None)
DOMAIN = "clinic.example"  # the INVITE_DOMAIN the workers use: Message-IDs are made with it
SLOT = timedelta(minutes=30)
PER_CLINICIAN = 100  # consultations per clinician, back to back
# Booked a month ago with a reminder a week before the start: every reminder is overdue now.
OFFSET = timedelta(days=7)
REMINDER_OFFSETS = "7d"  # the workers' setting, as the reminders are planned


def seed_due_reminders(engine: Engine, count: int, now: datetime) -> dict[str, str]:
    """Book `count` consultations, each with its own patient, and plan one due reminder for each.

    Returns each reminder's Message-ID with the address it must reach. Callable again on the same
    database: every call makes new clinicians and patients.
    """
    with Session(engine) as session:
        service = _service(session, count)
        recipients = _book(session, service, count, now + timedelta(hours=2))
        booked_at = now - timedelta(days=30)
        expected = {}
        for consultation in session.scalars(select(Consultation).where(Consultation.id.in_(recipients))):
            (reminder,) = plan_reminders(session, consultation, (OFFSET,), since=booked_at, now=booked_at)
            expected[message_id_for(reminder, DOMAIN)] = recipients[consultation.id]
        session.commit()
    return expected


def _service(session: Session, count: int) -> Service:
    department = Department(name=f"Reminders {uuid.uuid4().hex[:12]}")
    service = Service(department=department, name="Video consultation", duration_minutes=30)
    clinicians = [
        Clinician(
            department=department,
            display_name=f"Dr Reminder {n}",
            email=f"dr{n}.{uuid.uuid4().hex[:8]}@hospital.example",
            time_zone="Europe/London",
            services=[service],
        )
        for n in range(-(-count // PER_CLINICIAN))
    ]
    session.add_all([department, service, *clinicians])
    session.flush()
    return service


def _book(session: Session, service: Service, count: int, first_start: datetime) -> dict[int, str]:
    """Consultations back to back on the service's clinicians, each for a new patient: {id: address}."""
    batch = uuid.uuid4().hex[:12]
    patients = [
        {
            "name": f"Patient {n}",
            "email": f"patient{n}.{batch}@example.org",
            "phone": "+44 7700 900000",
            "birth_date": date(1980, 1, 1),
            "time_zone": "Europe/London",
            "language": "en",
            "created_at": first_start,
        }
        for n in range(count)
    ]
    patient_ids = session.scalars(
        insert(Patient).returning(Patient.id, sort_by_parameter_order=True), patients
    ).all()
    clinician_ids = [c.id for c in sorted(service.clinicians, key=lambda c: c.id)]
    rows = [
        _consultation(
            service, clinician_ids[n // PER_CLINICIAN], patient_id, first_start + (n % PER_CLINICIAN) * SLOT
        )
        for n, patient_id in enumerate(patient_ids)
    ]
    ids = session.scalars(insert(Consultation).returning(Consultation.id, sort_by_parameter_order=True), rows)
    return dict(zip(ids, (patient["email"] for patient in patients), strict=True))


def _consultation(service: Service, clinician_id: int, patient_id: int, start: datetime) -> dict:
    key = str(uuid.uuid4())
    return {
        "uuid": key,
        "reference": key.replace("-", "")[:12].upper(),
        "patient_id": patient_id,
        "clinician_id": clinician_id,
        "service_id": service.id,
        "starts_at": start,
        "ends_at": start + SLOT,
        "blocked_from": start,
        "blocked_until": start + SLOT,
        "status": "booked",
        "patient_time_zone": "Europe/London",
        "meeting_provider": "jitsi",
        "meeting_join_url": f"https://meet.example/{key}",
        "meeting_external_id": key,
        "invite_sequence": 0,
        "link_seed": "0" * 64,
        "created_at": start - timedelta(days=30),
        "updated_at": start - timedelta(days=30),
    }


@dataclass(frozen=True)
class Delivery:
    """What the SMTP server received against the reminders expected, counted by Message-ID and recipient."""

    expected: int
    received: int
    missing: tuple[str, ...]  # Message-IDs that never arrived
    repeated: dict[str, int]  # Message-ID → copies beyond the first
    repeated_recipients: dict[str, int]  # address → mails beyond the first (one reminder each)
    misaddressed: int  # mails with an unknown Message-ID or sent to someone else than their row's patient

    @property
    def exactly_once(self) -> bool:
        return not (self.missing or self.repeated or self.repeated_recipients or self.misaddressed)

    @property
    def repeats_share_message_id(self) -> bool:
        """Every patient who got a reminder twice got the same Message-ID twice (a mail client drops one)."""
        return sorted(self.repeated_recipients.values()) == sorted(self.repeated.values())


def tally(expected: dict[str, str], received: list[Received]) -> Delivery:
    """Compare `received` with `expected` ({Message-ID: address})."""
    headers = BytesHeaderParser()
    by_id: Counter[str] = Counter()
    by_recipient: Counter[str] = Counter()
    misaddressed = 0
    for mail in received:
        message_id = str(headers.parsebytes(mail.content)["Message-ID"]).strip()
        by_id[message_id] += 1
        by_recipient.update(mail.rcpt_tos)
        misaddressed += mail.rcpt_tos != (expected.get(message_id),)
    return Delivery(
        expected=len(expected),
        received=len(received),
        missing=tuple(sorted(set(expected) - set(by_id))),
        repeated={key: n - 1 for key, n in by_id.items() if n > 1},
        repeated_recipients={key: n - 1 for key, n in by_recipient.items() if n > 1},
        misaddressed=misaddressed,
    )


class WorkerProcess:
    """One `flask --app wsgi clinic worker` process on `database_url`, mailing to `smtp`, with `settings`
    (CLINIC_* variables) besides, its clock `clock_ahead` seconds off this machine's (libfaketime's
    FAKETIME); logs to a file."""

    def __init__(
        self,
        database_url: str,
        smtp: FakeSMTPServer | SMTPServerProcess,
        folder: Path,
        lease_seconds: float,
        settings: dict[str, str] | None = None,
        clock_ahead: float = 0,
    ) -> None:
        env = {
            **os.environ,
            "CLINIC_ENV": "testing",
            "CLINIC_DATABASE_URL": database_url,
            "CLINIC_INSTANCE_PATH": str(folder / "worker-instance"),
            "CLINIC_MAIL_BACKEND": "smtp",
            "CLINIC_SMTP_HOST": smtp.host,
            "CLINIC_SMTP_PORT": str(smtp.port),
            "CLINIC_INVITE_DOMAIN": DOMAIN,
            "CLINIC_OUTBOX_TICK_SECONDS": "0.1",
            "CLINIC_OUTBOX_LEASE_SECONDS": str(lease_seconds),
            "CLINIC_REMINDER_OFFSETS": REMINDER_OFFSETS,
            **(settings or {}),
        }
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / f"worker-{time.monotonic_ns()}.log"
        command = [sys.executable, "-m", "flask", "--app", "wsgi", "clinic", "worker"]
        if clock_ahead:
            # libfaketime moves the process's clock as a machine's own would be off (monotonic time too,
            # unless told not to: APScheduler and the waits time themselves by it). Preloaded, as the
            # `faketime` command would run the worker as its child, out of reach of stop()'s SIGTERM.
            env |= {
                "LD_PRELOAD": str(FAKETIME),
                "FAKETIME": f"{clock_ahead:+}s",
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            }
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no handler runs, the claimed batch and any open transaction are abandoned."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM, as a deployment stops it; SIGKILL if it has not finished within 20 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text()


@dataclass(frozen=True)
class Run:
    """One scenario: what arrived, how many reminders each worker finished, and how long it took."""

    delivery: Delivery
    per_worker: dict[int, int]  # worker pid → reminders it finished (outbox_message.claimed_by)
    seconds: float  # until the outbox was drained: from the reminders falling due, or from the first start
    killed_after: int | None = None  # mails the server had when the worker was killed
    cpu: "CPU | None" = None  # spent during the drain (drain_with_workers)


@dataclass(frozen=True)
class CPU:
    """CPU seconds spent over a span of time, by whom: what limits a drain on one machine."""

    workers: float  # the worker processes
    servers: float  # the SMTP servers' processes, receiving every mail
    here: float  # this process: the polling
    machine: float  # every process of the machine, the database server's included
    stolen: float  # the hypervisor's, from this machine's cores
    # Two cores shared by a chain of processes (worker, its SMTP server, the database) fall short of
    # twice one when a process that could run finds both cores taken: time the CPU figures don't show.
    waited: float  # the workers and servers, ready to run but waiting for a core
    stalled: float  # wall time in which a busy core had a task queued for it, over the cores (nan: no PSI)

    def __sub__(self, before: "CPU") -> "CPU":
        return CPU(*(now - then for now, then in zip(astuple(self), astuple(before), strict=True)))


def cpu_now(workers: list[int], servers: list[int]) -> CPU:
    """The CPU seconds used so far by the processes `workers` and `servers`, by this one, and by the
    machine, with the time they and the machine waited for a core (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    busy = user + nice + system + irq + softirq
    return CPU(
        _ticks(workers) / tick,
        _ticks(servers) / tick,
        time.process_time(),
        busy / tick,
        steal / tick,
        _waited(workers + servers),
        _stalled(),
    )


def _ticks(pids: list[int]) -> int:
    """User and system clock ticks of the processes `pids` so far."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks


def _waited(pids: list[int]) -> float:
    """Seconds the processes `pids` (every thread of each) have spent ready to run but without a core."""
    nanoseconds = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with suppress(FileNotFoundError):  # a thread that ended since the listing
                nanoseconds += int((task / "schedstat").read_text().split()[1])  # run_delay
    return nanoseconds / 1e9


def _stalled() -> float:
    """Seconds in which a busy core had a task ready to run queued behind the one running, averaged over
    the busy cores: the kernel's pressure stall information, "some" line of /proc/pressure/cpu."""
    try:
        some = Path("/proc/pressure/cpu").read_text().split("\n", 1)[0]
    except OSError:  # a kernel without PSI: unknown, not none
        return float("nan")
    return int(some.rsplit("total=", 1)[1]) / 1e6


def drain_with_workers(
    engine: Engine, database_url: str, folder: Path, count: int, workers: int = 2, timeout: float = 60
) -> Run:
    """`workers` workers side by side (PostgreSQL: SQLite runs one) drain `count` reminders that fall due
    at once, after every worker has started: `seconds` is the drain alone, without process start-up."""
    with _scenario(database_url, folder, lease_seconds=120) as relays:
        started = [relays.start() for _ in range(workers)]
        _wait_until(lambda: _registered(engine) >= {worker.pid for worker in started}, timeout, started)
        expected = seed_due_reminders(engine, count, utcnow())
        due, before = time.monotonic(), relays.cpu()
        _wait_until(_drained(engine, relays, count), timeout, started)
        seconds, cpu = time.monotonic() - due, relays.cpu() - before
        return Run(tally(expected, relays.received()), _per_worker(engine, started), seconds, cpu=cpu)


def kill_and_restart(
    engine: Engine, database_url: str, folder: Path, count: int, lease_seconds: float = 2, timeout: float = 60
) -> Run:
    """One worker is SIGKILLed once about a third of `count` reminders arrived; a new one drains the rest.

    The killed worker's claimed batch comes back when its lease of `lease_seconds` runs out.
    """
    expected = seed_due_reminders(engine, count, utcnow())
    with _scenario(database_url, folder, lease_seconds) as relays:
        started = time.monotonic()
        first = relays.start()
        _wait_until(lambda: relays.count() >= count // 3, timeout, [first])
        first.kill()
        killed_after = relays.count()
        second = relays.start()
        _wait_until(lambda: unfinished(engine) == 0, timeout, [first, second])
        seconds = time.monotonic() - started
        delivery = tally(expected, relays.received())
        return Run(delivery, _per_worker(engine, [first, second]), seconds, killed_after)


class _Relays:
    """Workers started on demand, each mailing an SMTP server process of its own, as workers on several
    machines mail their own relays: one server for all would queue each worker's mail behind the
    others', and its share of the machine would count against the workers."""

    def __init__(self, database_url: str, folder: Path, lease_seconds: float) -> None:
        self.database_url, self.folder, self.lease_seconds = database_url, folder, lease_seconds
        self.workers: list[WorkerProcess] = []
        self.servers: list[SMTPServerProcess] = []

    def start(self) -> WorkerProcess:
        self.servers.append(SMTPServerProcess())
        self.workers.append(
            WorkerProcess(self.database_url, self.servers[-1], self.folder, self.lease_seconds)
        )
        return self.workers[-1]

    def count(self) -> int:
        """Mails the servers accepted so far."""
        return sum(server.count for server in self.servers)

    def cpu(self) -> CPU:
        return cpu_now([worker.pid for worker in self.workers], [server.pid for server in self.servers])

    def received(self) -> list[Received]:
        """Every mail that arrived; the servers stop."""
        return [mail for server in self.servers for mail in server.stop()]

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.received()


@contextmanager
def _scenario(database_url: str, folder: Path, lease_seconds: float) -> Iterator[_Relays]:
    """Workers and their SMTP servers to start; every one is stopped at the end."""
    relays = _Relays(database_url, folder, lease_seconds)
    try:
        yield relays
    finally:
        relays.stop()


def unfinished(engine: Engine) -> int:
    """Outbox messages not yet sent, failed for good or cancelled."""
    with Session(engine) as session:
        return session.scalar(select(func.count()).where(OutboxMessage.status.in_(UNFINISHED)))


def _drained(engine: Engine, relays: _Relays, count: int) -> Callable[[], bool]:
    """Whether no message is left unfinished, asked of the database only once the servers have `count`
    mails (a shared counter, free to read) or half a second after it was last asked (a mail that never
    arrives): a count every poll took this process 0.4-0.7 ms of CPU per mail, and PostgreSQL more,
    from the cores the workers are measured on."""
    asked = time.monotonic()

    def drained() -> bool:
        nonlocal asked
        if relays.count() < count and time.monotonic() - asked < 0.5:
            return False
        asked = time.monotonic()
        return unfinished(engine) == 0

    return drained


def _registered(engine: Engine) -> set[int]:
    """The pids of the workers that have announced themselves (their heartbeat row)."""
    with Session(engine) as session:
        return {
            int(worker_id.split(":")[-2]) for worker_id in session.scalars(select(WorkerHeartbeat.worker_id))
        }


def _per_worker(engine: Engine, workers: list[WorkerProcess]) -> dict[int, int]:
    # A worker id is "host:pid:random" (new_worker_id in clinic/jobs/heartbeat.py).
    with Session(engine) as session:
        counts = session.execute(
            select(OutboxMessage.claimed_by, func.count()).group_by(OutboxMessage.claimed_by)
        ).all()
    pids = {worker.pid for worker in workers}
    ran = {int(claimed_by.split(":")[-2]): n for claimed_by, n in counts if claimed_by}
    return {pid: ran.get(pid, 0) for pid in sorted(pids)}


def _wait_until(condition: Callable[[], bool], timeout: float, workers: list[WorkerProcess]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(worker.log()[-2000:] for worker in workers)
            raise TimeoutError(f"the workers did not get there in {timeout} s; their logs:\n{logs}")
        time.sleep(0.01)
