"""No input a client can send makes the server fail: every parser answers 4xx for what it cannot read.

Hypothesis sends hostile query strings, form bodies, JSON and headers to the API, the public booking
pages, the manage link and (signed in) the staff pages, and checks that the status is never 5xx; then
hostile forms and headers to every route of the URL map, a few each.
The named cases are the ones that once did.
"""

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlencode

import pytest
import wtforms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from wtforms.fields.core import UnboundField

from clinic.models import Closure, OutboxMessage, StaffRole, utcnow
from clinic.notes.settings import notes_settings
from clinic.reporting.exports import TABLES

from . import factories, notes_support
from .factories import sign_in
from .test_api import at, bearer, booked, booking_body, clinic, wall
from .test_manage_link import book, open_link

__all__ = ["booked", "clinic"]  # fixtures shared with test_api.py


def examples(count: int) -> settings:
    """`count` cases, the same ones on every run so CI never flakes on a new one; a page takes ~0.1 s."""
    return settings(
        max_examples=count,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


EXAMPLES_API, EXAMPLES_PAGES, EXAMPLES_STAFF = examples(250), examples(150), examples(100)
EXAMPLES_EACH_ROUTE = examples(5)

# Dates and times at the edges of datetime's range: converting them between zones overflows.
EDGE_TIMES = [
    "9999-12-31T23:00-12:00",
    "0001-01-01T00:00+14:00",
    "9999-12-31T23:59:59.999999",
    "0001-01-01T00:00",
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "2026-03-29T01:30",  # skipped by London's spring-forward
    "99999999999999999999999",
    "-1",
    "1e309",
    "NaN",
    "",
]
offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))
zones = st.none() | offsets.map(timezone)
instants = st.datetimes(timezones=zones).map(lambda d: d.isoformat())
# The first and last days datetime can hold, where moving a time to UTC leaves its range.
edge_instants = st.one_of(
    st.datetimes(max_value=datetime(1, 1, 2), timezones=zones),
    st.datetimes(min_value=datetime(9999, 12, 30), timezones=zones),
).map(lambda d: d.isoformat(timespec="minutes"))
days = st.dates().map(lambda d: d.isoformat())
odd_text = st.text(
    st.characters(codec="utf-8") | st.sampled_from(["\x00", "\u202e", "\x85", "\ufeff", "\U0001f600"]),
    max_size=30,
)
form_text = st.one_of(
    st.sampled_from(EDGE_TIMES),
    edge_instants,
    instants,
    days,
    st.integers().map(str),
    st.sampled_from(["any", "UTC", "Europe/London", "../../etc/passwd", "Etc/GMT+5", "x" * 300]),
    odd_text,
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    form_text,
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3),  # lone surrogates, escaped in JSON
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=300)


def query(pairs: dict) -> str:
    """A query string as a browser would send it; lone surrogates arrive percent-encoded, undecodable."""
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass")


def hostile(fields: dict, values: st.SearchStrategy = form_text) -> st.SearchStrategy[dict]:
    """`fields` with each value kept, left out or replaced by one of `values`, plus a stray field."""
    return st.fixed_dictionaries(
        {name: st.one_of(_kept(value), values) for name, value in fields.items()},
        optional={"stray": values},
    ).flatmap(
        lambda chosen: st.sets(st.sampled_from(sorted(chosen))).map(
            lambda dropped: {name: value for name, value in chosen.items() if name not in dropped}
        )
    )


def _kept(value: object) -> st.SearchStrategy:
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


def send(client, page: tuple[str, str], fields: dict, headers: dict | None = None):
    """GET `page` with `fields` as its query string, or POST them as its form."""
    method, path = page
    if method == "get":
        return client.get(f"{path}?{query(fields)}", headers=headers)
    return client.post(path, data=fields, headers=headers)


def never_5xx(response) -> None:
    asked = f"{response.request.method} {response.request.full_path}"
    assert response.status_code < 500, (asked, response.status_code, response.get_data(as_text=True)[:300])


# --- the cases that were 500s ------------------------------------------------------------


@pytest.mark.parametrize("time_zone", [{}, [], {"a": 1}, [["Europe/London"]]])
def test_a_time_zone_that_is_not_text_is_refused_by_booking_and_rescheduling(
    client, clinic, booked, time_zone
):
    body = booking_body(clinic.service.id, wall(clinic.day, 11), time_zone=time_zone)

    created = client.post("/api/v1/bookings", json=body)
    moved = client.post(
        f"/api/v1/bookings/{booked['reference']}/reschedule",
        json={"start": wall(clinic.day, 11), "time_zone": time_zone},
        headers=bearer(booked["manage_token"]),
    )

    for response in (created, moved):
        assert response.status_code == 422
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["errors"]["time_zone"] == "Give an IANA time zone such as Europe/London."


