"""Free times to move a booking to: its own time stands in the way of none, as on the patient's page.

GET /api/v1/slots?moving=<reference>, with the booking's manage token, gives the times
POST …/reschedule takes, as the patient's reschedule page offers them.
"""

from types import SimpleNamespace

import pytest

from tests import factories
from tests.test_api import at, bearer, booking_body, monday_after_next, wall
from tests.test_api_errors import assert_problem


@pytest.fixture
def moving(client, session) -> SimpleNamespace:
    """A 30-minute booking at 10:00 with the first of two clinicians; its service starts every 10 minutes."""
    service = factories.service(session, slot_interval_minutes=10, horizon_days=400)
    first, second = factories.clinician(session, [service]), factories.clinician(session, [service])
    session.commit()
    day = monday_after_next()
    made = client.post("/api/v1/bookings", json=booking_body(service.id, wall(day, 10), clinician=first.id))
    assert made.status_code == 201, made.get_json()
    booking = made.get_json()
    return SimpleNamespace(
        service=service,
        first=first,
        second=second,
        day=day,
        booking=booking,
        reference=booking["reference"],
        token=bearer(booking["manage_token"]),
    )


def slots_to_move(client, moving, headers=None, **query) -> dict:
    day = moving.day.isoformat()
    args = {"service": moving.service.id, "start": day, "end": day, "tz": "Europe/London"} | query
    args.setdefault("moving", moving.reference)
    path = "/api/v1/slots?" + "&".join(f"{name}={value}" for name, value in args.items())
    return client.get(path, headers=moving.token if headers is None else headers)


def starts(response, clinician) -> set[str]:
    assert response.status_code == 200, response.get_json()
    return {slot["start"] for slot in response.get_json()["slots"] if slot["clinician"] == clinician.id}


def test_a_booking_moved_by_ten_minutes_is_offered_the_times_its_own_blocks(client, moving):
    """Its own 10:00 to 10:30 hid 10:10 and 10:20 with its clinician (and 9:40, 9:50, in the way of
    its start), though rescheduling there is allowed."""
    offered = starts(slots_to_move(client, moving), moving.first)

    nearby = {at(moving.day, 9, 40), at(moving.day, 9, 50), at(moving.day, 10, 10), at(moving.day, 10, 20)}
    assert {instant.isoformat() for instant in nearby} <= offered
    moved = client.post(
        f"/api/v1/bookings/{moving.reference}/reschedule",
        json={"start": wall(moving.day, 10, 10)},
        headers=moving.token,
    )
    assert moved.status_code == 200, moved.get_json()


def test_a_bookings_own_time_is_offered_only_with_another_clinician(client, moving):
    response = slots_to_move(client, moving)

    own = at(moving.day, 10).isoformat()
    assert own not in starts(response, moving.first)
    assert own in starts(response, moving.second)


def test_the_times_offered_to_move_to_are_those_rescheduling_takes(client, session, moving):
    offered = starts(slots_to_move(client, moving, clinician=moving.first.id), moving.first)
    every_ten_minutes = [at(moving.day, hour, minute) for hour in range(8, 18) for minute in range(0, 60, 10)]

    for start in (instant.isoformat() for instant in every_ten_minutes):
        response = client.post(
            f"/api/v1/bookings/{moving.reference}/reschedule",
            json={"start": start, "clinician": moving.first.id},
            headers=moving.token,
        )
        assert (response.status_code == 200) == (start in offered), (start, response.get_json())
        if response.status_code == 200:  # back to where it was, so each time is asked of the same booking
            back = client.post(
                f"/api/v1/bookings/{moving.reference}/reschedule",
                json={"start": wall(moving.day, 10), "clinician": moving.first.id},
                headers=moving.token,
            )
            assert back.status_code == 200, back.get_json()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_the_booking_to_move_is_opened_by_its_manage_token_alone(client, moving, headers):
    problem = assert_problem(slots_to_move(client, moving, headers=headers), 404)

    assert problem["code"] == "not_found"


def test_a_booking_moves_only_within_its_own_service(client, session, moving):
    other = factories.service(session, horizon_days=400)
    factories.clinician(session, [other])
    session.commit()

    problem = assert_problem(slots_to_move(client, moving, service=other.id), 422)

    assert problem["code"] == "invalid_input"
    assert set(problem["errors"]) == {"moving"}


def test_a_booking_that_may_no_longer_move_online_says_so_as_rescheduling_would(client, moving):
    cancelled = client.post(f"/api/v1/bookings/{moving.reference}/cancel", headers=moving.token)
    assert cancelled.status_code == 200

    problem = assert_problem(slots_to_move(client, moving), 409)

    assert problem["code"] == "invalid_transition"


def test_a_refused_move_offers_instead_the_times_the_booking_may_move_to(client, moving):
    """The alternatives of a refused move were a new booking's: the booking's own time hid 10:10 and 10:20
    with its clinician, the nearest times it may move to."""
    refused = client.post(
        f"/api/v1/bookings/{moving.reference}/reschedule",
        json={"start": wall(moving.day, 10, 5), "clinician": moving.first.id},
        headers=moving.token,
    )

    problem = assert_problem(refused, 422)
    offered = [alternative["start"] for alternative in problem["alternatives"]]
    assert offered[:2] == [at(moving.day, 10, 10).isoformat(), at(moving.day, 10, 20).isoformat()]
    to_move = starts(slots_to_move(client, moving, clinician=moving.first.id), moving.first)
    assert set(offered) <= to_move
