"""The OpenAPI document describes exactly the API that is served."""

import importlib
import json
import pkgutil
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest

import clinic as clinic_package
from clinic.api import schemas
from clinic.errors import status_for
from clinic.hospital.records import ChangedMeanwhile, InvalidSetting
from clinic.models import ConsultationStatus, utcnow
from clinic.scheduling.errors import (
    BookingError,
    InvalidRequest,
    MeetingNotReady,
    NotNow,
    OfferEnded,
    OfferExpired,
    OfferGone,
)
from clinic.scheduling.hours import InvalidHours
from clinic.scheduling.patients import MAX_REASON, InvalidDetails
from clinic.scheduling.timezones import InvalidTimeZone, NonExistentLocalTime, zone_names
from clinic.scheduling.tokens import manage_token
from clinic.walkin.errors import AlreadyInQueue, NobodyWaiting, QueueNotOpen, SendBackRefused, TakeRefused
from tests import factories
from tests.conftest import TEST_KEYS
from tests.test_api import at, bearer, booked, booking_body, clinic, wall
from tests.test_api_not_offered import ADA

__all__ = ["booked", "clinic"]  # fixtures shared with test_api.py

DOCUMENT = Path(__file__).parent.parent / "clinic" / "api" / "openapi.json"
OPERATIONS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture
def spec() -> dict:
    return json.loads(DOCUMENT.read_text())


def resolve(spec: dict, node: dict) -> dict:
    """`node`, or what its local $ref (#/a/b) points at."""
    while "$ref" in node:
        target = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def operations(spec: dict):
    """(path, method, operation) for every operation in the document."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in OPERATIONS:
                yield path, method, operation


def refs(node: object):
    """Every $ref in the document."""
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_the_document_is_served_and_is_openapi_3_1(client, spec):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == spec
    assert re.fullmatch(r"3\.1\.\d+", spec["openapi"])
    assert spec["servers"] == [{"url": "/api/v1"}]


def test_no_name_is_given_twice_in_one_object():
    """GET /bookings/{reference} listed "404" twice: a JSON object's names must be unique for every reader
    (RFC 8259 leaves duplicates to each parser: some keep the first, some the last, strict ones refuse)."""

    def unique(pairs: list[tuple[str, object]]) -> dict:
        names = [name for name, _ in pairs]
        assert len(names) == len(set(names)), sorted(name for name in names if names.count(name) > 1)
        return dict(pairs)

    json.loads(DOCUMENT.read_text(), object_pairs_hook=unique)


def test_every_api_route_is_documented_and_nothing_else(app, spec):
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            served |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}

    documented = {(path, method) for path, method, _ in operations(spec)}

    assert served == documented


def test_every_reference_resolves(spec):
    for ref in refs(spec):
        assert ref.startswith("#/"), ref
        assert resolve(spec, {"$ref": ref}), ref


def test_every_error_response_is_problem_json(spec):
    for path, method, operation in operations(spec):
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                content = resolve(spec, response)["content"]
                assert set(content) == {"application/problem+json"}, (path, method, status)


def test_booking_management_requires_the_bearer_token(spec):
    scheme = spec["components"]["securitySchemes"]["manageToken"]
    managed = [op for path, _, op in operations(spec) if path.startswith("/bookings/{reference}")]

    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    assert len(managed) == 4
    assert all(op["security"] == [{"manageToken": []}] for op in managed)


def required(spec: dict, name: str) -> set[str]:
    schema = spec["components"]["schemas"][name]
    return {
        field for part in schema.get("allOf", [schema]) for field in resolve(spec, part).get("required", [])
    }


def test_the_documented_fields_are_the_served_fields(client, spec, clinic, booked):
    day = clinic.day.isoformat()
    service = client.get("/api/v1/services").get_json()["services"][0]
    slot = client.get(f"/api/v1/slots?service={service['id']}&start={day}&end={day}&tz=UTC").get_json()[
        "slots"
    ][0]
    shown = client.get(
        f"/api/v1/bookings/{booked['reference']}", headers=bearer(booked["manage_token"])
    ).get_json()

    assert set(service) == required(spec, "Service")
    assert set(slot) == required(spec, "Slot")
    assert set(shown) == required(spec, "Booking")
    assert set(booked) == required(spec, "NewBooking")


# --- the document against the server, mechanically -------------------------------------

# Refusals the API never gives: the booking rules' base class, one raised nowhere, the staff and
# waiting-room pages' own, the waitlist offers' and walk-in queue's pages' own, and those api.schemas
# turns into invalid_input itself. A new refusal
# class is not listed here, so it fails the test below until the document gives its status.
NOT_FROM_THE_API = {
    BookingError,
    InvalidRequest,
    NotNow,
    MeetingNotReady,
    InvalidHours,
    InvalidSetting,  # the admin catalogue's, and its edit refused as out of date:
    ChangedMeanwhile,
    InvalidDetails,  # whose fields api.schemas gives as its own invalid_input
    InvalidTimeZone,
    NonExistentLocalTime,
    OfferEnded,
    OfferGone,
    OfferExpired,
    NobodyWaiting,  # the walk-in queue's, which the API does not serve
    QueueNotOpen,
    TakeRefused,
    AlreadyInQueue,
    SendBackRefused,
}


def subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found.union(*(subclasses(sub) for sub in found))


def documented_problems(spec: dict) -> set[tuple[int, str]]:
    """(status, code) for every problem code the document names in an operation's response."""
    found = set()
    for _, _, operation in operations(spec):
        for status, response in operation["responses"].items():
            problem = resolve(spec, response).get("content", {}).get("application/problem+json")
            if problem:
                codes = problem["schema"].get("properties", {}).get("code", {}).get("enum", [])
                found |= {(int(status), code) for code in codes}
    return found


