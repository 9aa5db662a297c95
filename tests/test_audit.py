"""The audit trail: every booking change is recorded, and tampering is detectable.

The chain is an HMAC under CLINIC_AUDIT_KEY and its head is anchored in a signed file outside the
database, so `flask clinic audit verify` catches an edited, deleted, truncated or rehashed chain.
"""

import hashlib
import json
import logging
import multiprocessing
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import JSON, column, delete, func, insert, select, table, update
from sqlalchemy.orm import Session

from clinic import audit
from clinic.audit import SYSTEM, Actor, Anchor, Break
from clinic.extensions import db
from clinic.models import AuditEvent
from clinic.models.base import UTCDateTime
from clinic.models.transactions import write_transaction
from clinic.scheduling.lifecycle import cancel, reschedule

from . import factories
from .conftest import build_app

MONDAY_10 = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def verify_cli(runner):
    return runner.invoke(args=["clinic", "audit", "verify"])


def record_events(session, now, count: int) -> list[AuditEvent]:
    for i in range(count):
        audit.record(session, SYSTEM, "test.event", entity_type="test", entity_id=i, now=now)
    session.commit()
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def anchor_path(session):
    return audit.settings_for(session).anchor_path


def rehash(session, key: bytes | None) -> None:
    """Recompute every hash and link as someone with database access would: with `key`, or unkeyed."""
    prev = audit.GENESIS
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        event.prev_hash = prev
        event.hash_version = audit.KEYED if key else audit.UNKEYED
        event.hash = audit.event_hash(event, key or b"")
        prev = event.hash
    session.commit()


def test_booking_cancelling_and_rescheduling_leave_a_verified_trail(session, now):
    svc = factories.service(session)
    doc = factories.clinician(session, [svc])
    session.commit()
    consultation = factories.booking(session, svc, MONDAY_10, now=now, reason="Chest pain").consultation
    reschedule(
        session, consultation.id, MONDAY_10.replace(hour=11), now=now, actor=Actor("patient", "10.0.0.9")
    )
    cancel(session, consultation.id, now=now, actor=Actor("patient"), reason="Feeling better")

    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == [
        "consultation.booked",
        "consultation.rescheduled",
        "consultation.cancelled",
    ]
    assert {e.entity_id for e in events} == {str(consultation.id)}
    assert events[1].remote_addr == "10.0.0.9"
    assert events[1].details["clinician_id"] == doc.id
    assert audit.verify(session) == audit.Verified(
        3, events[-1].id, audit.read_anchor(anchor_path(session)), events[-1].occurred_at
    )
    for event in events:  # identifiers only, no personal or clinical values
        text = repr(event.details)
        assert "Chest pain" not in text and "Feeling better" not in text and "Patient" not in text


def test_a_clean_chain_verifies_and_its_anchor_names_the_head(runner, session, now):
    events = record_events(session, now, 3)

    result = verify_cli(runner)

    assert result.exit_code == 0, result.output
    last = f"{events[-1].id} ({events[-1].occurred_at:%Y-%m-%d %H:%M:%S} UTC)"  # as the audit page says too
    assert (
        f"Audit chain intact: 3 events up to event {last}, anchored at event {events[-1].id}."
        in result.output
    )
    anchor = json.loads(anchor_path(session).read_text())
    assert (anchor["count"], anchor["event_id"], anchor["hash"]) == (3, events[-1].id, events[-1].hash)


def test_an_empty_chain_verifies_without_an_anchor(runner):
    result = verify_cli(runner)

    assert result.exit_code == 0, result.output
    assert "0 events" in result.output


def test_an_edited_event_breaks_the_chain_at_that_row(runner, session, now):
    second = record_events(session, now, 3)[1]
    session.execute(update(AuditEvent).where(AuditEvent.id == second.id).values(actor="staff:99"))
    session.commit()

    result = verify_cli(runner)

    assert result.exit_code == 1
    assert f"event {second.id}: its hash does not match its contents" in result.output


