"""The privacy notice patients read at /privacy gives what GDPR Art. 13 asks of it: who the controller is and
how to reach them and their data protection officer (settings an IT admin sets, with plain words when they
are unset), why the data is used and on what legal basis, who receives it (the video service, the mail
service), how long each kind of data is kept (the retention settings in force, not numbers of its own), and
the patient's rights, a complaint to a supervisory authority among them."""

import html
import re

import pytest

from clinic.models import OutboxKind, WaitlistStatus

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


# What the notice says of each mail a patient, or someone on a waitlist, may be sent, by its outbox kind.
PATIENT_MAILS = {
    OutboxKind.CONFIRMATION: "the confirmation",
    OutboxKind.REMINDER: "reminders",
    OutboxKind.LINK: "your booking's link again when you ask for it",
    OutboxKind.UPDATE: "if your consultation is moved",
    OutboxKind.CANCELLATION: "or cancelled",
    OutboxKind.NEW_ROOM: "or its video link changes",
    OutboxKind.WAITLIST_JOINED_MAIL: "that you are on it",
    OutboxKind.WAITLIST_OFFER_MAIL: "to offer you times that become free",
    OutboxKind.WAITLIST_GONE_MAIL: "when a time offered has gone",
    OutboxKind.WAITLIST_EXPIRED_MAIL: "when your place ends, because its days have passed",
    OutboxKind.WAITLIST_CLOSED_MAIL: "or because what you wait for is no longer offered",
}
# The outbox's other work: the video service's calls, planning, and staff's own mails.
NOT_TO_PATIENTS = {
    OutboxKind.MEETING_CREATE,
    OutboxKind.MEETING_UPDATE,
    OutboxKind.MEETING_CANCEL,
    OutboxKind.HANDED_OVER,
    OutboxKind.PLAN_REMINDERS,
    OutboxKind.WAITLIST_OFFERS,
}


def test_every_mail_a_patient_may_be_sent_is_among_the_purposes(app):
    """The waitlist's mails, its closing mail (2051872) among them, were not: a new kind of mail must be
    described here, and in the notice."""
    assert set(PATIENT_MAILS) | NOT_TO_PATIENTS == set(OutboxKind)

    text = notice(app)

    for kind, said in PATIENT_MAILS.items():
        assert said in text, kind


def test_every_way_a_waitlist_place_ends_is_in_how_long_it_is_kept(app):
    """A place closed because what it waited for is no longer offered (2051872) ends, and is deleted, as the
    others do; the notice listed booked, left or expired."""
    ended = [status.value for status in WaitlistStatus if status is not WaitlistStatus.WAITING]

    kept = re.search(r"A place on a waitlist is deleted \d+ days after it ended \(([^)]*)\)", notice(app))

    assert kept is not None
    for status in ended:
        assert status in kept.group(1), status


def test_the_notice_says_it_is_agreed_to_on_the_waitlist_and_in_a_walk_in_queue_too(app):
    """Each records the version agreed to (WaitlistEntry and WalkInEntry.consent_notice_version)."""
    text = notice(app)

    assert "join a waitlist" in text
    assert (
        f"Version {app.config['PRIVACY_NOTICE_VERSION']}. When you book, join a waitlist or join a walk-in "
        "queue, we record that you agreed to this version." in text
    )
