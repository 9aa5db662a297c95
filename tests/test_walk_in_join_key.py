"""The walk-in join form's key is in the page, so it can be copied: sent again from its own browser with
the same details (a double click, the page sent again) it leads back to the one place it made; sent from
another browser, or with other details, it is refused and hands over nothing of that place."""

import re

from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import select

from clinic.models import EntryStatus, WalkInEntry
from clinic.scheduling.tokens import walk_in_token
from clinic.walkin.queue import FORM_USED

from . import factories
from .conftest import TEST_KEYS
from .test_never_5xx import examples
from .test_walk_in_pages import CALLER, entry, helpline

__all__ = ["helpline"]  # the fixture shared with test_walk_in_pages.py

JOIN = "/walk-in/nurse-line"
ATTACKER = {"name": "Attacker", "contact": "attacker@evil.example", "consent": "y"}


def form_key(page: str) -> str:
    return re.search(r'name="join_key"[^>]* value="([^"]+)"', page)[1]


def drawn_key(client, query: str = "") -> str:
    """The key of a join form drawn afresh in `client`'s browser."""
    return form_key(client.get(JOIN + query).get_data(as_text=True))


def places(session) -> list[tuple[str, str, str | None, EntryStatus]]:
    session.commit()
    entries = session.scalars(select(WalkInEntry).order_by(WalkInEntry.id))
    return [(e.name, e.phone, e.email, e.status) for e in entries]


def held_passes(client) -> dict[str, str]:
    with client.session_transaction() as kept:
        return dict(kept.get("walk_in_passes", {}))


def assert_refused_with_a_fresh_form(response, used_key: str) -> None:
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "Location" not in response.headers
    assert FORM_USED in page and "<title>Error: " in page
    assert form_key(page) != used_key


def test_a_join_key_copied_into_another_browser_hands_over_nothing_of_the_place(
    app, client, session, helpline
):
    key = drawn_key(client)
    place = client.post(JOIN, data={**CALLER, "join_key": key}).headers["Location"]
    assert place.rsplit("/", 1)[1] in held_passes(client)
    token = walk_in_token(TEST_KEYS, entry(session))
    attacker = factories.browser(app)

    refused = attacker.post(JOIN, data={**ATTACKER, "join_key": key})

    assert_refused_with_a_fresh_form(refused, key)
    page = refused.get_data(as_text=True)
    assert 'value="Attacker"' in page and token not in page
    assert held_passes(attacker) == {}
    assert attacker.get(f"{place}/status").status_code == 404
    assert attacker.post(f"{place}/leave").status_code == 404
    assert attacker.post(f"{place}/join").status_code == 404
    assert places(session) == [("Edith Crawley", "+44 7700 900123", None, EntryStatus.WAITING)]
    assert "You are number <span data-place>1</span>" in client.get(place).get_data(as_text=True)


NAMES = st.sampled_from(["Edith Crawley", "Attacker"]) | st.from_regex(
    r"[A-Z][a-z]{1,9} [A-Z][a-z]{1,9}", fullmatch=True
)
CONTACTS = st.sampled_from(
    ["+44 7700 900123", "+44 7700 900999", "edith@example.org", "attacker@evil.example"]
)


def test_a_used_join_key_never_leads_to_its_place_unless_its_own_browser_sends_the_same_details(
    app, client, session, helpline
):
    """Whatever is sent with the key, from this browser or another: only the join that made the place
    (its browser as it was when the form was sent, the same details) is led back to it. The examples:
    a double click, and the whole form copied into another browser."""
    key = drawn_key(client)
    as_the_form_was_sent = factories.same_browser(app, client)
    place = client.post(JOIN, data={**CALLER, "join_key": key}).headers["Location"]
    made = places(session)

    @examples(60)
    @given(name=NAMES, contact=CONTACTS, interpreter=st.booleans(), its_own_browser=st.booleans())
    @example(name=CALLER["name"], contact=CALLER["contact"], interpreter=False, its_own_browser=True)
    @example(name=CALLER["name"], contact=CALLER["contact"], interpreter=False, its_own_browser=False)
    def run(name, contact, interpreter, its_own_browser):
        sender = (
            factories.same_browser(app, as_the_form_was_sent) if its_own_browser else factories.browser(app)
        )
        details = {
            "name": name,
            "contact": contact,
            "consent": "y",
            **({"needs_interpreter": "y", "interpreter_language": "Polish"} if interpreter else {}),
        }

        response = sender.post(JOIN, data={**details, "join_key": key})

        if its_own_browser and details == CALLER:
            assert (response.status_code, response.headers["Location"]) == (303, place)
        else:
            assert_refused_with_a_fresh_form(response, key)
            assert held_passes(sender) == {}
        assert places(session) == made

    run()


def test_a_carer_sending_a_residents_form_again_gets_one_place_and_a_changed_form_is_sent_anew(
    client, session, helpline
):
    """A care home's tablet: the carer's form for a resident sent twice (the page sent again) makes one
    place; the same form, gone back to and changed for another resident, is refused with a fresh key,
    and sent again it gives that resident a place of their own."""
    client.post(JOIN, data=CALLER)
    key = drawn_key(client, "?someone_else=y")
    violet = {**CALLER, "name": "Violet Crawley", "someone_else": "y", "join_key": key}

    theirs = client.post(JOIN, data=violet)
    again = client.post(JOIN, data=violet)
    client.get(again.headers["Location"])  # the browser follows it, and is shown the place
    changed = client.post(JOIN, data={**violet, "name": "Cora Crawley"})
    sent_anew = client.post(
        JOIN, data={**violet, "name": "Cora Crawley", "join_key": form_key(changed.get_data(as_text=True))}
    )

    assert (again.status_code, again.headers["Location"]) == (303, theirs.headers["Location"])
    assert_refused_with_a_fresh_form(changed, key)
    assert sent_anew.status_code == 303 and sent_anew.headers["Location"] != theirs.headers["Location"]
    assert [name for name, *_ in places(session)] == ["Edith Crawley", "Violet Crawley", "Cora Crawley"]