def test_an_event_whose_hash_was_overwritten_with_any_text_is_reported(runner, session, now):
    second = record_events(session, now, 3)[1]
    session.execute(update(AuditEvent).where(AuditEvent.id == second.id).values(hash="é" * 64))
    session.commit()

    result = verify_cli(runner)

    assert result.exit_code == 1  # not a crash: verify said which event
    assert f"event {second.id}: its hash does not match its contents" in result.output


def test_a_deleted_event_breaks_the_chain_after_it(runner, session, now):
    _, second, third = record_events(session, now, 3)
    session.execute(delete(AuditEvent).where(AuditEvent.id == second.id))
    session.commit()

    result = verify_cli(runner)

    assert result.exit_code == 1
    assert f"event {third.id}: it is number 3 in the chain where 2 comes next" in result.output


def test_events_cut_off_the_end_are_missed_against_the_anchor(runner, session, now):
    events = record_events(session, now, 4)
    session.execute(delete(AuditEvent).where(AuditEvent.id > events[1].id))
    session.commit()

    result = verify_cli(runner)

    assert result.exit_code == 1
    assert f"the chain ends after 2 events (last id {events[1].id})" in result.output
    assert f"records 4 up to event {events[-1].id}: events were removed from the end" in result.output


@pytest.mark.parametrize("key", [b"a key that is not the audit key", None], ids=["wrong key", "unkeyed"])
def test_a_chain_rehashed_without_the_key_is_caught(runner, session, now, key):
    first = record_events(session, now, 3)[0]
    session.execute(update(AuditEvent).where(AuditEvent.id == first.id).values(actor="staff:99"))
    session.commit()
    rehash(session, key)

    result = verify_cli(runner)

    assert result.exit_code == 1
    if key:  # every HMAC is wrong from the first event on
        assert f"event {first.id}: its hash does not match its contents" in result.output
    else:  # a consistent unkeyed chain: only the signed anchor knows its head
        assert "the anchor records event" in result.output


@pytest.mark.parametrize(
    "change",
    [{"count": 2}, {"signature": "é" * 64}, {"signature": 12345}],
    ids=["count", "signature-text", "signature-number"],
)
def test_a_tampered_anchor_is_refused(runner, session, now, change):
    record_events(session, now, 3)
    path = anchor_path(session)
    anchor = json.loads(path.read_text())
    path.write_text(json.dumps(anchor | change))

    result = verify_cli(runner)

    assert result.exit_code == 1
    assert "is not signed with the audit key" in result.output


def test_a_missing_anchor_is_a_break_once_there_are_events(runner, session, now):
    record_events(session, now, 1)
    anchor_path(session).unlink()

    result = verify_cli(runner)

    assert result.exit_code == 1
    assert "no anchor at" in result.output


def test_the_anchor_moves_only_when_the_transaction_commits(session, now):
    record_events(session, now, 1)
    before = anchor_path(session).read_text()

    audit.record(session, SYSTEM, "test.event", entity_type="test", entity_id=9, now=now)
    session.rollback()

    assert anchor_path(session).read_text() == before
    assert isinstance(audit.verify(session), audit.Verified)


def test_an_older_anchor_never_replaces_a_newer_one(session, now):
    record_events(session, now, 2)
    path = anchor_path(session)
    newest = audit.read_anchor(path)

    audit.write_anchor(path, replace(newest, count=1))

    assert audit.read_anchor(path) == newest


def test_each_checkpoint_is_appended_to_the_anchor_file_not_written_anew(session, now):
    record_events(session, now, 1)
    path = anchor_path(session)
    inode = path.stat().st_ino

    record_events(session, now, 1)

    assert path.stat().st_ino == inode
    assert [json.loads(line)["count"] for line in path.read_text().splitlines() if line] == [1, 2]
    assert audit.read_anchor(path).count == 2


