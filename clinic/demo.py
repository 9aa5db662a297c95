"""A realistic demo hospital: departments, clinicians in two zones, services, hours, bookings, logins, and a
walk-in support line open at all hours, so the queue can be tried at any time."""

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .audit import SYSTEM
from .models import (
    AvailabilityRule,
    Clinician,
    Department,
    QueueStatus,
    Service,
    StaffRole,
    StaffUser,
    TimeOff,
    WalkInHours,
    WalkInQueue,
)
from .scheduling.availability import find_slots
from .scheduling.booking import BookingRequest, book
from .scheduling.errors import SlotUnavailable
from .scheduling.patients import PatientDetails
from .scheduling.tokens import LinkKeys
from .staff.accounts import create_staff, staff_by_email

DEPARTMENTS = {
    "Cardiology": ("+44 20 7946 0101", [("Follow-up call", 15), ("New patient consultation", 45)]),
    "Dermatology": ("+44 20 7946 0102", [("Skin check review", 20), ("Consultation", 30)]),
    "Mental Health": ("+44 20 7946 0103", [("Check-in", 20), ("Therapy session", 45)]),
}
CLINICIANS = [
    ("Dr Amara Okafor", "Cardiology", "Europe/London"),
    ("Dr Lars de Vries", "Cardiology", "Europe/Amsterdam"),
    ("Dr Priya Raman", "Cardiology", "Europe/London"),
    ("Dr Sofia Jansen", "Dermatology", "Europe/Amsterdam"),
    ("Dr Tom Whitfield", "Dermatology", "Europe/London"),
    ("Dr Noor Haddad", "Dermatology", "Europe/Amsterdam"),
    ("Dr Ellen Brooks", "Mental Health", "Europe/London"),
    ("Dr Pieter Bakker", "Mental Health", "Europe/Amsterdam"),
    ("Dr Hannah Lewis", "Mental Health", "Europe/London"),
]
FIRST = ["Alex", "Sam", "Jo", "Maria", "Ahmed", "Lena", "Chris", "Fatima", "Ivan", "Grace", "Yusuf", "Emma"]
LAST = ["Smith", "Jones", "Visser", "Khan", "Murphy", "de Boer", "Patel", "Evans", "Novak", "Brown"]
DAY_PARTS = [(time(9), time(12, 30)), (time(13, 30), time(17))]  # lunch 12:30-13:30
DEMO_ADMIN_EMAIL = "admin@demo.clinic.example"
# The walk-in queue: Mental Health's support line, its check-in's length, with these clinicians on duty.
WALK_IN = (
    "Mental Health",
    "mental-health",
    "Mental health support line",
    ["Dr Ellen Brooks", "Dr Hannah Lewis"],
)


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: StaffRole
    created: bool  # made by this run


def load_demo(session: Session, *, now: datetime, keys: LinkKeys, bookings: int = 300) -> bool:
    """Create the demo hospital unless it exists. False when there was nothing to do."""
    if session.scalar(select(Department.id).where(Department.name == "Cardiology")):
        return False
    rng = random.Random(20261124)
    services = _departments_and_services(session)
    clinicians = _clinicians(session, services, now)
    session.add(_walk_in_queue(services, clinicians))
    session.commit()
    _bookings(session, services, clinicians, now, keys, rng, bookings)
    return True


def demo_logins(session: Session, *, now: datetime, password: str) -> list[DemoLogin]:
    """A login for the demo admin, each demo clinician and each demo department's reception, all with
    `password`; each made unless it exists (so a hospital loaded before gets the missing ones)."""
    wanted = [(DEMO_ADMIN_EMAIL, "Demo Admin", StaffRole.ADMIN, {})]
    departments = session.scalars(select(Department).where(Department.name.in_(DEPARTMENTS))).all()
    for department in departments:
        slug = department.name.lower().replace(" ", "-")
        email = f"reception.{slug}@demo.clinic.example"
        wanted.append(
            (email, f"{department.name} reception", StaffRole.RECEPTION, {"department_id": department.id})
        )
        for clinician in department.clinicians:
            linked = {"clinician_id": clinician.id}
            wanted.append((clinician.email, clinician.display_name, StaffRole.CLINICIAN, linked))
    return [_login(session, now, password, *login) for login in wanted]


