"""Factories for test data: each call makes fresh rows with sensible defaults."""

import itertools
import uuid
from dataclasses import replace
from datetime import date, time, timedelta

from flask.testing import FlaskClient

from clinic.audit import Actor
from clinic.models import (
    AvailabilityRule,
    Clinician,
    CompanionRole,
    Consultation,
    Department,
    Patient,
    Service,
    StaffRole,
    StaffUser,
    TimeOff,
    WalkInHours,
    WalkInQueue,
)
from clinic.scheduling.booking import BookingRequest, Consent, book, place
from clinic.scheduling.companions import CompanionDetails
from clinic.scheduling.patients import PatientDetails
from clinic.scheduling.tokens import new_link_seed
from clinic.staff.accounts import hash_password
from clinic.staff.sessions import SessionRules
from clinic.staff.signin import SignInRules
from clinic.walkin.callers import CallerDetails
from clinic.walkin.queue import Joined, join

from .conftest import TEST_KEYS, TEST_SECRET

_seq = itertools.count(1)

WEEKDAYS = range(5)
STAFF_PASSWORD = "correct horse battery staple"


def department(session, **fields) -> Department:
    n = next(_seq)
    dept = Department(**{"name": f"Department {n}", "contact_phone": "+44 20 7946 0000", **fields})
    session.add(dept)
    session.flush()
    return dept


def service(session, dept: Department | None = None, **fields) -> Service:
    svc = Service(
        **{
            "department": dept or department(session),
            "name": f"Service {next(_seq)}",
            "duration_minutes": 30,
            "slot_interval_minutes": 30,
            "min_notice_minutes": 0,
            "horizon_days": 60,
            **fields,
        }
    )
    session.add(svc)
    session.flush()
    return svc


def clinician(
    session,
    services: list[Service],
    *,
    time_zone: str = "Europe/London",
    hours: list[tuple[time, time]] | None = None,
    weekdays=WEEKDAYS,
    **fields,
) -> Clinician:
    """A clinician offering `services`, working `hours` (default 09:00-12:30 and 13:30-17:00) on weekdays."""
    n = next(_seq)
    hours = hours or [(time(9), time(12, 30)), (time(13, 30), time(17))]
    person = Clinician(
        **{
            "department": services[0].department,
            "display_name": f"Dr Test {n}",
            "email": f"clinician{n}@hospital.example",
            "time_zone": time_zone,
            **fields,
        }
    )
    person.services = list(services)
    person.availability_rules = [
        AvailabilityRule(weekday=day, start_time=start, end_time=end)
        for day in weekdays
        for start, end in hours
    ]
    session.add(person)
    session.flush()
    return person


def time_off(session, person: Clinician, starts_at, ends_at) -> TimeOff:
    off = TimeOff(clinician_id=person.id, starts_at=starts_at, ends_at=ends_at, label="Leave")
    session.add(off)
    session.flush()
    return off


def patient_details(n: int | None = None, **fields) -> PatientDetails:
    n = n if n is not None else next(_seq)
    return PatientDetails(
        **{
            "name": f"Patient {n}",
            "email": f"patient{n}@example.org",
            "phone": "+44 7700 900123",
            "birth_date": date(1980, 1, 1),
            "time_zone": "Europe/London",
            **fields,
        }
    )


def booking(
    session, svc: Service, start, *, now, clinician_id=None, reason="", key=None, patient=None, companion=None
):
    """Book through the real booking service, inviting `companion` if given; returns the Booked result."""
    request = BookingRequest(
        service_id=svc.id,
        start=start,
        patient=patient or patient_details(),
        clinician_id=clinician_id,
        reason=reason,
        idempotency_key=key,
        companion=companion,
    )
    return book(session, request, now=now, keys=TEST_KEYS, actor=Actor("patient"))


def companion_details(n: int | None = None, **fields) -> CompanionDetails:
    """An interpreter's details, unless `fields` say otherwise."""
    n = n if n is not None else next(_seq)
    return CompanionDetails(
        **{
            "name": f"Companion {n}",
            "email": f"companion{n}@example.net",
            "role": CompanionRole.INTERPRETER,
            **fields,
        }
    )


def consultation(session, svc: Service, person: Clinician, start, *, patient=None, **fields) -> Consultation:
    """A consultation written straight to the database at `start` (no slot rules, no outbox), for
    pages that show the day as it is; committed. Use `booking` to go through the booking service."""
    n = next(_seq)
    details = patient or patient_details(n)
    row = Consultation(
        **{
            "uuid": str(uuid.uuid4()),
            "reference": f"T{n:03d}-{n % 10000:04d}"[:12],
            "patient": Patient(
                name=details.name,
                email=details.email,
                phone=details.phone,
                birth_date=details.birth_date,
                time_zone=details.time_zone,
            ),
            "clinician": person,
            "service": svc,
            "patient_time_zone": details.time_zone,
            "link_seed": new_link_seed(),
            "meeting_provider": "jitsi",
            "meeting_join_url": f"https://meet.example/room-{n}",
            "meeting_host_url": f"https://meet.example/room-{n}?host",
            **fields,
        }
    )
    place(row, svc, start)
    session.add(row)
    session.commit()
    return row