def test_a_checkpoint_cut_short_by_a_crash_is_skipped(session, now):
    record_events(session, now, 2)
    path = anchor_path(session)
    whole = path.read_bytes()
    with path.open("ab") as file:
        file.write(whole[: len(whole) // 4])  # the start of a line, as a crash mid-append leaves it

    assert audit.read_anchor(path).count == 2
    head = record_events(session, now, 1)[-1]  # the next checkpoint, appended after the cut line
    assert audit.read_anchor(path).count == 3
    assert audit.verify(session) == audit.Verified(3, head.id, audit.read_anchor(path), head.occurred_at)
    session.execute(delete(AuditEvent).where(AuditEvent.id == head.id))
    session.commit()
    assert "events were removed from the end" in str(audit.verify(session))


def test_the_anchor_file_is_cut_back_to_its_newest_checkpoint_once_it_outgrows_its_limit(
    session, now, monkeypatch
):
    monkeypatch.setattr("clinic.audit.anchor._COMPACT_AT", 1_000)
    path = anchor_path(session)
    signed = [Anchor(count, count, "a" * 64).signed(b"k") for count in range(1, 41)]

    for anchor in signed:
        audit.write_anchor(path, anchor)

    assert path.stat().st_size <= 1_000
    assert audit.read_anchor(path) == signed[-1]


def test_no_checkpoint_is_lost_while_other_processes_cut_the_file_back(tmp_path, monkeypatch):
    monkeypatch.setattr("clinic.audit.anchor._COMPACT_AT", 400)  # two lines: nearly every append cuts back
    path, writers, each = tmp_path / "anchor", 4, 150
    fork = multiprocessing.get_context("fork")
    behind = fork.Value("i", 0)
    processes = [
        fork.Process(target=_write_and_read_back, args=(path, first, writers, each, behind))
        for first in range(1, writers + 1)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)

    assert [process.exitcode for process in processes] == [0] * writers
    assert behind.value == 0  # reads that found the file behind a checkpoint already written
    assert audit.read_anchor(path).count == writers * each


def _write_and_read_back(path, first: int, step: int, each: int, behind) -> None:
    for count in range(first, step * each + 1, step):
        audit.write_anchor(path, Anchor(count, count, "a" * 64, "s"))
        if audit.read_anchor(path).count < count:
            with behind.get_lock():
                behind.value += 1


def test_unkeyed_events_from_before_the_key_still_verify_and_seal_under_the_first_keyed_one(session, now):
    legacy = record_events(session, now, 2)
    rehash(session, None)  # as migration 0009 leaves events made by the unkeyed chain
    keyed = audit.record(session, SYSTEM, "test.event", entity_type="test", entity_id=3, now=now)
    session.commit()

    assert audit.verify(session) == audit.Verified(
        3, keyed.id, audit.read_anchor(anchor_path(session)), keyed.occurred_at
    )
    session.execute(update(AuditEvent).where(AuditEvent.id == legacy[0].id).values(actor="staff:99"))
    session.commit()
    assert audit.verify(session) == Break(
        legacy[0].id, "its hash does not match its contents (edited, or rehashed without the key)"
    )


def test_an_unkeyed_event_after_keyed_ones_is_a_break(session, now):
    first, second = record_events(session, now, 2)
    forged = replace_hash(session, second, version=audit.UNKEYED)

    assert audit.verify(session) == Break(
        forged, f"it is unkeyed although keyed hashing began at event {first.id}"
    )


def replace_hash(session, event: AuditEvent, version: int) -> int:
    event.hash_version = version
    event.hash = audit.event_hash(event, b"")
    session.commit()
    return event.id


def test_concurrent_appends_still_form_one_chain(app, session, now):
    writers, each = 6, 10
    barrier = threading.Barrier(writers)

    def append(n: int) -> None:
        with app.app_context(), Session(db.engine) as own:
            barrier.wait()
            for i in range(each):
                with write_transaction(own):
                    audit.record(
                        own, SYSTEM, "test.event", entity_type="test", entity_id=n * 100 + i, now=now
                    )

    threads = [threading.Thread(target=append, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    session.rollback()
    result = audit.verify(session)
    assert isinstance(result, audit.Verified), str(result)
    assert result.count == session.scalar(select(func.count(AuditEvent.id))) == writers * each
    assert result.anchor.count == writers * each


def test_the_anchor_is_signed_with_the_audit_key_and_logged(session, now, caplog):
    caplog.set_level("INFO", logger="clinic.audit")
    head = record_events(session, now, 1)[0]

    anchor = audit.read_anchor(anchor_path(session))

    assert anchor == Anchor(1, head.id, head.hash).signed(audit.settings_for(session).key)
    assert f'"event_id": {head.id}' in caplog.text


def unkeyed_hash(prev_hash: str, occurred_at: datetime, actor: str, entity_id: str) -> str:
    """The hash as the chain made it before migration 0009: SHA-256, no key."""
    body = [prev_hash, occurred_at.isoformat(), actor, "test.event", "test", entity_id, None, {}]
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_events_made_before_the_key_verify_after_the_upgrade_and_chain_on(app, session, now):
    downgrade(revision="0008")
    old_rows = table(
        "audit_event",
        *(column(name) for name in ("actor", "action", "entity_type", "entity_id", "prev_hash", "hash")),
        column("details", JSON),
        column("occurred_at", UTCDateTime),
    )
    prev = audit.GENESIS
    with db.engine.begin() as conn:
        for n in range(3):
            occurred_at = now + timedelta(minutes=n)
            digest = unkeyed_hash(prev, occurred_at, "system", str(n))
            conn.execute(
                insert(old_rows).values(
                    actor="system",
                    action="test.event",
                    entity_type="test",
                    entity_id=str(n),
                    details={},
                    prev_hash=prev,
                    hash=digest,
                    occurred_at=occurred_at,
                )
            )
            prev = digest
    upgrade()

    keyed = audit.record(session, SYSTEM, "test.event", entity_type="test", entity_id=3, now=now)
    session.commit()

    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.seq, e.hash_version) for e in events] == [(1, 0), (2, 0), (3, 0), (4, audit.KEY_ID_SIGNED)]
    assert keyed.prev_hash == prev
    assert audit.verify(session) == audit.Verified(
        4, keyed.id, audit.read_anchor(anchor_path(session)), keyed.occurred_at
    )


def test_an_anchor_that_cannot_be_written_is_logged_and_the_change_still_stands(
    tmp_path, database_url, caplog
):
    app = build_app(
        database_url, str(tmp_path / "instance"), AUDIT_ANCHOR_PATH=str(tmp_path / "gone" / "anchor")
    )
    with app.app_context():
        event = audit.record(
            db.session, SYSTEM, "test.event", entity_type="test", entity_id=1, now=datetime.now(UTC)
        )
        db.session.commit()

        assert db.session.get(AuditEvent, event.id) is not None
        assert "audit anchor not written" in caplog.text
        assert audit.verify(db.session) == Break(
            None, f"no anchor at {tmp_path / 'gone' / 'anchor'}: the chain's end cannot be checked"
        )
        db.session.remove()
        db.engine.dispose()


OLD_KEY = "the-audit-key-in-use-before-the-rotation"
NEW_KEY = "the-audit-key-that-replaced-the-test-one"


def restart_with(app, key: str, fallbacks: list[str], lost: tuple[str, ...] = ()) -> audit.AuditSettings:
    """The audit settings a restart with this CLINIC_AUDIT_KEY, these fallbacks and these key ids declared
    lost gives the app."""
    config = {**app.config, "AUDIT_KEY": key, "AUDIT_KEY_FALLBACKS": fallbacks, "AUDIT_LOST_KEY_IDS": lost}
    settings = audit.AuditSettings.from_config(config, app.instance_path)
    audit.configure(db.engine, settings)
    return settings


@pytest.fixture
def keyed(app):
    """The app with CLINIC_AUDIT_KEY=OLD_KEY, no fallbacks."""
    return restart_with(app, OLD_KEY, [])


def test_the_first_event_under_a_new_key_follows_a_handover_signed_by_it_over_the_old_head(
    app, keyed, session, now
):
    old = record_events(session, now, 2)
    rotated = restart_with(app, NEW_KEY, [OLD_KEY])
    assert isinstance(audit.verify(session), audit.Verified)  # the anchor is still the old key's

    record_events(session, now, 2)

    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    handover = events[2]
    old_id = audit.key_id(OLD_KEY.encode())
    assert [e.key_id for e in events] == [old_id, old_id, rotated.key_id, rotated.key_id, rotated.key_id]
    assert (handover.action, handover.details, handover.prev_hash) == (
        "audit.key_rotated",
        {"from": old_id, "first_event": old[0].id, "last_event": old[-1].id},
        old[-1].hash,
    )
    assert handover.hash == audit.event_hash(handover, NEW_KEY.encode())
    assert audit.read_anchor(anchor_path(session)).is_signed_with(NEW_KEY.encode())
    assert audit.verify(session) == audit.Verified(
        5, events[-1].id, audit.read_anchor(anchor_path(session)), events[-1].occurred_at
    )
    restart_with(app, NEW_KEY, [])  # the old key dropped: its events can no longer be checked
    assert audit.verify(session) == Break(
        old[0].id,
        f"it is signed by key id {old_id}, which is not configured "
        "(add that key to CLINIC_AUDIT_KEY_FALLBACKS)",
    )


def test_an_event_signed_by_a_key_no_longer_configured_is_named_and_verify_fails(
    app, keyed, runner, session, now
):
    first = record_events(session, now, 1)[0]
    restart_with(app, NEW_KEY, [OLD_KEY])
    record_events(session, now, 1)
    restart_with(app, NEW_KEY, [])

    result = verify_cli(runner)

    assert result.exit_code == 1
    assert (
        f"event {first.id}: it is signed by key id {audit.key_id(OLD_KEY.encode())}, which is not configured"
        in (result.output)
    )


def test_key_ids_name_keys_without_revealing_them():
    ids = {audit.key_id(key.encode()) for key in (OLD_KEY, NEW_KEY)}

    assert len(ids) == 2 and all(len(i) == 16 for i in ids)
    assert not any(key_id in OLD_KEY + NEW_KEY for key_id in ids)


def tamper_delete_handover(session, events):
    session.execute(delete(AuditEvent).where(AuditEvent.action == "audit.key_rotated"))


def tamper_edit_old(session, events):
    session.execute(update(AuditEvent).where(AuditEvent.id == events[0].id).values(actor="staff:99"))


def tamper_claim_the_new_key(session, events):
    """An old event relabelled as signed by the new key: its HMAC under that key is wrong."""
    session.execute(
        update(AuditEvent).where(AuditEvent.id == events[0].id).values(key_id=audit.key_id(NEW_KEY.encode()))
    )


def tamper_truncate(session, events):
    session.execute(delete(AuditEvent).where(AuditEvent.id > events[1].id))


def tamper_rehash_without_keys(session, events):
    rehash(session, b"a guessed key")


@pytest.mark.parametrize(
    ("tamper", "found"),
    [
        (tamper_delete_handover, "it is number 4 in the chain where 3 comes next"),
        (tamper_edit_old, "its hash does not match its contents"),
        (tamper_claim_the_new_key, "its hash does not match its contents"),
        (tamper_truncate, "events were removed from the end"),
        (tamper_rehash_without_keys, "its hash does not match its contents"),
    ],
    ids=["delete handover", "edit old event", "relabel key id", "truncate", "rehash"],
)
def test_tampering_across_a_key_rotation_is_caught(app, keyed, runner, session, now, tamper, found):
    events = record_events(session, now, 2)
    restart_with(app, NEW_KEY, [OLD_KEY])
    events += record_events(session, now, 2)[2:]
    tamper(session, events)
    session.commit()

    result = verify_cli(runner)

    assert result.exit_code == 1
    assert found in result.output


def test_keyed_events_from_before_key_ids_verify_under_the_key_or_a_fallback(app, keyed, session, now):
    events = record_events(session, now, 2)
    session.execute(update(AuditEvent).values(key_id=None))  # as migration 0012 leaves them, hashed
    session.commit()  # as they were then: without a key id
    rehash(session, OLD_KEY.encode())
    restart_with(app, NEW_KEY, [OLD_KEY])

    added = audit.record(session, SYSTEM, "test.event", entity_type="test", entity_id=3, now=now)
    session.commit()

    assert added.seq == 3 and added.prev_hash == events[-1].hash  # no handover: their key is not known
    assert isinstance(audit.verify(session), audit.Verified)
    restart_with(app, NEW_KEY, [])
    assert audit.verify(session) == Break(
        events[0].id, "its hash does not match its contents (edited, or rehashed without the key)"
    )


def test_outside_production_the_audit_keys_follow_the_secret_key_and_its_fallbacks(app):
    before = audit.AuditSettings.from_config({**app.config, "AUDIT_KEY": None}, app.instance_path)
    rotated = audit.AuditSettings.from_config(
        {
            **app.config,
            "AUDIT_KEY": None,
            "SECRET_KEY": "new",
            "SECRET_KEY_FALLBACKS": [app.config["SECRET_KEY"]],
        },
        app.instance_path,
    )

    assert rotated.key != before.key and rotated.fallbacks == (before.key,)


def test_a_new_key_without_the_old_one_among_the_fallbacks_chains_nothing_on(app, keyed, session, now):
    """A rotation that forgot the old key (or mistyped it) must not hand the chain over to the new key:
    what it signed before could never be verified again, and everything chained on after it with it."""
    events = record_events(session, now, 2)
    restart_with(app, NEW_KEY, [])
    old_id = audit.key_id(OLD_KEY.encode())

    with pytest.raises(audit.UnconfiguredHeadKey) as refused:
        audit.record(session, SYSTEM, "test.event", entity_type="test", entity_id=3, now=now)
    session.rollback()

    assert str(refused.value) == (
        f"the audit chain's latest event ({events[-1].id}) is signed by key id {old_id}, which is not "
        "configured: add that key (the former CLINIC_AUDIT_KEY) to CLINIC_AUDIT_KEY_FALLBACKS, or no "
        "event chained on after it can be verified; if that key is truly lost, declare it so with "
        f"CLINIC_AUDIT_LOST_KEY_IDS={old_id} (the events it signed stay unverifiable)"
    )
    assert OLD_KEY not in str(refused.value) and NEW_KEY not in str(refused.value)
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == 2
    restart_with(app, NEW_KEY, [OLD_KEY])  # the old key put back as a fallback: the handover goes ahead
    record_events(session, now, 1)
    assert [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))][2:] == [
        "audit.key_rotated",
        "test.event",
    ]
    assert isinstance(audit.verify(session), audit.Verified)