def _login(session, now, password, email, name, role, links) -> DemoLogin:
    existing = staff_by_email(session, email)
    if existing is not None or _linked(session, links.get("clinician_id")):
        return DemoLogin(email, role, created=False)
    create_staff(
        session, email=email, display_name=name, password=password, role=role, now=now, actor=SYSTEM, **links
    )
    return DemoLogin(email, role, created=True)


def _linked(session: Session, clinician_id: int | None) -> bool:
    return (
        clinician_id is not None
        and session.scalar(select(StaffUser.id).where(StaffUser.clinician_id == clinician_id)) is not None
    )


def _departments_and_services(session: Session) -> dict[str, list[Service]]:
    services = {}
    for name, (phone, offered) in DEPARTMENTS.items():
        department = Department(name=name, contact_phone=phone)
        session.add(department)
        services[name] = [
            Service(
                department=department,
                name=title,
                duration_minutes=minutes,
                buffer_after_minutes=5 if minutes >= 30 else 0,
                slot_interval_minutes=15 if minutes != 20 else 20,
                min_notice_minutes=120,
                horizon_days=60,
            )
            for title, minutes in offered
        ]
        session.add_all(services[name])
    return services


def _clinicians(session: Session, services: dict[str, list[Service]], now: datetime) -> list[Clinician]:
    clinicians = []
    for i, (name, department_name, zone_name) in enumerate(CLINICIANS):
        department = services[department_name][0].department
        clinician = Clinician(
            department=department,
            display_name=name,
            title="Consultant",
            email=f"{name.split()[-1].lower()}.{i}@hospital.example",
            time_zone=zone_name,
            services=list(services[department_name]),
        )
        weekdays = range(5) if i % 3 else range(4)  # some work four days
        clinician.availability_rules = [
            AvailabilityRule(weekday=day, start_time=start, end_time=end)
            for day in weekdays
            for start, end in DAY_PARTS
        ]
        session.add(clinician)
        clinicians.append(clinician)
    for clinician in clinicians[::4]:  # a week of leave in two weeks' time
        start = datetime.combine(now.date() + timedelta(days=14), time(), tzinfo=UTC)
        session.add(
            TimeOff(clinician=clinician, starts_at=start, ends_at=start + timedelta(days=7), label="Leave")
        )
    return clinicians


def _walk_in_queue(services: dict[str, list[Service]], clinicians: list[Clinician]) -> WalkInQueue:
    department_name, slug, name, on_duty = WALK_IN
    service = services[department_name][0]
    return WalkInQueue(
        department=service.department,
        service=service,
        slug=slug,
        name=name,
        description="Talk to someone from the mental health team today, by video, without an appointment.",
        time_zone="Europe/London",
        status=QueueStatus.OPEN,
        # Midnight to midnight every day: open at all hours, so the demo can be tried at any time.
        hours=[WalkInHours(weekday=day, start_time=time(0), end_time=time(0)) for day in range(7)],
        staff=[c for c in clinicians if c.display_name in on_duty],
    )


def _bookings(session, services, clinicians, now, keys, rng, count) -> None:
    window = (now, now + timedelta(days=28))
    all_services = [s for offered in services.values() for s in offered]
    free = {s.id: find_slots(session, s, *window, now) for s in all_services}
    made = 0
    while made < count and any(free.values()):
        service = rng.choice([s for s in all_services if free[s.id]])
        slot = free[service.id].pop(rng.randrange(len(free[service.id])))
        first, last = rng.choice(FIRST), rng.choice(LAST)
        patient = PatientDetails(
            name=f"{first} {last}",
            email=f"{first.lower()}.{last.lower().replace(' ', '')}{made}@example.org",
            phone=f"+44 7700 9{made:05d}",
            birth_date=date(rng.randint(1940, 2008), rng.randint(1, 12), rng.randint(1, 28)),
            time_zone=rng.choice(["Europe/London", "Europe/Amsterdam", "America/New_York"]),
        )
        request = BookingRequest(service.id, slot.start, patient, clinician_id=slot.clinician_id)
        try:
            book(session, request, now=now, keys=keys, actor=SYSTEM)
            made += 1
        except SlotUnavailable:
            continue  # an earlier demo booking with buffers took this time
