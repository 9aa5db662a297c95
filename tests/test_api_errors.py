"""The API's refusals: malformed input, idempotency, lost races and manage-token checks.

Every refusal is a 4xx application/problem+json, and none of them books anything.
"""

import hypothesis
import pytest
from hypothesis import HealthCheck
from hypothesis import strategies as st
from sqlalchemy import select

from clinic.api.schemas import BOOKING_FIELDS, CONSENT_FIELDS, MAX_NAME_SAID, PATIENT_FIELDS
from clinic.models import Consultation, IdempotencyKey, utcnow
from clinic.scheduling.patients import MAX_REASON
from tests import factories
from tests.test_api import NEW_YORK, at, bearer, booked, booking_body, clinic, consultations, wall

__all__ = ["booked", "clinic"]  # fixtures shared with test_api.py

DROP = object()


def changed(body: dict, path: str, value: object) -> dict:
    """`body` with the field at a dotted `path` replaced (or removed with DROP)."""
    *parents, name = path.split(".")
    copy = {**body}
    target = copy
    for parent in parents:
        target[parent] = {**target[parent]}
        target = target[parent]
    if value is DROP:
        target.pop(name, None)
    else:
        target[name] = value
    return copy


def assert_problem(response, status: int | None = None) -> dict:
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    if status is not None:
        assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == response.status_code
    return problem


MALFORMED_FIELDS = [
    ("service", "1"),
    ("service", True),
    ("service", 1.5),
    ("service", -1),
    ("service", 2**63),
    ("service", None),
    ("service", DROP),
    ("service", {"id": 1}),
    ("service", 999_999),
    ("clinician", True),
    ("clinician", "first"),
    ("clinician", 2**40),
    ("clinician", 999_999),
    ("start", DROP),
    ("start", 1767600000),
    ("start", "next monday"),
    ("start", "x" * 50_000),
    ("start", "0001-01-01T00:00:00+05:00"),
    ("start", "9999-12-31T23:59:59+00:00"),
    ("start", "2027-03-28T01:30:00"),  # the hour London skips in spring
    ("start", "2020-01-06T10:00:00Z"),  # in the past
    ("time_zone", "Mars/Olympus_Mons"),
    ("time_zone", "europe/london"),
    ("time_zone", 0),
    ("time_zone", DROP),
    ("time_zone", "Europe/" + "x" * 50_000),
    ("consent", False),
    ("consent", "true"),
    ("consent", 1),
    ("consent", DROP),
    ("consent", True),  # the agreement must name the notice agreed to
    ("consent.privacy_notice_version", "2020-01-01"),
    ("consent.privacy_notice_version", DROP),
    ("consent.privacy_notice_version", ["2026-12-01"]),
    ("reason", 42),
    ("reason", "x" * 5000),
    ("patient", None),
    ("patient", []),
    ("patient", "Ada"),
    ("patient", {}),
    ("patient.name", 5),
    ("patient.name", "x" * 50_000),
    ("patient.name", "Ada\x00Lovelace"),
    ("patient.email", "not-an-email"),
    ("patient.email", ["ada@example.org"]),
    ("patient.phone", "call me"),
    ("patient.birth_date", "2999-01-01"),
    ("patient.birth_date", 19851210),
    ("patient.birth_date", "10/12/1985"),
]


@pytest.mark.parametrize(
    "path, value", MALFORMED_FIELDS, ids=[f"{p}={str(v)[:20]}" for p, v in MALFORMED_FIELDS]
)
def test_a_malformed_field_is_refused_with_a_problem(client, session, clinic, path, value):
    body = changed(booking_body(clinic.service.id, wall(clinic.day, 10)), path, value)

    response = client.post("/api/v1/bookings", json=body)

    assert_problem(response)
    assert consultations(session) == 0


@pytest.mark.parametrize("phone", ["-----", "(((((", "12345"])
def test_a_phone_number_without_enough_digits_is_a_problem_naming_the_field(client, session, clinic, phone):
    body = changed(booking_body(clinic.service.id, wall(clinic.day, 10)), "patient.phone", phone)

    response = client.post("/api/v1/bookings", json=body)

    assert assert_problem(response, 422)["errors"] == {
        "patient.phone": "Enter the whole phone number, with its area code: at least 7 digits."
    }
    assert consultations(session) == 0


