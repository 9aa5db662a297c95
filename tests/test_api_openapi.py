"""The OpenAPI document describes exactly the API that is served."""

import json
import re
from pathlib import Path

import pytest

from tests.test_api import bearer, booked, clinic

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
    assert len(managed) == 3
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
