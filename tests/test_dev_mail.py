"""/dev/mail: the development page listing the mails the file backend wrote."""

from datetime import UTC, datetime

import pytest

from clinic import create_app
from clinic.jobs.worker import Worker
from clinic.notify.mail import mail_folder

from . import factories
from .conftest import build_app, production_config
from .fakes.outbox import open_clinic

TUESDAY_10 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def mailed(app, session, now):
    """A booking whose mails the worker wrote to files."""
    consultation = factories.booking(session, open_clinic(session), TUESDAY_10, now=now).consultation
    session.commit()
    Worker(app, clock=lambda: now).tick()
    return consultation


def test_the_mail_page_lists_each_mail_newest_first_with_its_invite_method(client, mailed):
    page = client.get("/dev/mail")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count("REQUEST") == 2
    assert mailed.patient.email in html and mailed.clinician.email in html


def test_a_mail_shows_its_text_and_invite_and_downloads_as_eml(client, mailed, app):
    name = next(mail_folder(app.instance_path).glob("*.eml")).name

    page = client.get(f"/dev/mail/{name}").get_data(as_text=True)
    assert "METHOD:REQUEST" in page and "BEGIN:VEVENT" in page
    raw = client.get(f"/dev/mail/{name}/raw")
    assert raw.mimetype == "message/rfc822"
    assert b"Message-ID:" in raw.data


@pytest.mark.parametrize(
    "name", ["../config.py", "..%2Fconfig.py", "nope.eml", "20260101T000000.000000Z-zzzzzzzz.eml"]
)
def test_names_outside_the_mail_folder_are_not_found(client, mailed, name):
    assert client.get(f"/dev/mail/{name}").status_code == 404
    assert client.get(f"/dev/mail/{name}/raw").status_code == 404


def test_the_page_exists_only_for_file_mail_outside_production(database_url, tmp_path, monkeypatch):
    smtp_app = build_app(database_url, str(tmp_path / "a"), MAIL_BACKEND="smtp")
    assert smtp_app.test_client().get("/dev/mail").status_code == 404

    monkeypatch.setenv("CLINIC_ENV", "production")
    monkeypatch.setenv("CLINIC_INSTANCE_PATH", str(tmp_path / "b"))

    with pytest.raises(RuntimeError, match="CLINIC_MAIL_BACKEND must be smtp"):
        create_app(production_config(database_url, MAIL_BACKEND="file"))
    assert create_app(production_config(database_url)).test_client().get("/dev/mail").status_code == 404