EDGE_STARTS = ["9999-12-31T23:00-12:00", "0001-01-01T00:00+14:00"]


@pytest.mark.parametrize("start", EDGE_STARTS)
@pytest.mark.parametrize("step", ["/book", "/book/time", "/book/details"])
def test_a_start_at_the_ends_of_the_calendar_is_asked_for_again_on_the_booking_pages(
    client, clinic, step, start
):
    response = client.get(
        f"{step}?{query({'service': clinic.service.id, 'clinician': 'any', 'start': start})}"
    )

    if step == "/book/details":
        assert response.status_code == 422
        assert "Choose a time from the list." in response.get_data(as_text=True)
    else:  # the steps before it do not read the start yet
        assert response.status_code == 200


@pytest.mark.parametrize("start", EDGE_STARTS)
def test_a_start_at_the_ends_of_the_calendar_is_asked_for_again_when_rescheduling(
    client, session, clinic, start
):
    booked = book(session, clinic.service, at(clinic.day, 10))
    open_link(client, booked)
    path = f"/c/{booked.consultation.reference}/reschedule"

    shown = client.get(f"{path}?{query({'start': start})}")
    posted = client.post(path, data={"start": start})

    assert shown.status_code == 200  # GET only shows the times; the start is not read yet
    assert posted.status_code == 422
    assert "Choose a time from the list." in posted.get_data(as_text=True)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "9999-12-31T23:00-12:00"])
def test_a_first_day_at_the_ends_of_the_calendar_shows_from_today(client, clinic, day):
    response = client.get(
        f"/book/time?{query({'service': clinic.service.id, 'clinician': 'any', 'day': day})}"
    )

    assert response.status_code == 200


# Each example sends one request: an endpoint drawn from the list, with hostile input for it.


def test_the_api_never_answers_5xx(client, clinic, booked):
    reference, token = booked["reference"], booked["manage_token"]
    booking = booking_body(clinic.service.id, wall(clinic.day, 11))
    bodies = st.one_of(
        hostile(booking | {"patient": hostile(booking["patient"], json_values)}, json_values),
        hostile({"start": wall(clinic.day, 12), "time_zone": "Europe/London", "clinician": 1}, json_values),
        json_values,
    )
    day = clinic.day.isoformat()
    slots = {
        "service": clinic.service.id,
        "clinician": clinic.first.id,
        "tz": "UTC",
        "start": day,
        "end": day,
        "moving": reference,
    }
    raw = [b"", b"{", b"[" * 100_000, b'{"start": "\\ud800"}', b"\xff\xfe", b"null", b'{"a": 1e999999}']
    headers = st.fixed_dictionaries(
        {"Authorization": st.sampled_from([f"Bearer {token}", "Bearer ", ""]) | header_text},
        optional={"Idempotency-Key": header_text},
    )
    references = st.sampled_from([reference, reference + "\x00", "%00", "x" * 2000]) | odd_text

    @EXAMPLES_API
    @given(
        endpoint=st.sampled_from(["slots", "book", "show", "cancel", "reschedule"]),
        args=hostile(slots),
        body=bodies.map(json.dumps) | st.sampled_from(raw),
        headers=headers,
        ref=references,
    )
    def run(endpoint, args, body, headers, ref):
        path = f"/api/v1/bookings/{quote(ref, safe='', errors='surrogatepass')}"
        post = {"data": body, "content_type": "application/json", "headers": headers}
        response = {
            "slots": lambda: client.get(f"/api/v1/slots?{query(args)}", headers=headers),
            "book": lambda: client.post("/api/v1/bookings", **post),
            "show": lambda: client.get(path, headers=headers),
            "cancel": lambda: client.post(f"{path}/cancel", **post),
            "reschedule": lambda: client.post(f"/api/v1/bookings/{reference}/reschedule", **post),
        }[endpoint]()
        never_5xx(response)

    run()


def test_the_booking_pages_and_the_manage_link_never_answer_5xx(client, session, clinic):
    booked = book(session, clinic.service, at(clinic.day, 10))
    open_link(client, booked)
    manage = f"/c/{booked.consultation.reference}"
    choices = {
        "service": clinic.service.id,
        "clinician": "any",
        "time_zone": "Europe/London",
        "day": clinic.day.isoformat(),
        "start": "2026-03-09T10:00Z",
    }
    details = {
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "phone": "+44 7700 900123",
        "birth_date": "1985-12-10",
        "reason": "",
        "companion_name": "",
        "companion_role": "",
        "consent": "y",
        "idempotency_key": "k" * 20,
        "password": "correct horse battery staple",
        "code": "123456",
    }
    pages = [("get", p) for p in ("/book", "/book/clinician", "/book/time", "/book/details")] + [
        ("post", "/book/details"),
        ("post", "/book/confirm"),
        ("get", f"{manage}/reschedule"),
        ("post", f"{manage}/reschedule"),
        ("post", f"{manage}/cancel"),
        ("post", f"{manage}/check-in"),
        ("get", f"{manage}/join"),
        ("post", "/login"),
        ("post", "/login/code"),
    ]

    @EXAMPLES_PAGES
    @given(page=st.sampled_from(pages), fields=hostile(choices | details), ref=odd_text)
    def run(page, fields, ref):
        never_5xx(send(client, page, fields))
        never_5xx(client.get(f"/c/{quote(ref, safe='', errors='surrogatepass')}/reschedule"))

    run()


