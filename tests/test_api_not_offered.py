"""A time that is not offered is refused as such, whatever is booked there.

Anyone may ask for any time with any e-mail address and date of birth. Were "you already have a booking
then" (or "this address has too many bookings") answered before "that time is not offered", a caller
could ask for times nobody can book, which book nothing and leave no trace with the patient, and learn
when someone has their consultations.
"""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from clinic.models import Consultation
from tests import factories
from tests.test_api import at, bearer, booked, booking_body, clinic

__all__ = ["booked", "clinic"]  # fixtures shared with test_api.py

# The patient of test_api.booking_body, as another booking with their e-mail address and birth date has it.
ADA = factories.patient_details(name="Ada Lovelace", email="ada@example.org", birth_date=date(1985, 12, 10))


def weekday_after(day: date, days: int) -> date:
    later = day + timedelta(days=days)
    return later + timedelta(days=(7 - later.weekday()) % 7 if later.weekday() > 4 else 0)


def not_offered(session, clinic, case: str):
    """(start, clinician, service) of a time `case` says is not offered, the clinician being the one whose
    consultation could be there."""
    service, first, day = clinic.service, clinic.first, clinic.day
    if case == "outside hours":
        return at(day, 7), first, service
    if case == "off the slots' grid":
        return at(day, 11, 10), first, service
    if case == "in the past":
        return at(day - timedelta(days=28), 11), first, service
    if case == "beyond the horizon":
        return at(weekday_after(day, service.horizon_days + 30), 11), first, service
    if case == "in the clinician's time off":
        factories.time_off(session, first, at(day, 9), at(day, 12))
        session.commit()
        return at(day, 11), first, service
    if case == "with a clinician who does not offer the service":
        other_service = factories.service(session, horizon_days=400)
        return at(day, 11), factories.clinician(session, [other_service]), other_service
    raise AssertionError(case)


# Not offered by anyone; then not offered by the clinician named (another of the service is free then).
BY_NOBODY = ["outside hours", "off the slots' grid", "in the past", "beyond the horizon"]
CASES = [*BY_NOBODY, "in the clinician's time off", "with a clinician who does not offer the service"]
WHO = [(case, True) for case in CASES] + [(case, False) for case in BY_NOBODY]


def answer(response) -> tuple[int, dict]:
    """The refusal, but for the free times it offers instead: anyone may read those (GET /slots)."""
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    problem = response.get_json()
    problem.pop("alternatives", None)
    return response.status_code, problem


@pytest.mark.parametrize(("case", "named"), WHO, ids=[f"{c}, {'named' if n else 'anyone'}" for c, n in WHO])
def test_booking_a_time_not_offered_answers_alike_whatever_the_patient_holds_then(
    client, session, clinic, case, named
):
    start, clinician, service = not_offered(session, clinic, case)
    body = booking_body(clinic.service.id, start.isoformat())
    if named:
        body["clinician"] = clinician.id
    before = answer(client.post("/api/v1/bookings", json=body))

    factories.consultation(session, service, clinician, start, patient=ADA)
    after = answer(client.post("/api/v1/bookings", json=body))

    assert after == before
    assert (before[0], before[1]["code"]) in ((422, "slot_unavailable"), (404, "not_found"))


@pytest.mark.parametrize("case", CASES)
def test_booking_a_time_not_offered_answers_alike_however_many_bookings_the_address_holds(
    app, client, session, clinic, case
):
    app.config["MAX_ACTIVE_BOOKINGS_PER_EMAIL"] = 1
    start, clinician, _ = not_offered(session, clinic, case)
    body = {**booking_body(clinic.service.id, start.isoformat()), "clinician": clinician.id}
    before = answer(client.post("/api/v1/bookings", json=body))

    factories.consultation(session, clinic.service, clinic.second, at(clinic.day, 15), patient=ADA)
    after = answer(client.post("/api/v1/bookings", json=body))

    assert after == before


@pytest.mark.parametrize("case", CASES)
def test_moving_to_a_time_not_offered_answers_alike_whatever_the_patient_holds_then(
    client, session, clinic, booked, case
):
    start, clinician, service = not_offered(session, clinic, case)
    move = {"start": start.isoformat(), "clinician": clinician.id}
    path, token = f"/api/v1/bookings/{booked['reference']}/reschedule", bearer(booked["manage_token"])
    before = answer(client.post(path, json=move, headers=token))

    factories.consultation(session, service, clinician, start, patient=ADA)
    after = answer(client.post(path, json=move, headers=token))

    assert after == before
    assert session.scalar(
        select(Consultation.starts_at).where(Consultation.reference == booked["reference"])
    ) == at(clinic.day, 10)