def test_every_refusal_the_api_can_give_is_documented_with_its_status(spec):
    for module in pkgutil.walk_packages(clinic_package.__path__, "clinic."):
        importlib.import_module(module.name)  # so every refusal class is defined
    served = {(status_for(cls.__new__(cls)), cls.code) for cls in subclasses(BookingError) - NOT_FROM_THE_API}
    # The request limits' answer and a busy or unreachable database's (clinic/errors.py), not a service's.
    served |= {(429, "rate_limited"), (503, "busy"), (503, "unavailable")}

    assert served == documented_problems(spec)
    examples = spec["components"]["schemas"]["Problem"]["properties"]["code"]["examples"]
    assert set(examples) == {code for _, code in served}


# Answers any operation may give, whatever it does: the request limits' and a busy or unreachable database's
# (clinic/errors.py). Every operation lists them; the others are each operation's own.
ANY_OPERATION = {(429, "rate_limited"), (503, "busy"), (503, "unavailable")}


def documented_answers(spec: dict, path: str, method: str) -> set[tuple[int, str | None]]:
    """(status, code) for each answer the operation lists: its problem codes, or None where a status
    names none (a success, or a malformed request's 400)."""
    found = set()
    for status, response in spec["paths"][path][method]["responses"].items():
        problem = resolve(spec, response).get("content", {}).get("application/problem+json", {})
        codes = problem.get("schema", {}).get("properties", {}).get("code", {}).get("enum", [None])
        found |= {(int(status), code) for code in codes}
    return found


MANY = factories.patient_details(email="many@example.org")  # who holds as many bookings as one may


class Probe:
    """Requests to the API, each on a day of its own so that no two meet, with what they need made first."""

    TOO_LARGE = b'{"x": "' + b"x" * 70_000 + b'"}'

    def __init__(self, client, session, clinic):
        self.client, self.session, self.clinic = client, session, clinic
        self.weeks = 0

    def day(self):
        self.weeks += 1
        return self.clinic.day + timedelta(weeks=self.weeks)

    def booking(self, start=None, *, service=None, clinician=None, **fields) -> tuple[str, dict]:
        """A booking (of the clinic's service with its first clinician, on a day of its own, at 10:00
        unless said): its reference and the headers that manage it."""
        service, clinician = service or self.clinic.service, clinician or self.clinic.first
        start = start or at(self.day(), 10)
        made = factories.consultation(self.session, service, clinician, start, **fields)
        return made.reference, bearer(manage_token(TEST_KEYS, made))

    def book(self, body: dict, **headers):
        return self.client.post("/api/v1/bookings", json=body, headers=headers)

    def late(self) -> dict:
        """The service and clinician of a booking whose online changes have ended."""
        service = factories.service(self.session, cancel_cutoff_minutes=60 * 24 * 400, horizon_days=400)
        return {"service": service, "clinician": factories.clinician(self.session, [service])}

    def manage(self, action: str, json: object = None, *, late: bool = False, **booking):
        """POST …/action on a fresh booking; `late`: one whose online changes have ended."""
        reference, headers = self.booking(**booking, **(self.late() if late else {}))
        return self.client.post(f"/api/v1/bookings/{reference}/{action}", json=json, headers=headers)

    def slots_to_move(self, **booking):
        """The free times to move a fresh booking to."""
        reference, headers = self.booking(**booking)
        service = booking.get("service", self.clinic.service).id
        day = self.clinic.day
        path = f"/api/v1/slots?service={service}&start={day}&end={day}&tz=UTC&moving={reference}"
        return self.client.get(path, headers=headers)

    def move(self, to: dict, **booking):
        return self.manage("reschedule", to, **booking)

    def send(self, action: str, *, token: bool = True, **request):
        """POST …/action on a fresh booking with `request` as the test client takes it (data=…), with its
        token unless not."""
        reference, headers = self.booking()
        path = f"/api/v1/bookings/{reference}/{action}"
        return self.client.post(path, headers=headers if token else {}, **request)


