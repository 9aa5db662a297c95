"""A walk-in caller who asks for an interpreter says for which language: staff were told someone needed an
interpreter but not in what language. The field is always on the form (no JavaScript needed), is required
only when the box is ticked, is shown to staff where the interpreter is, and goes in no mail or invite."""

# ruff: noqa: F811 - the fixtures imported below are the tests' parameters

import re

import pytest

from clinic.audit import Actor
from clinic.models import utcnow
from clinic.scheduling.companions import add_companion

from . import factories
from .conftest import TEST_KEYS
from .fakes.outbox import outbox, text  # noqa: F401 (fixture)
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)
from .test_schedule import text as page_text
from .test_walk_in_pages import CALLER, entry, helpline, joined  # noqa: F401 (fixture)
from .test_walk_in_staff import on_duty_login


def test_the_language_field_is_on_the_join_form_without_javascript(client, helpline):
    page = client.get("/walk-in/nurse-line").get_data(as_text=True)

    assert re.search(r'<label for="interpreter_language">[^<]*language', page)
    assert re.search(r'<input[^>]*id="interpreter_language"', page)


def test_an_interpreter_asked_for_without_a_language_is_explained_beside_it_and_nobody_joins(
    client, session, helpline
):
    response = client.post("/walk-in/nurse-line", data={**CALLER, "needs_interpreter": "y"})

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="interpreter_language-error"' in html and "Enter the language" in html
    assert re.search(r'aria-describedby="[^"]*interpreter_language-error"', html)
    assert entry(session) is None


def test_the_language_is_kept_with_the_place_only_when_an_interpreter_is_asked_for(
    app, client, session, helpline
):
    joined(client, {**CALLER, "needs_interpreter": "y", "interpreter_language": "  Polish "})
    asked = entry(session)
    joined(factories.browser(app), {**CALLER, "name": "Mary Crawley", "interpreter_language": "Urdu"})
    not_asked = entry(session)

    assert (asked.needs_interpreter, asked.interpreter_language) == (True, "Polish")
    assert (not_asked.needs_interpreter, not_asked.interpreter_language) == (False, None)


@pytest.fixture
def staffed_line(session):
    """A helpline whose clinician on duty signs in through the login page."""
    service = factories.service(session, duration_minutes=15)
    queue = factories.walk_in_queue(session, service, [factories.clinician(session, [service])])
    session.commit()
    return queue


def test_staff_see_the_language_on_the_call_and_no_mail_or_invite_carries_it(
    client, session, staffed_line, outbox, smtp_server, fake_providers
):
    helpline = staffed_line
    details = factories.caller_details(needs_interpreter=True, interpreter_language="Tigrinya")
    factories.walk_in(session, helpline, now=utcnow(), details=details)
    on_duty_login(session, client, helpline)

    call = client.post(f"/schedule/walk-in/{helpline.id}/take").headers["Location"]
    page = page_text(client.get(call))
    consultation_id = int(call.rsplit("/", 1)[1])
    add_companion(
        session, consultation_id, factories.companion_details(), now=utcnow(), actor=Actor(), keys=TEST_KEYS
    )
    outbox.clock.now = utcnow()
    outbox.drain()

    assert "<dt>Interpreter</dt><dd><strong>The caller asked for one, for Tigrinya</strong>" in page
    mails = [received.message for received in smtp_server.received]
    assert mails and not any("Tigrinya" in text(mail) for mail in mails)
    assert "Tigrinya" not in fake_providers.everything_received()
