"""Note text at rest: encrypted under keys kept outside the database, which production requires,
which start-up checks, and which can be rotated without losing a note."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import select, text

from clinic import create_app
from clinic.audit import SYSTEM
from clinic.extensions import db
from clinic.models import AuditEvent, ConsultationNote
from clinic.notes.drafts import ExpectedDraft
from clinic.notes.encryption import UnreadableNote
from clinic.notes.rotation import rotate_note_keys
from clinic.notes.settings import notes_settings
from config import InvalidSettings

from .conftest import build_app, listening, on_postgres, postgres_only, production_config
from .notes_support import NOTE, booked, save, sign

MARKER = "Zebra-crossing-7731 wheeze"


def test_the_raw_database_holds_no_note_text(app, session, now):
    case = booked(app, session, now)
    signed = sign(session, case, replace(NOTE, assessment=MARKER), now=now)
    save(session, booked(app, session, now, start=case.consultation.starts_at.replace(day=4)), NOTE, now=now)
    session.commit()
    token = session.get(ConsultationNote, signed.note_id).encrypted_content

    stored = _raw_postgres(session) if on_postgres() else _raw_sqlite_file(session)

    assert token.encode() in stored  # we are reading where the notes live
    for secret in (MARKER, *NOTE.as_dict().values()):
        assert secret.encode() not in stored


def _raw_sqlite_file(session) -> bytes:
    """The database file's bytes after moving everything from the write-ahead log into it."""
    session.commit()
    raw = db.engine.raw_connection()  # outside any transaction, as a checkpoint must be
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    path = Path(db.engine.url.database)
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _raw_postgres(session) -> bytes:
    """Every note row and audit row exactly as PostgreSQL stores the text, as bytes."""
    rows = session.scalars(
        text(
            "SELECT convert_to(n::text, 'UTF8') FROM consultation_note n "
            "UNION ALL SELECT convert_to(a::text, 'UTF8') FROM audit_event a"
        )
    )
    return b"\n".join(rows)


def test_production_refuses_to_start_without_the_notes_key(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CLINIC_ENV", "production")
    monkeypatch.setenv("CLINIC_INSTANCE_PATH", str(tmp_path))

    with pytest.raises(RuntimeError, match="CLINIC_NOTES_KEY is not set"):
        create_app(production_config(database_url, NOTES_KEY=None))
    assert create_app(production_config(database_url, NOTES_KEY=Fernet.generate_key().decode()))


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"NOTES_KEY": "not-a-fernet-key"}, InvalidSettings, "CLINIC_NOTES_KEY must be Fernet keys"),
        ({"NOTES_KEY": f"{Fernet.generate_key().decode()}, nope"}, InvalidSettings, "CLINIC_NOTES_KEY must"),
        ({"NOTES_ROLES": "admin, reception"}, InvalidSettings, r"CLINIC_NOTES_ROLES .* \(never reception\)"),
        ({"NOTES_ROLES": "nurse"}, InvalidSettings, "CLINIC_NOTES_ROLES .* not 'nurse'"),
    ],
)
def test_bad_notes_settings_stop_the_start_and_name_the_setting(
    database_url, tmp_path, settings, error, message
):
    with pytest.raises(error, match=message):
        build_app(database_url, str(tmp_path), **settings)


def test_without_a_key_development_derives_one_from_the_secret_key(database_url, tmp_path):
    first = notes_settings(build_app(database_url, str(tmp_path), SECRET_KEY="one"))
    again = notes_settings(build_app(database_url, str(tmp_path), SECRET_KEY="one"))
    other = notes_settings(build_app(database_url, str(tmp_path), SECRET_KEY="two"))
    token = first.cipher.seal(NOTE, consultation_id=1, version=1)

    assert again.cipher.open(token, consultation_id=1, version=1) == NOTE
    with pytest.raises(UnreadableNote):
        other.cipher.open(token, consultation_id=1, version=1)


def test_rotation_moves_every_note_to_the_new_key_so_the_old_one_can_go(database_url, tmp_path, now):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with app_with_key(database_url, tmp_path, old) as (app, session):
        case = booked(app, session, now)
        sign(session, case, NOTE, now=now)
        save(
            session,
            booked(app, session, now, start=case.consultation.starts_at.replace(day=4)),
            NOTE,
            now=now,
        )
        before = stored_notes(session)

    with app_with_key(database_url, tmp_path, f"{new},{old}") as (app, session):
        result = app.test_cli_runner().invoke(args=["clinic", "notes", "rotate"])
    with app_with_key(database_url, tmp_path, new) as (app, session):
        after = stored_notes(session)
        texts = [notes_settings(app).cipher.read(note) for note in session.scalars(select(ConsultationNote))]
        (rotated,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "note.keys_rotated"))
    with app_with_key(database_url, tmp_path, old) as (app, session):
        too_late = app.test_cli_runner().invoke(args=["clinic", "notes", "rotate"])

    assert result.exit_code == 0 and "2 note versions re-encrypted" in result.output
    assert texts == [NOTE, NOTE] and rotated.details == {"count": 2, "unreadable_ids": []}
    assert [_but_token(row) for row in after] == [_but_token(row) for row in before]  # signed row unchanged
    assert all(a["encrypted_content"] != b["encrypted_content"] for a, b in zip(after, before, strict=True))
    assert too_late.exit_code == 3 and "0 note versions re-encrypted" in too_late.output
    assert "Left as it was: no CLINIC_NOTES_KEY opens version 1 of consultation" in too_late.output


@contextmanager
def app_with_key(database_url: str, tmp_path: Path, key: str) -> Iterator[tuple[Flask, Any]]:
    """An app whose CLINIC_NOTES_KEY is `key`, in an app context of its own."""
    app = build_app(database_url, str(tmp_path), NOTES_KEY=key)
    with app.app_context():
        yield app, db.session
        db.session.remove()
        db.engine.dispose()


def stored_notes(session) -> list[dict[str, Any]]:
    """Every note row's columns as stored."""
    session.commit()
    table = ConsultationNote.__table__
    return [dict(row._mapping) for row in session.execute(select(table).order_by(table.c.id))]


def _but_token(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name != "encrypted_content"}


@postgres_only
def test_a_draft_saved_while_rotation_reads_its_batch_keeps_the_new_text(app, session, now):
    # On PostgreSQL a rotation batch read its rows unlocked and wrote them back re-encrypted: a save
    # committed between the two was overwritten with the older text (SQLite's write lock serialises them).
    case = booked(app, session, now)
    draft = save(session, case, NOTE, now=now)
    session.commit()
    newer = replace(NOTE, plan=MARKER)
    saver = threading.Thread(target=_save_in_own_context, args=(app, case, newer, draft, now))

    def save_meanwhile(_connection, _cursor, statement: str, *_rest) -> None:
        if "FROM consultation_note" in statement and not saver.is_alive() and saver.ident is None:
            saver.start()
            saver.join(timeout=3)  # blocked by the batch's lock once it takes one: it saves after

    with listening(db.engine, "after_cursor_execute", save_meanwhile):
        rotate_note_keys(session, case.settings.cipher, now=now, actor=SYSTEM)
    saver.join(timeout=10)

    session.expire_all()
    stored = session.get(ConsultationNote, draft.note_id)
    assert stored.revision == 2  # the save went through
    assert case.settings.cipher.read(stored) == newer


def _save_in_own_context(app: Flask, case, note, draft, now) -> None:
    with app.app_context():
        try:
            save(db.session, case, note, now=now, expected=ExpectedDraft(draft.note_id, 1))
        finally:
            db.session.remove()