@pytest.mark.parametrize("text", ["[]", "null", '"booking"', "42", "true", '[{"service": 1}]'])
def test_a_body_that_is_not_an_object_is_422(client, session, clinic, text):
    response = client.post("/api/v1/bookings", data=text, content_type="application/json")

    assert assert_problem(response, 422)["errors"] == {"body": "The request body must be a JSON object."}
    assert consultations(session) == 0


@pytest.mark.parametrize(
    "data, content_type",
    [
        ('{"service": 1,', "application/json"),
        ("service=1&start=x", "application/x-www-form-urlencoded"),
        ('{"service": 1}', "text/plain"),
        (b"\xff\xfe{}", "application/json"),
        ("[" * 30_000 + "]" * 30_000, "application/json"),
        ("", "application/json"),
    ],
    ids=["truncated", "form", "text", "not-utf8", "deeply-nested", "empty"],
)
def test_a_body_that_is_not_json_is_400(client, session, clinic, data, content_type):
    response = client.post("/api/v1/bookings", data=data, content_type=content_type)

    assert_problem(response, 400)
    assert consultations(session) == 0


def test_a_body_over_the_size_limit_is_413(client, clinic):
    body = booking_body(clinic.service.id, wall(clinic.day, 10), reason="x" * 100_000)

    assert_problem(client.post("/api/v1/bookings", json=body), 413)


def test_every_bad_field_is_named_at_once(client, clinic):
    body = booking_body(clinic.service.id, "soon", consent=False, time_zone="Nowhere")
    body["patient"] = {**body["patient"], "email": "nope"}

    problem = assert_problem(client.post("/api/v1/bookings", json=body), 422)

    assert problem["code"] == "invalid_input"
    assert set(problem["errors"]) == {"start", "consent", "time_zone", "patient.email"}


def test_a_skipped_local_time_is_named_as_such(client, clinic):
    body = booking_body(clinic.service.id, "2027-03-28T01:30:00")

    problem = assert_problem(client.post("/api/v1/bookings", json=body), 422)

    assert "does not exist" in problem["errors"]["start"]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "service=abc&start={day}&end={day}&tz=UTC",
        "service=true&start={day}&end={day}&tz=UTC",
        "service=99999999999&start={day}&end={day}&tz=UTC",
        "service={service}&clinician=-1&start={day}&end={day}&tz=UTC",
        "service={service}&start={day}&end={day}",
        "service={service}&start={day}&end={day}&tz=Mars/Base",
        "service={service}&start={day}&end=2026-02-30&tz=UTC",
        "service={service}&start=9999-12-31&end=9999-12-31&tz=UTC",
        "service={service}&start={day}&end=2000-01-01&tz=UTC",
        "service={service}&start={day}&end={day}&tz=UTC&clinician=999999",
        "service=999999&start={day}&end={day}&tz=UTC",
    ],
)
def test_a_malformed_slot_query_is_refused_with_a_problem(client, clinic, query):
    filled = query.format(service=clinic.service.id, day=clinic.day.isoformat())

    assert_problem(client.get(f"/api/v1/slots?{filled}"))