def test_the_staff_pages_never_answer_5xx(app, session, clinic):
    client = factories.browser(app)
    session.rollback()
    user = factories.staff(session, role=StaffRole.ADMIN, clinician_id=clinic.first.id)
    assert sign_in(client, user).status_code == 303
    session.rollback()
    visit = factories.consultation(session, clinic.service, clinic.first, utcnow() + timedelta(days=3))
    session.commit()
    consultation = f"/schedule/consultations/{visit.id}"
    fields = {
        "date": clinic.day.isoformat(),
        "department": clinic.service.department_id,
        "clinician": clinic.first.id,
        "weekday": "1",
        "start": "09:00",
        "end": "10:00",
        "starts_at": "2026-03-09T10:00",
        "ends_at": "2026-03-09T12:00",
        "label": "Leave",
        "status": "arrived",
        "subjective": "ok",
        "draft": "",
        "revision": "",
        "time_zone": "UTC",
        "page": "2",
        "provider": "jitsi",
        "moving_from": "2026-03-09T10:00Z",
        "moving_from_clinician": clinic.first.id,
    }
    pages = [
        ("get", p)
        for p in (
            "/schedule/",
            "/schedule/week",
            "/schedule/updates",
            "/schedule/week/updates",
            "/schedule/book",
            f"{consultation}/move",
        )
    ]
    pages += [("get", "/admin/outbox")] + [
        ("post", p)
        for p in (
            "/schedule/book",
            "/schedule/hours",
            "/schedule/time-off",
            f"{consultation}/move",
            f"{consultation}/notes",
            f"{consultation}/companion",
            f"{consultation}/status",
            f"{consultation}/cancel",
            f"{consultation}/notes/sign",
            f"{consultation}/notes/amend",
            "/account/two-factor",
            f"/admin/services/{clinic.service.id}",
            "/account/password",
        )
    ]

    @EXAMPLES_STAFF
    @given(page=st.sampled_from(pages), fields=hostile(fields))
    def run(page, fields):
        never_5xx(send(client, page, fields))

    run()


# --- text no column can hold ------------------------------------------------------------


def test_a_nul_in_the_address_or_the_query_string_is_refused_with_400(client, session, clinic):
    booked = book(session, clinic.service, at(clinic.day, 10))

    for response in (
        client.get("/c/BP7-8KVP%00/reschedule"),
        client.get(f"/api/v1/bookings/{booked.consultation.reference}%00"),
        client.get("/book?service=1&name=Ada%00"),
    ):
        assert response.status_code == 400
        assert "NUL" in response.get_data(as_text=True)


def test_a_nul_pasted_into_a_form_is_taken_out_and_the_rest_kept(client, session, clinic):
    """No person sees or means a NUL, and no column can hold one: a form is never thrown away for it."""
    booked = book(session, clinic.service, at(clinic.day, 10))
    open_link(client, booked)

    response = client.post(
        f"/c/{booked.consultation.reference}/cancel", data={"reason": "Feeling\x00 better"}
    )

    assert response.status_code == 303
    session.expire_all()
    cancelled = session.get(type(booked.consultation), booked.consultation.id)
    assert cancelled.cancel_reason_text == "Feeling better"


@pytest.mark.parametrize("text", ["ill\x00", "ill\ud800"])
def test_json_text_no_database_can_store_is_refused_by_field(client, session, clinic, text):
    body = booking_body(clinic.service.id, wall(clinic.day, 11), reason=text)
    body["patient"]["name"] = "Ada " + text

    response = client.post("/api/v1/bookings", json=body)

    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert errors["reason"] == errors["patient.name"] == "Text must not contain NUL or unpaired surrogates."


# --- every route ---------------------------------------------------------------------------------

