"""A consultation's History on the staff page: every change in words, with who made it; reads left out."""

import ast
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

import clinic
from clinic.models import utcnow
from clinic.models.scheduling import CANCEL_REASON_FIELD, REASON_FIELD
from clinic.scheduling.events import HISTORY_LABELS, NOT_CHANGES
from clinic.scheduling.timezones import zone

from . import factories
from .test_schedule import login, text

LONDON = zone("Europe/London")
# How an event kind is written where it is recorded: consultation.booked, companion.added, ...
_KIND = re.compile(r"(consultation|companion)\.[a-z_]+")


@pytest.fixture
def client(app):
    return factories.browser(app)


@pytest.fixture
def clinic_day(session):
    cardiology = factories.department(session, name="Cardiology")
    heart = factories.service(session, cardiology, name="Follow-up call")
    every_day = {"weekdays": range(7), "hours": [(time(0), time(23, 30))]}
    okafor = factories.clinician(session, [heart], display_name="Dr Amara Okafor", **every_day)
    session.commit()
    return {"cardiology": cardiology, "heart": heart, "okafor": okafor}


def kinds_recorded_against_a_consultation() -> set[str]:
    """Every audit kind the code can record against a consultation, read from its source: the kinds named
    in words (record_event is given them directly or from a table such as lifecycle's steps), and the
    actions of audit.record calls whose entity is a consultation, written out or as a module's constant."""
    trees = [
        ast.parse(path.read_text(encoding="utf-8")) for path in Path(clinic.__file__).parent.rglob("*.py")
    ]
    constants = {
        target.id: statement.value.value
        for tree in trees
        for statement in tree.body
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant)
        for target in statement.targets
        if isinstance(target, ast.Name)
    }
    found = set()
    for node in (node for tree in trees for node in ast.walk(tree)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _KIND.fullmatch(node.value):
            found.add(node.value)
        if isinstance(node, ast.Call) and _entity(node) == "consultation" and len(node.args) > 2:
            action = node.args[2]
            found.add(
                action.value
                if isinstance(action, ast.Constant)
                else constants.get(getattr(action, "id", None))
            )
    # Columns named in foreign keys, and the fields a sealed reason is bound to, are not kinds.
    return found - {"consultation.id", "companion.id", REASON_FIELD, CANCEL_REASON_FIELD, None}


def _entity(call: ast.Call) -> object:
    entity = next((kw.value for kw in call.keywords if kw.arg == "entity_type"), None)
    return entity.value if isinstance(entity, ast.Constant) else None


def test_every_kind_of_event_recorded_against_a_consultation_is_named_in_words_or_left_out_as_a_read():
    kinds = kinds_recorded_against_a_consultation()

    assert {"consultation.booked", "companion.added", "note.read"} <= kinds  # the scan finds them
    unnamed = {kind for kind in kinds if kind not in HISTORY_LABELS and kind not in NOT_CHANGES}
    assert unnamed == set()
    assert all("." not in label and "_" not in label for label in HISTORY_LABELS.values())


def test_inviting_an_interpreter_and_reading_the_notes_read_in_words_in_the_history(
    client, session, clinic_day
):
    day = utcnow().astimezone(LONDON).date() + timedelta(days=1)
    start = datetime(day.year, day.month, day.day, 9, tzinfo=LONDON).astimezone(UTC)
    booked = factories.booking(session, clinic_day["heart"], start, now=utcnow())
    base = f"/schedule/consultations/{booked.consultation.id}"
    login(session, client, clinician_id=clinic_day["okafor"].id, display_name="Dr Amara Okafor")

    client.post(
        f"{base}/companion", data={"name": "Ana Silva", "email": "ana@example.net", "role": "interpreter"}
    )
    client.post(f"{base}/companion/remove")
    assert client.get(f"{base}/notes").status_code == 200
    page = text(client.get(base))

    history = page.partition('<ol class="history">')[2].partition("</ol>")[0]
    assert "invitation to join sent by Dr Amara Okafor" in history
    assert "invitation to join taken back by Dr Amara Okafor" in history
    assert not _KIND.search(history) and "note.read" not in history and "_" not in history
