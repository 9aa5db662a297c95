"""A key declared lost wherever its events sit in the chain, and a development key lost with its secret key:
verify names the events it cannot check, exits 3, and verifies everything else; the bounds of those events
are checked, so no verified event is hidden among them."""

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

from clinic import audit
from clinic.audit import Break, LostKeyEvents
from clinic.extensions import db
from clinic.models import AuditEvent

from .test_audit import NEW_KEY, OLD_KEY, THIRD_KEY, anchor_path, record_events, restart_with, verify_cli
from .test_audit_tampering import CHANGEABLE, CONTENT, EXAMPLES, all_events, tampered

OLD_ID, NEW_ID = audit.key_id(OLD_KEY.encode()), audit.key_id(NEW_KEY.encode())
UNKNOWN = "0123456789abcdef"  # a key id no key here has


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


def test_two_keys_lost_one_after_the_other_are_both_named_and_the_chain_is_verified_after_them(
    app, session, chain_with_a_lost_key_in_the_middle
):
    events, lost = chain_with_a_lost_key_in_the_middle
    restart_with(app, THIRD_KEY, [], lost=(OLD_ID, NEW_ID))
    after = events[events.index(lost[-1]) + 1]

    result = audit.verify(session)

    assert result.lost == (
        LostKeyEvents(OLD_ID, events[0].id, lost[0].id - 1, after.id, audit.KEY_ROTATED),
        LostKeyEvents(NEW_ID, lost[0].id, lost[-1].id, after.id, audit.KEY_ROTATED),
    )


def test_a_lost_keys_events_before_handovers_named_them_are_declared_by_the_handovers_alone(
    app, session, chain_with_a_lost_key_in_the_middle
):
    """A chain written before its key ids were signed: its audit.key_rotated events name the key only."""
    events, lost = chain_with_a_lost_key_in_the_middle
    keys = {audit.key_id(key.encode()): key.encode() for key in (OLD_KEY, NEW_KEY, THIRD_KEY)}
    prev = audit.GENESIS
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        if event.action == audit.KEY_ROTATED:
            event.details = {"from": event.details["from"]}
        event.hash_version, event.prev_hash = audit.KEYED, prev
        event.hash = prev = audit.event_hash(event, keys[event.key_id])
    session.commit()
    anchor_path(session).unlink()  # and anchored anew at the head as rehashed
    audit.write_anchor(
        anchor_path(session), audit.Anchor(len(events), event.id, prev).signed(keys[event.key_id])
    )
    after = events[events.index(lost[-1]) + 1]

    result = audit.verify(session)

    assert result.lost == (LostKeyEvents(NEW_ID, lost[0].id, lost[-1].id, after.id, audit.KEY_ROTATED),)


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


def forge_handover(session, event: AuditEvent, to: str, details: dict) -> None:
    """`event` rewritten as the handover to the key `to`, as someone with database access could."""
    rewritten = {"action": audit.KEY_ROTATED, "entity_type": "audit_key", "entity_id": to, "details": details}
    session.execute(update(AuditEvent).where(AuditEvent.id == event.id).values(key_id=to, **rewritten))
    session.commit()


def test_an_event_pulled_into_a_lost_keys_events_as_a_false_handover_is_a_break(
    session, chain_with_a_lost_key_in_the_middle
):
    """The last event OLD_KEY signed, edited into a handover to the lost key: the verified handover after the
    lost key's events names where they began."""
    events, lost = chain_with_a_lost_key_in_the_middle
    pulled = events[events.index(lost[0]) - 1]
    forge_handover(session, pulled, to=NEW_ID, details=lost[0].details)

    result = audit.verify(session)

    assert isinstance(result, Break) and result.event_id == pulled.id, result


def derived_settings(app, secret_key: str) -> audit.AuditSettings:
    """The audit settings of a development app with no CLINIC_AUDIT_KEY and this secret key."""
    config = {**app.config, "AUDIT_KEY": None, "AUDIT_KEY_FALLBACKS": [], "AUDIT_LOST_KEY_IDS": ()}
    settings = audit.AuditSettings.from_config({**config, "SECRET_KEY": secret_key}, app.instance_path)
    audit.configure(db.engine, settings)
    return settings


def test_in_development_a_replaced_secret_key_reads_as_a_declared_break_of_the_development_key(
    app, session, now, caplog
):
    before = derived_settings(app, "the development secret key")
    old = record_events(session, now, 2)
    derived_settings(app, "a new development secret key")

    waiting = verify_cli(app.test_cli_runner())  # before anything is chained on under the new key
    with caplog.at_level(logging.WARNING, logger="clinic.audit"):
        events = record_events(session, now, 1)
    handed_over = verify_cli(app.test_cli_runner())

    development = (
        f"signed by key id {before.key_id} (the development audit key, derived from a former SECRET_KEY)"
    )
    assert waiting.exit_code == 3, waiting.output
    assert f"Events {old[0].id} to {old[-1].id}, {development}, cannot be verified" in waiting.output
    assert handed_over.exit_code == 3, handed_over.output
    assert f"Events {old[0].id} to {old[-1].id}, {development}, cannot be verified; " in handed_over.output
    assert f"verified again from event {events[2].id} (audit.key_declared_lost) on" in handed_over.output


def test_in_development_an_event_relabelled_with_an_unknown_key_is_still_a_break(app, session, now):
    derived_settings(app, "the development secret key")
    _, second, _ = record_events(session, now, 3)
    session.execute(
        update(AuditEvent).where(AuditEvent.id == second.id).values(key_id=UNKNOWN, actor="staff:9")
    )
    session.commit()

    result = audit.verify(session)

    assert isinstance(result, Break) and result.event_id == second.id, result


def test_the_anchored_event_rewritten_as_a_handover_to_an_unknown_key_is_a_break(app, session, now):
    """An anchor signed by a configured key names an event that key signed: the chain's last event cannot be
    rewritten as the handover to a lost key (in development, any unknown one) to hide what it said."""
    signed_by = derived_settings(app, "the development secret key").key_id
    *_, last = record_events(session, now, 3)
    forge_handover(session, last, to=UNKNOWN, details={"from": signed_by, "first_event": 1, "last_event": 2})

    result = audit.verify(session)

    assert result == Break(
        last.id, f"the anchor, signed by a configured key, records it, but it claims key id {UNKNOWN}"
    )