def probes(probe: Probe, app) -> dict[tuple[str, str], dict[tuple[int, str | None], Callable]]:
    """For each operation, a request giving each answer it can give (but ANY_OPERATION's)."""
    client, clinic, first, second = probe.client, probe.clinic, probe.clinic.first, probe.clinic.second
    service = clinic.service

    def body(day, hour, **changes):
        return booking_body(service.id, wall(day, hour), **changes)

    def taken():
        day = probe.day()
        probe.booking(at(day, 10))
        return probe.book(body(day, 10, clinician=first.id))

    def held():
        day = probe.day()
        probe.booking(at(day, 10), patient=ADA)
        return probe.book(body(day, 10, clinician=second.id))

    def too_many():
        cap = app.config["MAX_ACTIVE_BOOKINGS_PER_EMAIL"]
        for _ in range(cap):
            probe.booking(patient=MANY)
        asked = body(probe.day(), 10)
        return probe.book({**asked, "patient": {**asked["patient"], "email": MANY.email}})

    def key_reused():
        day, key = probe.day(), "probe-key"
        probe.book(body(day, 10), **{"Idempotency-Key": key})
        return probe.book(body(day, 11), **{"Idempotency-Key": key})

    def move_onto_taken():
        day = probe.day()
        probe.booking(at(day, 14))
        return probe.move({"start": wall(day, 14)}, start=at(day, 10))

    def move_onto_held():
        day = probe.day()
        probe.booking(at(day, 14), clinician=second, patient=ADA)
        return probe.move({"start": wall(day, 14)}, start=at(day, 10), patient=ADA)

    def move_from_a_clinician_who_left():
        leaving = factories.clinician(probe.session, [service])
        reference, headers = probe.booking(clinician=leaving)
        leaving.services = []
        probe.session.commit()
        return client.post(
            f"/api/v1/bookings/{reference}/reschedule", json={"start": wall(clinic.day, 14)}, headers=headers
        )

    def twice(action: str, json: object = None):
        reference, headers = probe.booking()
        client.post(f"/api/v1/bookings/{reference}/cancel", headers=headers)
        return client.post(f"/api/v1/bookings/{reference}/{action}", json=json, headers=headers)

    def read(suffix: str = "", **headers):
        reference, token = probe.booking()
        return client.get(f"/api/v1/bookings/{reference}{suffix}", headers={**token, **headers})

    def join(starts_in: timedelta, suffix: str = "", clinician=first):
        reference, headers = probe.booking(utcnow() + starts_in, clinician=clinician)
        return client.post(f"/api/v1/bookings/{reference}{suffix}/join", headers=headers)

    slots = f"/api/v1/slots?start={clinic.day}&end={clinic.day}&tz=UTC"
    elsewhere = factories.clinician(probe.session, [factories.service(probe.session)])
    return {
        ("/services", "get"): {
            (200, None): lambda: client.get("/api/v1/services"),
            (400, None): lambda: client.get("/api/v1/services?x=%00"),
        },
        ("/privacy-notice", "get"): {
            (200, None): lambda: client.get("/api/v1/privacy-notice"),
            (400, None): lambda: client.get("/api/v1/privacy-notice?%00"),
        },
        ("/openapi.json", "get"): {
            (200, None): lambda: client.get("/api/v1/openapi.json"),
            (400, None): lambda: client.get("/api/v1/openapi.json?%00"),
        },
        ("/slots", "get"): {
            (200, None): lambda: client.get(f"{slots}&service={service.id}"),
            (400, None): lambda: client.get(f"{slots}&service={service.id}&x=%00"),
            (404, "not_found"): lambda: client.get(f"{slots}&service={service.id}&clinician={elsewhere.id}"),
            (409, "change_not_allowed"): lambda: probe.slots_to_move(**probe.late()),
            (409, "invalid_transition"): lambda: probe.slots_to_move(status=ConsultationStatus.CANCELLED),
            (422, "invalid_input"): lambda: client.get("/api/v1/slots"),
        },
        ("/bookings", "post"): {
            (201, None): lambda: probe.book(body(probe.day(), 10)),
            (400, None): lambda: client.post("/api/v1/bookings", data="{", content_type="application/json"),
            (404, "not_found"): lambda: probe.book(body(probe.day(), 10, clinician=elsewhere.id)),
            (409, "slot_taken"): taken,
            (409, "already_booked"): held,
            (409, "too_many_bookings"): too_many,
            (413, None): lambda: client.post(
                "/api/v1/bookings", data=Probe.TOO_LARGE, content_type="application/json"
            ),
            (422, "invalid_input"): lambda: probe.book({}),
            (422, "slot_unavailable"): lambda: probe.book(body(probe.day(), 7)),
            (422, "idempotency_conflict"): key_reused,
        },
        ("/bookings/{reference}", "get"): {
            (200, None): read,
            (400, None): lambda: read("%00"),
            (404, "not_found"): lambda: read(Authorization=""),
        },
        ("/bookings/{reference}/cancel", "post"): {
            (200, None): lambda: probe.manage("cancel"),
            (400, None): lambda: probe.send("cancel", data="["),
            (404, "not_found"): lambda: probe.send("cancel", token=False),
            (409, "change_not_allowed"): lambda: probe.manage("cancel", late=True),
            (409, "invalid_transition"): lambda: twice("cancel"),
            (413, None): lambda: probe.send("cancel", data=Probe.TOO_LARGE, content_type="application/json"),
            (422, "invalid_input"): lambda: probe.manage("cancel", []),
        },
        ("/bookings/{reference}/reschedule", "post"): {
            (200, None): lambda: probe.move({"start": wall(probe.day(), 11)}),
            (400, None): lambda: probe.send("reschedule", data="["),
            (404, "not_found"): lambda: probe.move(
                {"start": wall(probe.day(), 11), "clinician": elsewhere.id}
            ),
            (409, "slot_taken"): move_onto_taken,
            (409, "already_at_that_time"): lambda: probe.move(
                {"start": wall(clinic.day, 10)}, start=at(clinic.day, 10)
            ),
            (409, "already_booked"): move_onto_held,
            (409, "clinician_not_offering"): move_from_a_clinician_who_left,
            (409, "change_not_allowed"): lambda: probe.move({"start": wall(probe.day(), 11)}, late=True),
            (409, "invalid_transition"): lambda: twice("reschedule", {"start": wall(probe.day(), 11)}),
            (413, None): lambda: probe.send(
                "reschedule", data=Probe.TOO_LARGE, content_type="application/json"
            ),
            (422, "invalid_input"): lambda: probe.move({}),
            (422, "slot_unavailable"): lambda: probe.move({"start": wall(probe.day(), 7)}),
        },
        ("/bookings/{reference}/join", "post"): {
            (200, None): lambda: join(timedelta(minutes=5)),
            (400, None): lambda: join(timedelta(minutes=5), "%00", second),  # beside the one above
            (404, "not_found"): lambda: probe.send("join", token=False),
            (409, "room_closed"): lambda: join(timedelta(hours=3)),
        },
    }


