"""Verify never passes a tampered chain: any single field of any event changed, the key id it claims
included, is caught, across a key rotation (around a key declared lost: test_audit_lost_keys).

Properties over every event and every column (Hypothesis), each change made in a savepoint that is
rolled back, so one chain serves every example."""

import string
from datetime import timedelta
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from clinic import audit
from clinic.audit import Break
from clinic.models import AuditEvent

from .test_audit import NEW_KEY, OLD_KEY, THIRD_KEY, record_events, rehash, restart_with

# Every column verify reads (the id names the row: the chain's order is its seq, checked).
CHANGEABLE = tuple(name for name in audit.FIELDS if name != "id")
CONTENT = ("occurred_at", "actor", "action", "entity_type", "entity_id", "remote_addr", "details")
TEXT = st.text(alphabet=string.ascii_letters + string.digits + ".:é ", max_size=12)
HEX64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
KEY_IDS = [audit.key_id(key.encode()) for key in (OLD_KEY, NEW_KEY, THIRD_KEY)] + ["0123456789abcdef"]
EXAMPLES = settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])


def other_value(name: str, row: AuditEvent, taken: dict[str, set]) -> st.SearchStrategy:
    """Any value of column `name` but `row`'s (and, for a unique column, any other row's)."""
    original = getattr(row, name)
    strategies = {
        "seq": st.integers(-3, 10**6),
        "occurred_at": st.integers(1, 10**7).map(lambda s: original + timedelta(seconds=s)),
        "remote_addr": st.none() | TEXT,
        "details": st.dictionaries(TEXT, st.integers() | TEXT, max_size=3),
        "prev_hash": HEX64 | st.just(audit.GENESIS),
        "hash_version": st.integers(0, 9),
        "key_id": st.none() | st.sampled_from(KEY_IDS),
        "hash": HEX64,
    }
    values = strategies.get(name, TEXT)
    return values.filter(lambda value: value != original and value not in taken.get(name, ()))


def tampered(session, data, events: list[AuditEvent], fields=CHANGEABLE) -> tuple[AuditEvent, str]:
    """One field of one of `events` changed in the database (in the caller's savepoint)."""
    row = data.draw(st.sampled_from(events), label="event")
    name = data.draw(st.sampled_from(fields), label="field")
    # The unique columns' values of every row in the table, not only of `events`: a value some other row
    # holds is refused by the database before verify could see it.
    everyone = session.execute(select(AuditEvent.seq, AuditEvent.hash)).all()
    taken = {"seq": {seq for seq, _ in everyone}, "hash": {hash_ for _, hash_ in everyone}}
    value = data.draw(other_value(name, row, taken), label="value")
    session.execute(update(AuditEvent).where(AuditEvent.id == row.id).values({name: value}))
    return row, name


def all_events(session) -> list[AuditEvent]:
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    session.expunge_all()  # as written: the changes below go to the database, not to these
    return list(events)


@pytest.fixture
def rotated_chain(app, session, now) -> list[AuditEvent]:
    """Events under OLD_KEY, the handover to NEW_KEY, events under it; OLD_KEY kept as a fallback."""
    restart_with(app, OLD_KEY, [])
    record_events(session, now, 2)
    restart_with(app, NEW_KEY, [OLD_KEY])
    audit.record(
        session, audit.SYSTEM, "test.event", entity_type="test", entity_id=9, now=now, details={"n": 1}
    )
    session.commit()
    record_events(session, now, 1)
    assert isinstance(audit.verify(session), audit.Verified)
    return all_events(session)


@given(data=st.data())
@EXAMPLES
def test_any_single_field_changed_in_any_event_is_caught(session, rotated_chain, data):
    with session.begin_nested() as savepoint:
        row, name = tampered(session, data, rotated_chain)

        result = audit.verify(session)

        savepoint.rollback()
    assert isinstance(result, Break), f"{name} of event {row.id} changed, and verify passed: {result}"


def test_an_event_whose_key_id_is_blanked_is_caught(session, rotated_chain):
    """A key id cleared, as before key ids (migration 0012), would have let any configured key vouch for the
    event: the key id is signed with it."""
    third = rotated_chain[3]
    session.execute(update(AuditEvent).where(AuditEvent.id == third.id).values(key_id=None))
    session.commit()

    assert audit.verify(session) == Break(
        third.id, "its hash does not match its contents (edited, or rehashed without the key)"
    )


def test_new_events_sign_their_key_id_and_events_signed_before_still_verify(app, session, now):
    restart_with(app, OLD_KEY, [])
    older = record_events(session, now, 2)
    rehash(session, OLD_KEY.encode())  # as they were written before the key id was signed

    newer = record_events(session, now, 1)[-1]

    assert newer.hash_version == audit.KEY_ID_SIGNED and newer.prev_hash == older[-1].hash
    relabelled = SimpleNamespace(**{name: getattr(newer, name) for name in CHANGEABLE})
    relabelled.key_id = "0123456789abcdef"
    assert audit.event_hash(relabelled, OLD_KEY.encode()) != newer.hash
    assert isinstance(audit.verify(session), audit.Verified)


def test_an_event_hashed_the_older_way_after_one_that_signs_its_key_id_is_a_break(app, session, now):
    """A chain is never downgraded: not even with the key can one take a key id out of what is signed."""
    restart_with(app, OLD_KEY, [])
    first, second = record_events(session, now, 2)
    second.hash_version = audit.KEYED
    second.hash = audit.event_hash(second, OLD_KEY.encode())
    session.commit()

    assert audit.verify(session) == Break(
        second.id, f"it is hashed the older way (version 1) although version 2 began at event {first.id}"
    )