def test_replaying_a_request_with_its_idempotency_key_returns_the_same_booking(client, session, clinic):
    body = booking_body(clinic.service.id, wall(clinic.day, 10))
    headers = {"Idempotency-Key": "9b1f6c1e-3a1d-4a5e-9d1c-0c2b7e1f0a11"}

    first = client.post("/api/v1/bookings", json=body, headers=headers)
    second = client.post("/api/v1/bookings", json=body, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.get_json() == second.get_json()
    assert second.headers["Location"] == first.headers["Location"]
    assert consultations(session) == 1


def test_an_idempotency_key_may_be_sent_as_a_quoted_string(client, session, clinic):
    body = booking_body(clinic.service.id, wall(clinic.day, 10))

    first = client.post("/api/v1/bookings", json=body, headers={"Idempotency-Key": '"abc-123"'})
    second = client.post("/api/v1/bookings", json=body, headers={"Idempotency-Key": "abc-123"})

    assert first.get_json()["reference"] == second.get_json()["reference"]
    assert session.scalar(select(IdempotencyKey.key)) == "abc-123"


def test_reusing_an_idempotency_key_for_another_request_is_422(client, session, clinic):
    headers = {"Idempotency-Key": "key-1"}
    client.post(
        "/api/v1/bookings", json=booking_body(clinic.service.id, wall(clinic.day, 10)), headers=headers
    )

    response = client.post(
        "/api/v1/bookings", json=booking_body(clinic.service.id, wall(clinic.day, 11)), headers=headers
    )

    assert assert_problem(response, 422)["code"] == "idempotency_conflict"
    assert consultations(session) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
def test_a_malformed_idempotency_key_is_422(client, session, clinic, key):
    body = booking_body(clinic.service.id, wall(clinic.day, 10))

    response = client.post(
        "/api/v1/bookings", json=body, headers=[("Idempotency-Key", key.encode("utf-8").decode("latin-1"))]
    )

    assert "Idempotency-Key" in assert_problem(response, 422)["errors"]
    assert consultations(session) == 0


def test_a_taken_time_is_409_with_the_next_free_times_in_the_patient_zone(client, session, clinic):
    factories.booking(session, clinic.service, at(clinic.day, 10), now=utcnow(), clinician_id=clinic.first.id)
    # 5:00 in New York, or 6:00 in the weeks of March and autumn when only one of the two has moved its clocks
    taken = at(clinic.day, 10).astimezone(NEW_YORK).replace(tzinfo=None)
    body = booking_body(clinic.service.id, taken.isoformat(), time_zone="America/New_York")
    body["clinician"] = clinic.first.id

    problem = assert_problem(client.post("/api/v1/bookings", json=body), 409)

    assert problem["code"] == "slot_taken"
    assert problem["field"] == "start"
    first = problem["alternatives"][0]
    assert first == {
        "start": at(clinic.day, 10, 30).astimezone(NEW_YORK).isoformat(),
        "end": at(clinic.day, 11).astimezone(NEW_YORK).isoformat(),
        "clinician": clinic.first.id,
    }
    assert consultations(session) == 1


def test_a_time_outside_hours_is_422_with_alternatives(client, session, clinic):
    problem = assert_problem(
        client.post("/api/v1/bookings", json=booking_body(clinic.service.id, wall(clinic.day, 7))), 422
    )

    assert problem["code"] == "slot_unavailable"
    assert problem["alternatives"][0]["start"] == at(clinic.day, 9).isoformat()
    assert consultations(session) == 0


def test_rescheduling_onto_a_taken_time_is_409(client, session, clinic, booked):
    factories.booking(session, clinic.service, at(clinic.day, 14), now=utcnow(), clinician_id=clinic.first.id)

    response = client.post(
        f"/api/v1/bookings/{booked['reference']}/reschedule",
        json={"start": wall(clinic.day, 14)},
        headers=bearer(booked["manage_token"]),
    )

    assert assert_problem(response, 409)["alternatives"]
    assert session.scalar(
        select(Consultation.starts_at).where(Consultation.reference == booked["reference"])
    ) == at(clinic.day, 10)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"start": None},
        {"start": "2027-03-28T01:30:00", "time_zone": "Europe/London"},
        {"start": "2030-01-07T10:00:00Z", "clinician": "2"},
        [],
        {"time_zone": "Nowhere"},
    ],
)
def test_a_malformed_reschedule_is_refused(client, booked, body):
    response = client.post(
        f"/api/v1/bookings/{booked['reference']}/reschedule",
        json=body,
        headers=bearer(booked["manage_token"]),
    )

    assert_problem(response, 422)


@pytest.mark.parametrize("body", [{"reason": 5}, {"reason": "x" * (MAX_REASON + 1)}, ["why"]])
def test_a_malformed_cancel_is_refused_and_cancels_nothing(client, session, booked, body):
    response = client.post(
        f"/api/v1/bookings/{booked['reference']}/cancel", json=body, headers=bearer(booked["manage_token"])
    )

    assert_problem(response, 422)
    assert session.scalar(select(Consultation.status)).value == "booked"


@pytest.mark.parametrize("length", [501, MAX_REASON])
def test_a_cancel_reason_the_patients_page_takes_the_api_takes_too(client, session, booked, length):
    """The API refused a reason over 500 characters, which the patient's cancel page (and staff's) takes up
    to 2,000: an app offering the same box was refused what the page accepts."""
    reason = "x" * length

    response = client.post(
        f"/api/v1/bookings/{booked['reference']}/cancel",
        json={"reason": reason},
        headers=bearer(booked["manage_token"]),
    )

    assert response.status_code == 200, response.get_json()
    assert session.scalars(select(Consultation)).one().cancel_reason_text == reason