def test_a_key_declared_lost_is_handed_over_by_an_event_that_says_so_and_verify_names_the_break(
    app, keyed, runner, session, now
):
    """The former key truly lost: the chain goes on, after an event recording the break, and verify says
    which events cannot be verified and since which the chain is verified again, exiting 3."""
    old = record_events(session, now, 2)
    old_id = audit.key_id(OLD_KEY.encode())
    new = restart_with(app, NEW_KEY, [], lost=(old_id,))
    declared = audit.LostKeyEvents(old_id, old[0].id, old[-1].id, None)
    assert audit.verify(session) == audit.Verified(2, old[-1].id, None, old[-1].occurred_at, (declared,))

    record_events(session, now, 1)

    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    handover = events[2]
    assert [e.action for e in events] == ["test.event", "test.event", audit.KEY_DECLARED_LOST, "test.event"]
    assert (handover.entity_id, handover.details, handover.prev_hash, handover.key_id) == (
        old_id,
        {"lost": old_id, "first_event": old[0].id, "last_event": old[-1].id, "to": new.key_id},
        old[-1].hash,
        new.key_id,
    )
    assert handover.hash == audit.event_hash(handover, NEW_KEY.encode())
    result = verify_cli(runner)
    assert result.exit_code == 3, result.output
    assert f"Audit chain intact with a declared break: 4 events up to event {events[-1].id}" in result.output
    assert (
        f"Events {old[0].id} to {old[-1].id}, signed by key id {old_id} (declared lost), cannot be verified; "
        f"the chain is verified again from event {handover.id} (audit.key_declared_lost) on"
    ) in result.output
    assert OLD_KEY not in result.output and NEW_KEY not in result.output
    restart_with(app, NEW_KEY, [])  # the declaration withdrawn: a key not configured, as before
    assert verify_cli(runner).exit_code == 1