# Each would end the sweep's own sign-in.
UNSWEPT = {"auth.logout"}
# Headers the app, Werkzeug or Flask read (an empty Content-Type once made a post a 500).
READ_HEADERS = [
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Authorization",
    "Content-Type",
    "Forwarded",
    "Idempotency-Key",
    "If-Modified-Since",
    "If-None-Match",
    "If-Range",
    "Origin",
    "Range",
    "Referer",
    "User-Agent",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Request-ID",
]
# Fields the views read from the request themselves, not through a form.
FIELDS_READ_BY_HAND = {"to", "t", "status", "page", "next", "active"}
PLACEHOLDER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def form_fields() -> set[str]:
    """The name of every field of every form the app defines, and of those its views read themselves."""

    def subclasses(cls: type) -> Iterator[type]:
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    defined = {
        name
        for form in subclasses(wtforms.Form)
        for name, field in vars(form).items()
        if isinstance(field, UnboundField)
    }
    return defined | FIELDS_READ_BY_HAND


def test_every_route_never_answers_5xx(app, session, clinic):
    """Every route of the URL map, each method, with hostile path arguments, query strings, forms and
    headers: the staff routes signed in (the admin's as an admin, the rest as the consultation's
    clinician, whose browser has also opened the patient's link), the patients' in that browser. The
    routes come from the app, so a new one is swept the day it is added; a new kind of path argument
    fails here until it is given a real object's value."""
    admin, clinician = factories.browser(app), factories.browser(app)
    session.rollback()
    admin_user = factories.staff(session)
    clinician_user = factories.linked_staff(session, clinic.first, StaffRole.CLINICIAN)
    now = utcnow()
    booked = book(session, clinic.service, at(clinic.day, 10))
    case = notes_support.Booked(booked.consultation, clinician_user, notes_settings(app))
    note = notes_support.sign(session, case, notes_support.NOTE, now=now)
    queue = factories.walk_in_queue(session, clinic.service, [clinic.first])
    caller = factories.walk_in(session, queue, now=now)
    month_on = at(clinic.day, 0) + timedelta(days=30)
    closure = Closure(starts_at=month_on, ends_at=month_on + timedelta(days=1))
    session.add(closure)
    time_off = factories.time_off(session, clinic.first, closure.starts_at, closure.ends_at)
    session.commit()
    ids = {
        "consultation_id": booked.consultation.id,
        "clinician_id": clinic.first.id,
        "service_id": clinic.service.id,
        "department_id": clinic.service.department_id,
        "user_id": clinician_user.id,
        "queue_id": queue.id,
        "rule_id": clinic.first.availability_rules[0].id,
        "time_off_id": time_off.id,
        "closure_id": closure.id,
        "message_id": session.scalar(select(OutboxMessage.id).limit(1)),
        "note_id": note.note_id,
        "table": next(iter(TABLES)),
        "filename": "clinic.css",
    }
    references = st.sampled_from([booked.consultation.reference, caller.entry.reference])
    arguments = {name: st.just(value) for name, value in ids.items()} | {
        "reference": references | odd_text,
        "slug": st.just(queue.slug) | odd_text,
        "name": odd_text,
    }
    # Real ids as field values too: a clinician or service that exists but does not fit the others.
    real_ids = st.sampled_from(sorted({str(value) for value in ids.values() if isinstance(value, int)}))
    fields = hostile(dict.fromkeys(sorted(form_fields()), form_text | real_ids))
    assert sign_in(clinician, clinician_user).status_code == 303
    open_link(clinician, booked)  # after signing in, which gives the browser a new session
    routes = [
        (method.lower(), rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in UNSWEPT
        for method in sorted(rule.methods & {"GET", "POST"})
    ]

    for method, rule in routes:
        browser = admin if rule.startswith("/admin") else clinician
        who = admin_user if browser is admin else clinician_user
        if browser.get("/account").status_code != 200:  # a route swept before signed it out
            # From an address of its own: the sweep's hostile sign-ins get 127.0.0.1 throttled.
            assert sign_in(browser, who, remote_addr="192.0.2.1").status_code == 303

        in_path = st.fixed_dictionaries({name: arguments[name] for name in PLACEHOLDER.findall(rule)})
        sweep(browser, method, rule, in_path, fields)


def sweep(browser, method: str, rule: str, in_path: st.SearchStrategy, fields: st.SearchStrategy) -> None:
    """Requests to `rule`'s paths with hostile forms or query strings and headers: none is answered 5xx."""

    headers = st.fixed_dictionaries({}, optional=dict.fromkeys(READ_HEADERS, header_text))

    @EXAMPLES_EACH_ROUTE
    @given(values=in_path, form=fields, sent=headers)
    def run(values, form, sent):
        never_5xx(send(browser, (method, filled(rule, values)), form, sent))

    run()


def filled(rule: str, values: dict) -> str:
    """`rule` with each placeholder replaced by its value, percent-encoded."""
    return PLACEHOLDER.sub(lambda found: quote(str(values[found[1]]), safe="", errors="surrogatepass"), rule)
