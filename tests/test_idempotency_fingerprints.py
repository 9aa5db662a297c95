"""What an idempotency key is kept with: a fingerprint of its request (the patient's or caller's name,
e-mail and phone among its fields), keyed with a secret kept out of the database, so a reader of the
database cannot find a phone number by hashing guesses until one matches."""

import hashlib
import json
from dataclasses import is_dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from clinic.audit import Actor
from clinic.models import IdempotencyKey, WalkInEntry
from clinic.scheduling.booking import BookingRequest, Consent, book
from clinic.scheduling.errors import IdempotencyConflict
from clinic.scheduling.tokens import LinkKeys
from clinic.walkin.queue import join

from . import factories
from .conftest import TEST_KEYS

MONDAY_10 = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
PHONES = [f"+44 7700 900{n:03d}" for n in range(1000)]  # a guesser's list, the patient's among them


def unkeyed(fields: dict) -> str:
    """The fingerprint as anyone can compute it from the request's fields: SHA-256 of their JSON."""
    plain = json.dumps(fields, sort_keys=True, default=lambda v: vars(v) if is_dataclass(v) else str(v))
    return hashlib.sha256(plain.encode()).hexdigest()


def booking_fields(request: BookingRequest) -> dict:
    return {name: value for name, value in vars(request).items() if name != "idempotency_key"}


@pytest.fixture
def clinic(session):
    svc = factories.service(session, duration_minutes=30)
    doc = factories.clinician(session, [svc])
    session.commit()
    return svc, doc


def request_for(clinic, phone: str = "+44 7700 900123", **changes) -> BookingRequest:
    svc, doc = clinic
    patient = factories.patient_details(name="Ada Lovelace", email="ada@example.org", phone=phone)
    fields = {"clinician_id": doc.id, "idempotency_key": "retry-1", **changes}
    return BookingRequest(svc.id, MONDAY_10, patient, **fields)


def stored_hash(session) -> str:
    session.commit()
    return session.scalar(select(IdempotencyKey.request_hash))


def booked(session, request, now, keys=TEST_KEYS):
    return book(session, request, now=now, keys=keys, actor=Actor("patient"))


def test_no_phone_number_guessed_hashes_to_a_bookings_stored_fingerprint(session, clinic, now):
    request = request_for(clinic)
    booked(session, request, now)

    stored = stored_hash(session)

    guesses = {unkeyed(booking_fields(request_for(clinic, phone))): phone for phone in PHONES}
    assert stored not in guesses


def test_no_phone_number_guessed_hashes_to_a_walk_in_joins_stored_fingerprint(session, clinic, now):
    queue = factories.walk_in_queue(session, clinic[0], [clinic[1]])
    details = factories.caller_details(name="Edith Crawley", email=None, phone="+44 7700 900123")
    asked = {"queue_id": queue.id, "browser": "this-browser"}
    form = {"join_key": "form-1", "browser": "this-browser"}
    join(session, queue.id, details, Consent("2026-12-01"), now=now, keys=TEST_KEYS, actor=Actor(), **form)
    session.commit()

    stored = session.scalar(select(WalkInEntry.join_hash))

    guesses = [
        unkeyed({**asked, "details": factories.caller_details(name="Edith Crawley", email=None, phone=phone)})
        for phone in PHONES
    ]
    assert stored is not None and stored not in guesses


def test_a_retry_sent_as_fingerprints_became_keyed_still_gets_its_booking(session, clinic, now):
    """A row written before the change holds the unkeyed fingerprint: its retry, in flight across the
    deploy, is still given the booking it made, and another request with its key is still refused."""
    request = request_for(clinic)
    first = booked(session, request, now)
    row = session.scalars(select(IdempotencyKey)).one()
    row.request_hash = unkeyed(booking_fields(request))
    session.commit()

    again = booked(session, request, now)

    assert again.replayed and again.consultation.id == first.consultation.id
    with pytest.raises(IdempotencyConflict):
        booked(session, request_for(clinic, phone="+44 7700 900999"), now)


def test_a_retry_across_a_new_key_put_first_still_gets_its_booking(session, clinic, now):
    request = request_for(clinic)
    first = booked(session, request, now)
    rotated = LinkKeys(("a-new-link-key", *TEST_KEYS.keys))

    again = booked(session, request, now, keys=rotated)

    assert again.replayed and again.consultation.id == first.consultation.id
    with pytest.raises(IdempotencyConflict):
        booked(session, request_for(clinic, phone="+44 7700 900999"), now, keys=rotated)