def test_each_operation_lists_exactly_the_answers_it_gives(app, client, session, spec, clinic):
    """Cancel listed slot_unavailable, invalid_details and idempotency_conflict, and reschedule the last two,
    which neither ever gives (a client would handle them in vain): each operation's list is now what a
    request to it gives, each tried here."""
    tried = probes(Probe(client, session, clinic), app)

    assert set(tried) == {(path, method) for path, method, _ in operations(spec)}
    in_vain, unlisted, answered_otherwise = {}, {}, {}
    for (path, method), answers in tried.items():
        documented = documented_answers(spec, path, method)
        in_vain[path, method] = documented - ANY_OPERATION - set(answers)
        unlisted[path, method] = (set(answers) | ANY_OPERATION) - documented
        for expected, request in answers.items():
            response = request()
            problem = response.get_json() if response.status_code >= 400 else {}
            if (answer := (response.status_code, problem.get("code"))) != expected:
                answered_otherwise[path, method, expected] = answer, problem.get("detail")

    assert not answered_otherwise
    assert not {operation: listed for operation, listed in in_vain.items() if listed}
    assert not {operation: given for operation, given in unlisted.items() if given}


def accepts(spec: dict, schema: dict, value: str | int) -> bool:
    """Whether `value` fits the keywords the document's parameters use."""
    schema = {**resolve(spec, schema), **{k: v for k, v in schema.items() if k != "$ref"}}
    if isinstance(value, str):
        return (
            schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value))
            and re.search(schema.get("pattern", ""), value) is not None
        )
    return schema.get("minimum", value) <= value <= schema.get("maximum", value)


