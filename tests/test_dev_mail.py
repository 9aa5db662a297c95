"""/dev/mail: the development page listing the mails the file backend wrote."""

import re
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from clinic import create_app
from clinic.jobs.worker import Worker
from clinic.notify.mail import FileBackend, mail_folder

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


def written(app, count: int, to=lambda n: f"patient{n}@example.org") -> None:
    """`count` mails through the file backend, oldest first, subject "Mail <n>"."""
    backend = FileBackend(mail_folder(app.instance_path))
    for n in range(count):
        message = EmailMessage()
        message["To"], message["Subject"] = to(n), f"Mail {n:03}"
        message["Message-ID"] = f"<mail-{n}@example.org>"
        message.set_content("Hello")
        backend.send(message)


def subjects(page) -> list[str]:
    return re.findall(r">(Mail \d{3})</a>", page.get_data(as_text=True))


def test_the_mail_page_pages_through_every_mail_newest_first_and_says_how_many(app, client):
    written(app, 205)

    first = client.get("/dev/mail")
    older = client.get("/dev/mail", query_string={"page": 5})

    html = first.get_data(as_text=True)
    assert subjects(first) == [f"Mail {n:03}" for n in range(204, 154, -1)]
    assert "205 mails" in html and "1 to 50" in html
    assert 'href="/dev/mail?page=2"' in html and "Newer mails" not in html
    assert subjects(older) == ["Mail 004", "Mail 003", "Mail 002", "Mail 001", "Mail 000"]
    assert 'href="/dev/mail?page=4"' in older.get_data(as_text=True)
    assert "Older mails" not in older.get_data(as_text=True)


def test_the_mail_page_filters_by_recipient_address_with_a_plain_form(app, client):
    written(app, 120, to=lambda n: "grace@example.net" if n % 2 else f"Patient {n} <p{n}@example.org>")

    found = client.get("/dev/mail", query_string={"to": "GRACE@example"})
    second = client.get("/dev/mail", query_string={"to": "grace@example", "page": 2})
    none = client.get("/dev/mail", query_string={"to": "nobody@example.com"})

    html = found.get_data(as_text=True)
    assert '<form method="get"' in html and 'name="to" value="GRACE@example"' in html
    assert "60 mails to addresses containing “GRACE@example”" in html
    assert subjects(found) == [f"Mail {n:03}" for n in range(119, 19, -2)]
    assert 'href="/dev/mail?to=GRACE@example&amp;page=2"' in html
    assert subjects(second) == [f"Mail {n:03}" for n in range(19, 0, -2)]
    assert "No mail to addresses containing “nobody@example.com”" in none.get_data(as_text=True)


@pytest.mark.parametrize("page", ["0", "-3", "x", "99999999999999999999"])
def test_a_page_out_of_range_shows_the_nearest_one(app, client, page):
    written(app, 3)

    response = client.get("/dev/mail", query_string={"page": page})

    assert response.status_code == 200 and len(subjects(response)) == 3
