"""JSON responses written by orjson (clinic.json_responses) read back as Flask's own encoder writes them."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from hypothesis import given
from hypothesis import strategies as st

from clinic.json_responses import JsonResponses

app = Flask(__name__)
ours, flasks = JsonResponses(app), DefaultJSONProvider(app)


def json_values(scalars):
    return st.recursive(
        scalars, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=30
    )


# What the API writes: no floats, whose exponents the two write differently (5.9e-8, 5.9e-08).
plain = json_values(st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text())


@given(json_values(st.floats(allow_nan=False, allow_infinity=False)) | plain)
def test_any_value_reads_back_as_flask_writes_it(value):
    with app.app_context():
        written, expected = ours.response(value), flasks.response(value)

    assert (written.mimetype, json.loads(written.data)) == (expected.mimetype, json.loads(expected.data))


@given(plain)
def test_text_in_ascii_is_written_byte_for_byte_as_flask_writes_it(value):
    with app.app_context():
        written, expected = ours.response(value), flasks.response(value)

    if "\\u" not in expected.get_data(as_text=True):  # Flask escapes what is not ASCII; orjson writes UTF-8
        assert written.data == expected.data


def test_what_orjson_passes_on_or_refuses_is_written_as_flask_writes_it():
    value = {
        "day": date(2026, 3, 9),
        "at": datetime(2026, 3, 9, 14, 30, tzinfo=UTC),
        "amount": Decimal("1.10"),
        "id": UUID(int=7),
        "huge": 2**70,
    }
    with app.app_context():
        for each in (value, {2: "a key that is a number"}):
            assert ours.response(each).data == flasks.response(each).data


def test_debug_mode_keeps_flasks_indented_responses():
    debugging = Flask(__name__)
    debugging.debug = True
    with debugging.app_context():
        assert JsonResponses(debugging).response({"a": 1}).data == b'{\n  "a": 1\n}\n'


def test_the_app_writes_its_json_responses_so(app):
    assert isinstance(app.json, JsonResponses)