ALL_DAY = (time(0), time(0))  # a period from midnight to midnight: the whole day


def walk_in_queue(
    session, svc: Service, on_duty: list[Clinician], *, hours=ALL_DAY, weekdays=range(7), **fields
) -> WalkInQueue:
    """A queue for `svc`'s department, taking calls of `svc`'s length, open in `hours` (default: always)
    on `weekdays`, with `on_duty` taking its callers; committed."""
    n = next(_seq)
    queue = WalkInQueue(
        **{
            "department": svc.department,
            "service": svc,
            "slug": f"helpline-{n}",
            "name": f"Helpline {n}",
            "description": "Talk to a nurse now.",
            "time_zone": "Europe/London",
            **fields,
        }
    )
    queue.hours = [WalkInHours(weekday=day, start_time=hours[0], end_time=hours[1]) for day in weekdays]
    queue.staff = list(on_duty)
    session.add(queue)
    session.commit()
    return queue


def caller_details(n: int | None = None, **fields) -> CallerDetails:
    n = n if n is not None else next(_seq)
    return CallerDetails(**{"name": f"Caller {n}", "email": f"caller{n}@example.org", "phone": "", **fields})


def walk_in(session, queue: WalkInQueue, *, now, details: CallerDetails | None = None) -> Joined:
    """A caller joining `queue` through the real service; returns the Joined result."""
    consent = Consent("2026-12-01")
    return join(
        session, queue.id, details or caller_details(), consent, now=now, keys=TEST_KEYS, actor=Actor()
    )


def staff(
    session, *, role: StaffRole = StaffRole.ADMIN, password: str = STAFF_PASSWORD, **fields
) -> StaffUser:
    """A staff account (an admin unless `role` says otherwise) that signs in with `password`; committed,
    since signing in runs transactions of its own."""
    n = next(_seq)
    user = StaffUser(
        **{
            "email": f"staff{n}@hospital.example",
            "display_name": f"Staff Member {n}",
            "password_hash": hash_password(password),
            "role": role,
            **fields,
        }
    )
    session.add(user)
    session.commit()
    return user


def linked_staff(session, person: Clinician, role: StaffRole, **fields) -> StaffUser:
    """A clinician's own account, or a receptionist of their department: the non-admin roles."""
    link = (
        {"clinician_id": person.id}
        if role is StaffRole.CLINICIAN
        else {"department_id": person.department_id}
    )
    return staff(session, role=role, **link, **fields)


def sign_in_rules(**changes) -> SignInRules:
    """Sign-in rules for service tests: 3 failures per address, 5 per account, 15-minute windows."""
    rules = SignInRules(
        max_failures=5,
        lock_for=timedelta(minutes=15),
        window=timedelta(minutes=15),
        max_failures_per_address=3,
        require_admin_mfa=False,
        secret_keys=(TEST_SECRET,),
        sessions=SessionRules(
            idle=timedelta(minutes=30), lifetime=timedelta(hours=12), admin_second_factor=False
        ),
    )
    return replace(rules, **changes)


def sign_in(
    client, user: StaffUser, password: str = STAFF_PASSWORD, *, remote_addr: str = "127.0.0.1", **form
):
    """Sign `client` in as `user` through the login form, from `remote_addr`; returns the response."""
    data = {"email": user.email, "password": password, **form}
    return client.post("/login", data=data, environ_base={"REMOTE_ADDR": remote_addr})


def browser(app) -> FlaskClient:
    """A test client that is its own browser: its own cookies, and each request in its own app context."""
    return RequestScopedClient(app, app.response_class, use_cookies=True)


def same_browser(app, client: FlaskClient) -> FlaskClient:
    """`client`'s browser sending again before its last answer has arrived (a double click): its cookie as
    it is now, without what an answer still on its way will set."""
    twin = browser(app)
    if (cookie := client.get_cookie("session")) is not None:
        twin.set_cookie("session", cookie.value)
    return twin


class RequestScopedClient(FlaskClient):
    """A test client whose every request gets its own app context, as in production.

    Flask-Login caches the signed-in user in `g`; in the test's own app context that cache would
    outlive the request and hide a session that the database has ended meanwhile.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)