def parameter(spec: dict, path: str, method: str, name: str) -> dict:
    for node in spec["paths"][path][method].get("parameters", []):
        node = resolve(spec, node)
        if node["name"] == name:
            return node
    raise KeyError(name)


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "x" * 255,
        "x" * 256,
        f'"{"x" * 255}"',
        f'"{"x" * 256}"',
        "",
        '""',
        '"',
        '"a',
        'a"b',
        "a b",
        "\x7f",
    ],
)
def test_the_idempotency_key_limits_are_the_servers(client, spec, key):
    schema = parameter(spec, "/bookings", "post", "Idempotency-Key")["schema"]

    response = client.post("/api/v1/bookings", json={}, headers={"Idempotency-Key": key})

    assert response.status_code == 422
    assert ("Idempotency-Key" not in response.get_json()["errors"]) == accepts(spec, schema, key)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("service", 0),
        ("service", 1),
        ("service", 2**31 - 1),
        ("service", 2**31),
        ("clinician", 0),
        ("clinician", 2**31 - 1),
        ("clinician", 2**31),
        ("tz", ""),
        ("tz", "UTC"),
        ("tz", "America/Argentina/ComodRivadavia"),  # the longest name
        ("tz", "America/Argentina/ComodRivadavia/"),
        ("tz", "Europe/London"),
    ],
)
def test_the_slot_parameters_limits_are_the_servers(client, spec, name, value):
    schema = parameter(spec, "/slots", "get", name)["schema"]

    response = client.get(f"/api/v1/slots?{urlencode({name: value})}")

    assert response.status_code == 422
    assert (name not in response.get_json()["errors"]) == accepts(spec, schema, value)


@pytest.mark.parametrize("schema", ["BookingInput", "CancelInput"])
def test_the_reason_limits_are_the_servers(spec, schema):
    assert spec["components"]["schemas"][schema]["properties"]["reason"]["maxLength"] == MAX_REASON


def test_every_time_zone_the_server_accepts_fits_the_documented_one(spec):
    schema = spec["components"]["schemas"]["TimeZone"]

    assert all(accepts(spec, schema, name) for name in zone_names())


def test_the_slot_parameters_the_server_requires_are_the_documented_required_ones(client, spec):
    documented = {
        resolve(spec, node)["name"]
        for node in spec["paths"]["/slots"]["get"]["parameters"]
        if resolve(spec, node)["required"]
    }

    errors = client.get("/api/v1/slots").get_json()["errors"]

    assert set(errors) == documented == {"service", "start", "end", "tz"}


@pytest.mark.parametrize(
    ("schema", "fields"),
    [
        ("BookingInput", schemas.BOOKING_FIELDS),
        ("BookingInput.consent", schemas.CONSENT_FIELDS),
        ("Patient", schemas.PATIENT_FIELDS),
        ("Companion", schemas.COMPANION_FIELDS),
        ("RescheduleInput", schemas.RESCHEDULE_FIELDS),
        ("CancelInput", schemas.CANCEL_FIELDS),
    ],
)
def test_each_request_object_takes_exactly_the_fields_the_document_gives(spec, schema, fields):
    """The API refuses a field it does not read (api.schemas); the document says so, and names the same."""
    name, *inner = schema.split(".")
    documented = spec["components"]["schemas"][name]
    for field in inner:
        documented = documented["properties"][field]

    assert documented["additionalProperties"] is False
    assert set(documented["properties"]) == set(fields)
