"""What a browser session keeps of the links it opened. The session cookie is signed, not encrypted:
anyone who sees it (a shared computer's cookie store, a proxy's log) reads what is in it. So it keeps no
link's token, which would open the booking from any browser for the booking's life, but a pass: a keyed
hash that opens the link's pages only inside a session this app signed, and never as a link's token."""

import base64
import json
import zlib
from datetime import timedelta

from clinic.scheduling.tokens import companion_token, letter_code, walk_in_token

from . import factories
from .conftest import TEST_KEYS
from .test_booking_pages import next_week_at
from .test_companion_pages import with_companion
from .test_manage_link import asked_for_its_link, book, follow, open_link, service
from .test_walk_in_pages import entry, helpline, joined

__all__ = ["helpline", "service"]  # fixtures shared with their own test files


def cookie_as_read(client) -> str:
    """The session cookie as anyone who sees it can read it: its payload, base64-decoded (and
    decompressed, when Flask compressed it), no key needed."""
    value = client.get_cookie("session").value
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return (zlib.decompress(raw) if compressed else raw).decode()


def kept_values(client) -> list[str]:
    """Every text the session keeps for links, whatever its key."""
    kept = json.loads(cookie_as_read(client))
    return [value for jar in kept.values() if isinstance(jar, dict) for value in jar.values()]


def test_a_manage_link_opened_leaves_no_token_in_the_session_cookie(client, session, service):
    booked = book(session, service, next_week_at(10))

    landing = open_link(client, booked)

    assert landing.status_code == 303
    read = cookie_as_read(client)
    assert booked.manage_token not in read
    assert client.get(landing.location).status_code == 200  # the session still opens the booking


def test_the_letter_code_typed_leaves_no_code_in_the_session_cookie(client, session, service):
    booked = book(session, service, next_week_at(10))
    code = letter_code(TEST_KEYS, booked.consultation)
    reference = booked.consultation.reference

    landing = client.post(f"/c/{reference}", data={"code": code})

    assert landing.status_code == 303
    read = cookie_as_read(client)
    assert code not in read and code.replace(" ", "") not in read
    assert client.get(f"/c/{reference}").status_code == 200


def test_a_companions_and_a_walk_in_callers_links_leave_no_token_either(client, session, service, helpline):
    booked, path = with_companion(session, service, timedelta(days=2))
    companion = booked.consultation.companion
    follow(client, f"http://localhost{path}")
    place = joined(client)
    caller = entry(session)

    read = cookie_as_read(client)

    assert companion_token(TEST_KEYS, companion) not in read
    assert walk_in_token(TEST_KEYS, caller) not in read
    assert client.get(path.partition("#")[0]).status_code == 200
    assert client.get(place).status_code == 200


def test_what_the_session_keeps_opens_nothing_as_a_link_from_another_browser(app, client, session, service):
    booked = book(session, service, next_week_at(10))
    reference = booked.consultation.reference
    open_link(client, booked)
    stranger = factories.browser(app)

    tried = [stranger.post(f"/c/{reference}", data={"code": value}) for value in kept_values(client)]

    assert tried and all(response.status_code == 404 for response in tried)
    assert stranger.get(f"/c/{reference}/cancel").status_code != 200


def test_what_the_session_keeps_for_one_booking_opens_no_other(client, session, service):
    first = book(session, service, next_week_at(10))
    second = book(session, service, next_week_at(11))
    open_link(client, first)
    with client.session_transaction() as kept:
        for jar in kept.values():
            if isinstance(jar, dict) and first.consultation.reference in jar:
                jar[second.consultation.reference] = jar[first.consultation.reference]

    page = client.get(f"/c/{second.consultation.reference}")

    assert "data-link-form" in page.get_data(as_text=True)  # asked for its link: nothing of it shown
    other = second.consultation.reference
    assert asked_for_its_link(client.get(f"/c/{other}/cancel"), other)


def test_a_token_a_session_kept_before_passes_leaves_the_cookie_at_the_next_page(client, session, service):
    """Sessions from before kept the token itself: it is dropped, and the link asked for again."""
    booked = book(session, service, next_week_at(10))
    reference = booked.consultation.reference
    with client.session_transaction() as kept:
        kept["manage_tokens"] = {reference: booked.manage_token}

    page = client.get(f"/c/{reference}")

    assert "data-link-form" in page.get_data(as_text=True)
    assert booked.manage_token not in cookie_as_read(client)
