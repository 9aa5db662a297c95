# ruff: noqa: F811 - the fixtures imported below are the tests' parameters
"""No staff page names a patient in its <title>: a title shows in the tab, in the browser's history and on a
shared or screen-shared display, where a name is seen by whoever passes. Pages about one consultation title
themselves by what they are, its reference and its time; the name stays in the page's body.

Crawled over a demo day as each demo clinician and reception see it: the schedule's pages, each
consultation's page, its notes (one with a signed version, for the printable page), its letter, the move
page and the question before marking a no-show."""

import html
import re
from collections import deque
from datetime import timedelta

import pytest
from sqlalchemy import select

from clinic.models import Consultation, Patient, Service, StaffRole, StaffUser, utcnow
from clinic.notes.content import SoapNote

from . import factories
from .notes_support import form
from .test_forms_as_drawn import hospital  # noqa: F401 (a fixture: the demo hospital, 40 bookings)

MOST_PAGES = 60  # each user's
CONSULTATIONS_EACH = 4
PAGE = "/schedule/consultations"
LEFT_OUT = re.compile(r"logout|sign-out|\.csv|#")
CONSULTATION = re.compile(r"^/schedule/consultations/(\d+)$")


def title(page: str) -> str:
    found = re.search(r"<title>(.*?)</title>", page, re.DOTALL)
    return html.unescape(found.group(1)) if found else ""


def staff_pages(client, start: list[str]):
    """Each staff page reachable by links from `start` (breadth first), and for each consultation met, the
    question before marking it a no-show (or the refusal to ask it yet): (path, answer)."""
    seen, queue = set(start), deque(start)
    while queue and len(seen) < MOST_PAGES:
        path = queue.popleft()
        response = client.get(path)
        yield path, response
        if CONSULTATION.match(path):
            yield f"{path}/status no-show", client.post(f"{path}/status", data={"status": "noshow"})
        for link in re.findall(r'href="(/schedule[^"?]*)', response.text):
            if link not in seen and not LEFT_OUT.search(link):
                seen.add(link)
                queue.append(link)


def theirs(session, user: StaffUser) -> list[int]:
    """The first few consultations of `user` (a clinician) or of their department (reception)."""
    query = select(Consultation.id).join(Consultation.service)
    if user.clinician_id is not None:
        query = query.where(Consultation.clinician_id == user.clinician_id)
    else:
        query = query.where(Service.department_id == user.department_id)
    return list(session.scalars(query.order_by(Consultation.starts_at).limit(CONSULTATIONS_EACH)))


def started(session, consultation_id: int) -> None:
    """The consultation moved to have begun 20 minutes ago: its clinician may ask to mark it a no-show."""
    session.rollback()  # a read the test began would block the write (SQLite snapshot)
    consultation = session.get(Consultation, consultation_id)
    length = consultation.ends_at - consultation.starts_at
    consultation.starts_at = utcnow() - timedelta(minutes=20)
    consultation.ends_at = consultation.starts_at + length
    session.commit()


@pytest.mark.parametrize("role", [StaffRole.CLINICIAN, StaffRole.RECEPTION])
def test_no_staff_page_names_a_patient_in_its_title(app, session, hospital, role):
    names = set(session.scalars(select(Patient.name)))
    users = list(session.scalars(select(StaffUser).where(StaffUser.role == role).order_by(StaffUser.id)))
    titles: dict[str, str] = {}

    for user in users:
        consultations = theirs(session, user)
        if not consultations:  # 40 random bookings miss a clinician on some dates: no patient to name
            continue
        client = factories.browser(app)
        factories.sign_in(client, user, password="demo-password")
        if role is StaffRole.CLINICIAN:  # a signed note, for its printable page; a no-show to ask about
            signed = client.post(f"{PAGE}/{consultations[0]}/notes/sign", data=form(SoapNote(plan="Review")))
            assert signed.status_code == 303
            started(session, consultations[-1])
        start = ["/schedule/", "/schedule/week"] + [f"{PAGE}/{number}" for number in consultations]
        for path, response in staff_pages(client, start):
            if "text/html" in response.content_type:
                titles[path] = title(response.text)

    kinds = {re.sub(r"\d+", "<id>", path) for path in titles}
    assert {f"{PAGE}/<id>", f"{PAGE}/<id>/move"} <= kinds
    if role is StaffRole.CLINICIAN:
        assert any(text.startswith("Mark") or "no-show" in text for text in titles.values())
        assert {f"{PAGE}/<id>/notes", f"{PAGE}/<id>/notes/<id>/print"} <= kinds
    named = {path: text for path, text in titles.items() if any(name in text for name in names)}
    assert named == {}