def test_outside_production_a_secret_key_replaced_without_its_fallback_hands_the_chain_over_as_lost(
    app, session, now, caplog
):
    """With no CLINIC_AUDIT_KEY the chain's key is derived from the secret key: a development secret key
    replaced with no fallback leaves no key to put back, so refusing every audited change (every page that
    records a read) would only break the app. The break is recorded, and warned of, as a lost key's."""
    derived = {**app.config, "AUDIT_KEY": None, "AUDIT_KEY_FALLBACKS": [], "AUDIT_LOST_KEY_IDS": ()}
    before = audit.AuditSettings.from_config(derived, app.instance_path)
    audit.configure(db.engine, before)
    old = record_events(session, now, 1)
    after = audit.AuditSettings.from_config({**derived, "SECRET_KEY": "replaced"}, app.instance_path)
    audit.configure(db.engine, after)

    with caplog.at_level(logging.WARNING, logger="clinic.audit"):
        events = record_events(session, now, 1)

    assert [e.action for e in events] == ["test.event", audit.KEY_DECLARED_LOST, "test.event"]
    assert events[1].details["lost"] == before.key_id and events[1].prev_hash == old[-1].hash
    assert f"audit key id {before.key_id} declared lost" in caplog.text


THIRD_KEY = "the-audit-key-that-replaced-the-lost-one"