@pytest.fixture
def other(client, clinic) -> dict:
    body = booking_body(clinic.service.id, wall(clinic.day, 11), clinician=clinic.first.id)
    return client.post("/api/v1/bookings", json=body).get_json()


def bad_credentials(booked: dict, other: dict) -> list[tuple[str, dict]]:
    token = booked["manage_token"]
    return [
        (booked["reference"], {}),
        (booked["reference"], bearer(other["manage_token"])),
        (booked["reference"], bearer(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))),
        (booked["reference"], {"Authorization": f"Basic {token}"}),
        (booked["reference"], {"Authorization": token}),
        (booked["reference"], bearer("x" * 5000)),
        ("ZZZ-ZZZZ", bearer(token)),
        ("x" * 500, bearer(token)),
    ]


@pytest.mark.parametrize(
    "action, body", [("", None), ("/cancel", {}), ("/reschedule", {"start": "2030-01-07T10:00:00Z"})]
)
def test_a_wrong_or_missing_token_is_404_alike_for_every_reference(
    client, session, booked, other, action, body
):
    answers = []
    for reference, headers in bad_credentials(booked, other):
        path = f"/api/v1/bookings/{reference}{action}"
        response = (
            client.post(path, json=body, headers=headers) if action else client.get(path, headers=headers)
        )
        answers.append(assert_problem(response, 404))

    assert all(answer == answers[0] for answer in answers)
    assert [c.status.value for c in session.scalars(select(Consultation))] == ["booked", "booked"]


def test_a_token_is_checked_before_the_body_is_read(client, booked):
    response = client.post(
        f"/api/v1/bookings/{booked['reference']}/reschedule", data="{", content_type="text/plain"
    )

    assert_problem(response, 404)


def test_unknown_paths_and_methods_under_the_api_are_problems(client):
    assert_problem(client.get("/api/v1/nothing-here"), 404)
    assert_problem(client.delete("/api/v1/bookings"), 405)


def test_an_address_the_relay_cannot_deliver_to_is_refused_at_booking(app, client, session, clinic):
    app.config["MAIL_SMTPUTF8"] = False
    body = changed(booking_body(clinic.service.id, wall(clinic.day, 10)), "patient.email", "évè@example.org")
    body["companion"] = {"name": "Grace Hopper", "email": "grâce@example.net", "role": "interpreter"}

    problem = assert_problem(client.post("/api/v1/bookings", json=body), 422)

    assert "accented or non-Latin letters before the @" in problem["errors"]["patient.email"]
    assert "accented or non-Latin letters before the @" in problem["errors"]["companion.email"]
    assert consultations(session) == 0


def test_with_a_relay_that_takes_smtputf8_such_an_address_is_booked(app, client, session, clinic):
    app.config["MAIL_SMTPUTF8"] = True
    body = changed(booking_body(clinic.service.id, wall(clinic.day, 10)), "patient.email", "évè@example.org")

    response = client.post("/api/v1/bookings", json=body)

    assert response.status_code == 201, response.get_json()
    assert session.scalar(select(Consultation)).patient.email == "évè@example.org"


@pytest.mark.parametrize("hidden", ["\u202e", "\u2067", "\u200f", "\x9b"])
def test_a_name_with_a_hidden_formatting_character_is_refused(client, session, clinic, hidden):
    body = changed(
        booking_body(clinic.service.id, wall(clinic.day, 10)), "patient.name", f"Ada{hidden}gpj.exe"
    )

    problem = assert_problem(client.post("/api/v1/bookings", json=body), 422)

    assert "hidden formatting or control characters" in problem["errors"]["patient.name"]
    assert consultations(session) == 0


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("delete", "/api/v1/bookings", {"OPTIONS", "POST"}),
        ("put", "/api/v1/slots", {"GET", "HEAD", "OPTIONS"}),
        ("delete", "/book/confirm", {"OPTIONS", "POST"}),
        ("put", "/book/details", {"GET", "HEAD", "OPTIONS", "POST"}),
    ],
)
def test_a_method_not_allowed_names_the_allowed_ones(client, method, path, allowed):
    response = getattr(client, method)(path)

    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == allowed  # RFC 9110 section 15.5.6


