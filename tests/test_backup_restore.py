"""A backup restored as docs/operations.md says (pg_dump --format=custom, pg_restore --no-owner into a new
database, the anchor copied before the dump put where the service writes its own): the audit chain
verifies, a signed note opens with the same keys, and the restored database takes new bookings and
audit events. Against the anchor of after the dump it rightly shows as cut off.

The real PostgreSQL tools on the real server; the commands are the guide's, less its `clinic` role."""

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from sqlalchemy import make_url

from clinic import audit
from clinic.extensions import db
from clinic.links import manage_url
from clinic.models import Service

from . import factories
from .conftest import PG_URL, build_app, libpq_url, postgres_only
from .notes_support import NOTE, booked, sign
from .test_audit import verify_cli
from .test_manage_link import follow

pytestmark = [
    postgres_only,
    pytest.mark.skipif(not shutil.which("pg_restore"), reason="needs PostgreSQL's client tools"),
]


@contextmanager
def restored(dump: Path) -> Iterator[str]:
    """The URL of a new database that `dump` is restored into, for the block."""
    url = make_url(PG_URL)
    name = f"{url.database}_restored"
    with psycopg.connect(libpq_url(PG_URL), autocommit=True) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.execute(f'CREATE DATABASE "{name}"')
        restored_url = url.set(database=name).render_as_string(hide_password=False)
        try:
            _run("pg_restore", "--no-owner", f"--dbname={libpq_url(restored_url)}", str(dump))
            yield restored_url
        finally:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(*command: str) -> None:
    finished = subprocess.run(command, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr


@contextmanager
def _app_on(url: str, instance: Path, anchor: Path) -> Iterator[Flask]:
    """An app on `url` whose instance folder holds `anchor` as its own, in its context for the block."""
    instance.mkdir()
    shutil.copy(anchor, instance / "audit-anchor.json")
    app = build_app(url, str(instance))
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


def test_a_restored_dump_verifies_opens_its_notes_and_takes_new_bookings(app, session, now, tmp_path):
    case = booked(app, session, now)
    sign(session, case, NOTE, now=now)
    session.commit()
    anchor = audit.settings_for(session).anchor_path
    shutil.copy(anchor, tmp_path / "anchor-before-the-dump.json")  # as the guide says: just before
    dump = tmp_path / "clinic.dump"
    _run("pg_dump", "--format=custom", f"--file={dump}", libpq_url(PG_URL))
    # Read now: the test's session, used inside another app's context, would read from that app's database.
    consultation, email = case.consultation, case.clinician.email
    consultation_id, service_id, start = consultation.id, consultation.service_id, consultation.starts_at
    lost = factories.booking(session, consultation.service, start + timedelta(hours=1), now=now)  # after
    lost_id = lost.consultation.id
    lost_link = manage_url("http://localhost", lost.consultation.reference, lost.manage_token)

    with restored(dump) as url:
        # One app at a time: the audit settings of a database are the last app's made on it.
        with _app_on(url, tmp_path / "today", anchor) as today:
            cut_off = verify_cli(today.test_cli_runner())
        with _app_on(url, tmp_path / "restored", tmp_path / "anchor-before-the-dump.json") as restored_app:
            verified = verify_cli(restored_app.test_cli_runner())
            browser = factories.browser(restored_app)
            signed_in = browser.post("/login", data={"email": email, "password": factories.STAFF_PASSWORD})
            notes = browser.get(f"/schedule/consultations/{consultation_id}/notes")
            service = db.session.get(Service, service_id)
            again = factories.booking(db.session, service, start + timedelta(hours=2), now=now).consultation
            new_id, new_patient = again.id, again.patient.name
            lost_opens = follow(factories.browser(restored_app), lost_link)
            after = verify_cli(restored_app.test_cli_runner())

    assert verified.exit_code == 0 and "Audit chain intact" in verified.output, verified.output
    assert cut_off.exit_code != 0 and "events were removed from the end" in cut_off.output, cut_off.output
    assert signed_in.status_code == 303
    assert notes.status_code == 200 and NOTE.assessment in notes.get_data(as_text=True)
    # The new booking takes the lost one's id (the sequence is as dumped); the lost one's mailed link,
    # made of its own random reference and seed, opens nothing, not the new booking.
    assert new_id == lost_id
    assert lost_opens.status_code == 404 and new_patient not in lost_opens.get_data(as_text=True)
    assert after.exit_code == 0, after.output
