"""A service's buffers (free time before and after) protect the bookings already made when an admin
raises them, as far as the time around each is free, also against a booking made at the same moment."""

from dataclasses import fields
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import select

from clinic.audit import Actor
from clinic.hospital.service_settings import ServiceSettings, save_service
from clinic.models import Consultation, ConsultationStatus, Service
from clinic.scheduling.availability import find_slots
from clinic.scheduling.booking import BookingRequest, book
from clinic.scheduling.errors import SlotUnavailable

from . import factories, racing
from .conftest import TEST_KEYS

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
FOLLOW_UP_AT = datetime(2026, 3, 5, 10, 15, tzinfo=UTC)  # a Thursday: 10:15-10:30
RIGHT_AFTER = FOLLOW_UP_AT + timedelta(minutes=15)
ADMIN = Actor("staff:1")


@pytest.fixture
def hospital(session):
    """Two quarter-hour services of one clinician who works all day, and a follow-up booked at 10:15."""
    department = factories.department(session, name="Cardiology")
    quarter = {"duration_minutes": 15, "slot_interval_minutes": 15}
    follow_up = factories.service(session, department, name="Follow-up call", **quarter)
    new_patient = factories.service(session, department, name="New patient consultation", **quarter)
    doctor = factories.clinician(session, [follow_up, new_patient], hours=[(time(0), time(23, 30))])
    session.commit()
    booked = factories.booking(session, follow_up, FOLLOW_UP_AT, now=NOW, clinician_id=doctor.id)
    return follow_up.id, new_patient.id, doctor.id, booked.consultation.id


def with_buffers(session, service_id: int, before: int, after: int) -> ServiceSettings:
    """The service's settings as its page would post them, with these buffers."""
    service = session.get(Service, service_id)
    kept = {f.name: getattr(service, f.name) for f in fields(ServiceSettings)}
    return ServiceSettings(**{**kept, "buffer_before_minutes": before, "buffer_after_minutes": after})


def blocked(session, consultation_id: int) -> tuple[datetime, datetime]:
    session.rollback()
    found = session.get(Consultation, consultation_id, populate_existing=True)
    return found.blocked_from, found.blocked_until


def offered_at(session, service_id: int, clinician_id: int, start: datetime) -> bool:
    service = session.get(Service, service_id)
    slots = find_slots(session, service, start, start + timedelta(seconds=1), NOW, clinician_id)
    session.rollback()
    return any(slot.start == start for slot in slots)


def test_raised_buffers_keep_free_the_time_around_bookings_made_before(session, hospital):
    follow_up, new_patient, doctor, consultation = hospital
    assert offered_at(session, new_patient, doctor, RIGHT_AFTER)

    save_service(session, follow_up, with_buffers(session, follow_up, 15, 15), now=NOW, actor=ADMIN)

    assert blocked(session, consultation) == (
        FOLLOW_UP_AT - timedelta(minutes=15),
        RIGHT_AFTER + timedelta(minutes=15),
    )
    assert not offered_at(session, new_patient, doctor, RIGHT_AFTER)
    assert not offered_at(session, new_patient, doctor, FOLLOW_UP_AT - timedelta(minutes=15))

    save_service(session, follow_up, with_buffers(session, follow_up, 0, 0), now=NOW, actor=ADMIN)

    assert blocked(session, consultation) == (FOLLOW_UP_AT, RIGHT_AFTER)
    assert offered_at(session, new_patient, doctor, RIGHT_AFTER)


def test_a_booking_right_next_to_one_keeps_its_time_and_the_buffer_stops_at_it(session, hospital):
    follow_up, new_patient, doctor, consultation = hospital
    factories.booking(session, session.get(Service, new_patient), RIGHT_AFTER, now=NOW, clinician_id=doctor)

    save_service(session, follow_up, with_buffers(session, follow_up, 15, 15), now=NOW, actor=ADMIN)

    assert blocked(session, consultation) == (FOLLOW_UP_AT - timedelta(minutes=15), RIGHT_AFTER)


def test_a_booking_racing_the_change_of_buffers_either_keeps_clear_or_is_refused(
    session, database_url, hospital
):
    follow_up, new_patient, doctor, consultation = hospital
    settings = with_buffers(session, follow_up, 15, 15)
    session.rollback()
    engine = racing.racing_engine(database_url, 2, lambda sql: "blocked_from" in sql)
    request = BookingRequest(new_patient, RIGHT_AFTER, factories.patient_details(), clinician_id=doctor)

    outcomes = racing.race(
        engine,
        [
            lambda racer: book(racer, request, now=NOW, keys=TEST_KEYS, actor=Actor("patient")),
            lambda racer: save_service(racer, follow_up, settings, now=NOW, actor=ADMIN),
        ],
    )
    engine.dispose()

    booked, saved = outcomes
    assert isinstance(saved, Service), saved
    assert not isinstance(booked, Exception) or isinstance(booked, SlotUnavailable), booked
    made = not isinstance(booked, Exception)
    assert blocked(session, consultation)[1] == (RIGHT_AFTER if made else RIGHT_AFTER + timedelta(minutes=15))
    spans = sorted(
        session.execute(
            select(Consultation.blocked_from, Consultation.blocked_until).where(
                Consultation.clinician_id == doctor, Consultation.status != ConsultationStatus.CANCELLED
            )
        ).all()
    )
    assert all(earlier[1] <= later[0] for earlier, later in pairwise(spans))
