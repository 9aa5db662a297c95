"""Every staff form with a choice list, sent untouched as the browser draws it, is never told that a
choice is not in its list: the admin's new-login form refused every login so, because its "None" option
was drawn as a value its field could not read, and the tests typed "" where a browser sends the drawn one.
"""

import re
from collections import deque

import pytest
from sqlalchemy import select

from clinic.demo import demo_logins, load_demo
from clinic.models import StaffRole, StaffUser, utcnow

from . import factories
from .browser_forms import drawn_forms
from .conftest import TEST_KEYS

# What a select's own check says when the value sent is not one of its options.
NOT_IN_LIST = re.compile(r"Choose one of the options in the list|Not a valid choice|could not coerce", re.I)
PAGES_EACH = 70
SKIPPED = re.compile(r"logout|sign-out|/print|\.csv|/export|/letter|#")


@pytest.fixture
def hospital(session):
    load_demo(session, now=utcnow(), keys=TEST_KEYS, bookings=40)
    demo_logins(session, now=utcnow(), password="demo-password")
    session.commit()


def staff_pages(client, start: str):
    """The pages reachable by links from `start` within the staff area, breadth first, with their text;
    one page for each path (a schedule's other dates draw the same forms)."""
    seen, queue, visited = {start}, deque([start]), 0
    while queue and visited < PAGES_EACH:
        path, visited = queue.popleft(), visited + 1
        response = client.get(path)
        if response.status_code != 200 or "text/html" not in response.content_type:
            continue
        yield path, response.text
        for link in re.findall(r'href="(/(?:admin|schedule|account)[^"?]*)', response.text):
            if link not in seen and not SKIPPED.search(link):
                seen.add(link)
                queue.append(link)


def sent_as_drawn(client, path: str, page: str, depth: int = 1):
    """Each form on the page with a choice list, sent untouched: (where from, the form, the answer). A
    GET form's answer (a filter, the booking desk's choice of service) has its own forms sent too."""
    for form in drawn_forms(page):
        if not form.selects or form.method not in ("get", "post"):
            continue
        action = form.action or path
        response = (
            client.post(action, data=form.values)
            if form.method == "post"
            else client.get(action, query_string=form.values)
        )
        yield path, form, response
        if form.method == "get" and depth and response.status_code == 200:
            yield from sent_as_drawn(client, action, response.text, depth - 1)


@pytest.mark.parametrize("role", [StaffRole.ADMIN, StaffRole.RECEPTION, StaffRole.CLINICIAN])
def test_every_form_with_a_choice_list_sent_as_drawn_finds_its_choices_in_the_list(
    app, session, hospital, role
):
    user = session.scalars(select(StaffUser).where(StaffUser.role == role).order_by(StaffUser.id)).first()
    client = factories.browser(app)
    factories.sign_in(client, user, password="demo-password")
    start = "/admin/" if role is StaffRole.ADMIN else "/schedule/"
    sent, complaints = {"get": 0, "post": 0}, []

    for path, page in list(staff_pages(client, start)):
        for where, form, response in list(sent_as_drawn(client, path, page)):
            sent[form.method] += 1
            if response.status_code >= 500 or NOT_IN_LIST.search(response.text):
                complaints.append((where, form.method, form.action, response.status_code))

    assert sent["get"] + sent["post"] >= 3, f"too few forms with a choice list to say anything: {sent}"
    assert complaints == []
