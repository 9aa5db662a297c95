"""The privacy notice patients read at /privacy gives what GDPR Art. 13 asks of it: who the controller is and
how to reach them and their data protection officer (settings an IT admin sets, with plain words when they
are unset), why the data is used and on what legal basis, who receives it (the video service, the mail
service), how long each kind of data is kept (the retention settings in force, not numbers of its own), and
the patient's rights, a complaint to a supervisory authority among them."""

import html
import re

import pytest

from . import factories

RETENTION = {
    "RETENTION_PATIENT_DAYS": 731,
    "RETENTION_REASON_DAYS": 366,
    "RETENTION_WALK_IN_DAYS": 31,
    "RETENTION_WAITLIST_DAYS": 32,
    "RETENTION_OUTBOX_DAYS": 91,
}


def notice(app) -> str:
    page = factories.browser(app).get("/privacy")
    assert page.status_code == 200
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


def test_the_notice_names_the_controller_and_the_data_protection_officer_as_the_admin_set_them(app):
    app.config.update(
        PRIVACY_CONTROLLER_NAME="St Example Hospitals NHS Trust",
        PRIVACY_CONTROLLER_CONTACT="1 Hospital Road, Exampleton EX1 1AA, privacy@example.org",
        PRIVACY_DPO_CONTACT="Data Protection Officer, dpo@example.org, 020 7946 0000",
    )

    text = notice(app)

    assert "St Example Hospitals NHS Trust is the controller" in text
    assert "1 Hospital Road, Exampleton EX1 1AA, privacy@example.org" in text
    assert "Data Protection Officer, dpo@example.org, 020 7946 0000" in text


def test_unset_contacts_read_as_plain_words_naming_the_hospital(app):
    app.config.update(PRIVACY_CONTROLLER_NAME="", PRIVACY_CONTROLLER_CONTACT="", PRIVACY_DPO_CONTACT="")

    text = notice(app)

    assert f"{app.config['HOSPITAL_NAME']} is the controller" in text
    assert "data protection officer" in text.lower()
    assert "None" not in text and " , " not in text


def test_each_kind_of_data_is_kept_as_long_as_the_retention_settings_say(app):
    app.config.update(RETENTION)

    text = notice(app)

    for name, days in RETENTION.items():
        assert f"{days} days" in text, name


PROVIDERS = [("jitsi", "Jitsi"), ("zoom", "Zoom"), ("teams", "Microsoft Teams")]


@pytest.mark.parametrize("provider,named", PROVIDERS)
def test_the_recipients_name_the_video_service_in_use_and_the_mail_service(app, provider, named):
    app.config["MEETING_PROVIDER"] = provider

    text = notice(app)

    assert named in text and "e-mail service" in text


def test_the_purposes_legal_basis_and_every_right_are_given(app):
    text = notice(app).lower()

    assert "legal basis" in text and "article 6" in text and "article 9" in text
    for right in ("access", "rectification", "erasure", "restriction", "object", "supervisory authority"):
        assert right in text, right
