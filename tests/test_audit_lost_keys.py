"""A key declared lost wherever its events sit in the chain: verify names the events it cannot check, exits
3, and verifies everything else; the bounds of those events are checked, so no verified event is hidden
among them."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from clinic import audit
from clinic.audit import Break, LostKeyEvents
from clinic.extensions import db
from clinic.models import AuditEvent

from .test_audit import NEW_KEY, OLD_KEY, THIRD_KEY, record_events, restart_with, verify_cli
from .test_audit_tampering import CHANGEABLE, CONTENT, EXAMPLES, all_events, tampered

OLD_ID, NEW_ID = audit.key_id(OLD_KEY.encode()), audit.key_id(NEW_KEY.encode())


@pytest.fixture
def chain_with_a_lost_key_in_the_middle(app, session, now) -> tuple[list[AuditEvent], list[AuditEvent]]:
    """OLD_KEY's events, NEW_KEY's, THIRD_KEY's, each key handed over properly; then NEW_KEY lost. Returns
    every event, and NEW_KEY's (its handover in, its events)."""
    restart_with(app, OLD_KEY, [])
    record_events(session, now, 2)
    restart_with(app, NEW_KEY, [OLD_KEY])
    record_events(session, now, 2)
    restart_with(app, THIRD_KEY, [NEW_KEY, OLD_KEY])
    record_events(session, now, 2)
    restart_with(app, THIRD_KEY, [OLD_KEY], lost=(audit.key_id(NEW_KEY.encode()),))
    events = all_events(session)
    lost = [event for event in events if event.key_id == audit.key_id(NEW_KEY.encode())]
    return events, lost


@given(data=st.data())
@EXAMPLES
def test_around_a_key_declared_lost_any_change_but_to_what_the_lost_key_signed_is_caught(
    session, chain_with_a_lost_key_in_the_middle, data
):
    """What the lost key signed cannot be checked, but its events' place, link and key id can, and every
    other event is verified as ever."""
    events, lost = chain_with_a_lost_key_in_the_middle
    verified = [event for event in events if event not in lost]
    with session.begin_nested() as savepoint:
        if data.draw(st.booleans(), label="a verified event"):
            row, name = tampered(session, data, verified)
        else:
            row, name = tampered(session, data, lost, tuple(n for n in CHANGEABLE if n not in CONTENT))

        result = audit.verify(session)

        savepoint.rollback()
    assert isinstance(result, Break), f"{name} of event {row.id} changed, and verify passed: {result}"


def test_a_key_rotated_away_then_lost_is_declared_and_verify_names_its_events(app, session, now):
    restart_with(app, OLD_KEY, [])
    old = record_events(session, now, 2)
    restart_with(app, NEW_KEY, [OLD_KEY])
    events = record_events(session, now, 2)
    handover = events[2]
    restart_with(app, NEW_KEY, [], lost=(OLD_ID,))  # the fallback lost later

    result = verify_cli(app.test_cli_runner())

    assert result.exit_code == 3, result.output
    assert (
        f"Events {old[0].id} to {old[-1].id}, signed by key id {OLD_ID} (declared lost), cannot be verified; "
        f"the chain is verified again from event {handover.id} (audit.key_rotated) on"
    ) in result.output
    assert audit.verify(session).lost == (
        LostKeyEvents(OLD_ID, old[0].id, old[-1].id, handover.id, audit.KEY_ROTATED),
    )


def test_a_key_lost_between_two_others_leaves_only_its_events_unverified(
    app, session, chain_with_a_lost_key_in_the_middle
):
    events, lost = chain_with_a_lost_key_in_the_middle
    after = events[events.index(lost[-1]) + 1]

    result = verify_cli(app.test_cli_runner())

    assert result.exit_code == 3, result.output
    assert f"Audit chain intact with a declared break: {len(events)} events" in result.output
    assert audit.verify(session).lost == (
        LostKeyEvents(NEW_ID, lost[0].id, lost[-1].id, after.id, audit.KEY_ROTATED),
    )
    assert (after.action, after.details) == (
        audit.KEY_ROTATED,
        {"from": NEW_ID, "first_event": lost[0].id, "last_event": lost[-1].id},
    )


def test_a_key_lost_in_the_middle_is_not_warned_of_as_unknown_at_start(
    app, session, chain_with_a_lost_key_in_the_middle
):
    settings = audit.settings_for(session)
    with db.engine.connect() as connection:
        assert audit.lost_key_warnings(connection, settings) == []
        mistyped = restart_with(app, THIRD_KEY, [OLD_KEY], lost=("0123456789abcdef",))
        assert (
            "names key id 0123456789abcdef, which signed" in audit.lost_key_warnings(connection, mistyped)[0]
        )


def test_an_event_pulled_into_a_lost_keys_events_as_a_false_handover_is_a_break(
    session, chain_with_a_lost_key_in_the_middle
):
    """The last event OLD_KEY signed, edited into a handover to the lost key: the verified handover after the
    lost key's events names where they began."""
    events, lost = chain_with_a_lost_key_in_the_middle
    pulled = events[events.index(lost[0]) - 1]
    session.execute(
        update(AuditEvent)
        .where(AuditEvent.id == pulled.id)
        .values(
            key_id=NEW_ID,
            action=audit.KEY_ROTATED,
            entity_type="audit_key",
            entity_id=NEW_ID,
            details=lost[0].details,
        )
    )
    session.commit()

    result = audit.verify(session)

    assert isinstance(result, Break) and result.event_id == pulled.id, result