@pytest.mark.parametrize("how", ["left the service", "deactivated"])
def test_moving_a_booking_whose_clinician_no_longer_offers_its_service_says_so_and_what_to_do(
    client, session, clinic, booked, how
):
    """Moving without naming a clinician keeps the booking's own; one who no longer offers the service
    answered 404 "That clinician does not offer this service." on `clinician`, a field the caller never
    sent, as if the booking or its clinician were unknown."""
    if how == "deactivated":
        clinic.first.active = False
    else:
        clinic.first.services = []
    session.commit()

    response = client.post(
        f"/api/v1/bookings/{booked['reference']}/reschedule",
        json={"start": wall(clinic.day, 14)},
        headers=bearer(booked["manage_token"]),
    )

    problem = assert_problem(response, 409)
    assert (problem["code"], problem["field"]) == ("clinician_not_offering", "clinician")
    assert "no longer offers this service" in problem["detail"]
    assert "choose a clinician who does" in problem["detail"]
    moved = client.post(
        f"/api/v1/bookings/{booked['reference']}/reschedule",
        json={"start": wall(clinic.day, 14), "clinician": clinic.second.id},
        headers=bearer(booked["manage_token"]),
    )
    assert moved.status_code == 200


@pytest.mark.parametrize("action", ["cancel", "reschedule"])
def test_a_booking_cancelled_already_gives_the_number_to_call_as_one_over_does(
    client, session, clinic, booked, action
):
    """Its 409 invalid_transition said "contact_phone": "", where a booking over already gave the
    department's number: an app showed "call us on" and nothing."""
    token = bearer(booked["manage_token"])
    assert client.post(f"/api/v1/bookings/{booked['reference']}/cancel", headers=token).status_code == 200

    body = {"start": wall(clinic.day, 14)} if action == "reschedule" else {}
    response = client.post(f"/api/v1/bookings/{booked['reference']}/{action}", json=body, headers=token)

    problem = assert_problem(response, 409)
    assert problem["code"] == "invalid_transition"
    assert problem["contact_phone"] == clinic.service.department.contact_phone != ""


# Where a misnamed field goes in a booking, and the names already there.
BOOKING_OBJECTS = {"": BOOKING_FIELDS, "patient.": PATIENT_FIELDS, "consent.": CONSENT_FIELDS}


@hypothesis.settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@hypothesis.given(where=st.sampled_from(sorted(BOOKING_OBJECTS)), name=st.text(min_size=1, max_size=80))
def test_a_field_the_api_does_not_know_is_refused_by_name_and_books_nothing(
    client, session, clinic, where, name
):
    """A misspelt field was ignored: {"clinican": 7} booked the first clinician free, {"resaon": …} was
    dropped, and the caller was told nothing. Whatever the name and wherever it is, it is refused."""
    hypothesis.assume(name not in BOOKING_OBJECTS[where])
    body = booking_body(clinic.service.id, wall(clinic.day, 10))
    inner = where.rstrip(".")
    if inner:
        body[inner] = {**body[inner], name: 7}
    else:
        body[name] = 7

    problem = assert_problem(client.post("/api/v1/bookings", json=body), 422)

    assert problem["code"] == "invalid_input"
    assert list(problem["errors"]) == [f"{where}{name[:MAX_NAME_SAID]}"]
    assert consultations(session) == 0


def test_a_misspelt_field_is_told_the_name_it_may_mean(client, session, clinic):
    body = {**booking_body(clinic.service.id, wall(clinic.day, 10)), "clinican": clinic.first.id}

    problem = assert_problem(client.post("/api/v1/bookings", json=body), 422)

    assert problem["errors"] == {"clinican": 'No such field: did you mean "clinician"?'}


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("reschedule", {"start": "2030-01-07T10:00:00Z", "clinican": 2}, "clinican"),
        ("cancel", {"resaon": "Feeling better"}, "resaon"),
    ],
)
def test_a_change_with_a_field_the_api_does_not_know_is_refused_and_changes_nothing(
    client, session, booked, action, body, field
):
    response = client.post(
        f"/api/v1/bookings/{booked['reference']}/{action}", json=body, headers=bearer(booked["manage_token"])
    )

    assert list(assert_problem(response, 422)["errors"]) == [field]
    assert session.scalar(select(Consultation.status)).value == "booked"