def tamper_edit_before_the_break(session, events):
    session.execute(update(AuditEvent).where(AuditEvent.id == events[0].id).values(actor="staff:99"))


def tamper_relabel_an_old_event(session, events):
    """An event signed by a key still configured, relabelled as the lost key's, hiding its edit."""
    lost_id = audit.key_id(NEW_KEY.encode())
    session.execute(
        update(AuditEvent).where(AuditEvent.id == events[0].id).values(actor="staff:99", key_id=lost_id)
    )


def tamper_stretch_the_lost_events_back(session, events):
    lost_id = audit.key_id(NEW_KEY.encode())
    session.execute(
        update(AuditEvent).where(AuditEvent.id == events[1].id).values(actor="staff:99", key_id=lost_id)
    )


@pytest.mark.parametrize(
    ("tamper", "at", "found"),
    [
        (tamper_edit_before_the_break, 0, "its hash does not match its contents"),
        (
            tamper_relabel_an_old_event,
            0,
            "is not the audit.key_declared_lost or audit.key_rotated naming them",
        ),
        (
            tamper_stretch_the_lost_events_back,
            1,
            "do not begin where key ids begin nor at an audit.key_rotated",
        ),
    ],
    ids=["edit", "relabel", "stretch"],
)
def test_tampering_before_a_declared_break_is_broken_not_declared(
    app, keyed, runner, session, now, tamper, at, found
):
    events = record_events(session, now, 2)  # under OLD_KEY, kept as a fallback throughout
    restart_with(app, NEW_KEY, [OLD_KEY])
    record_events(session, now, 1)  # audit.key_rotated, then an event, under NEW_KEY: lost below
    restart_with(app, THIRD_KEY, [OLD_KEY], lost=(audit.key_id(NEW_KEY.encode()),))
    record_events(session, now, 1)
    assert verify_cli(runner).exit_code == 3
    tamper(session, events)
    session.commit()

    result = verify_cli(runner)

    assert result.exit_code == 1, result.output
    assert f"BROKEN at event {events[at].id}" in result.output and found in result.output
