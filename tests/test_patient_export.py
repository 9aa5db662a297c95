"""Subject access: one person's data (every booking with their address or phone number, the consent given,
the mails sent, signed notes, walk-in places and calls) as JSON, from the command line and the admin page,
each export audited by ids. An address or number several people booked with needs the asker's date of
birth, and one given under several names, with walk-in places, their name; notes' text and reasons for
visits go only to an exporter who may read the consultation's notes, each read audited as on the notes
page."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import json
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from clinic.audit import Actor
from clinic.models import AuditEvent, CompanionRole, ConsultationNote, NoteStatus, StaffRole, WaitlistOffer
from clinic.notes import init_app
from clinic.notes.drafts import ExpectedDraft, start_amendment
from clinic.notes.settings import notes_settings
from clinic.privacy.retention import RetentionPeriods, apply_retention
from clinic.privacy.subject_access import export_person
from clinic.privacy.subject_lookup import Asker, SharedContact
from clinic.scheduling.booking import Consent
from clinic.scheduling.events import NOTES_READ, record_read
from clinic.scheduling.lifecycle import cancel
from clinic.scheduling.offers import take_offer
from clinic.scheduling.patients import same_phone
from clinic.scheduling.waitlist import WaitlistRequest, join_waitlist
from clinic.staff.members import StaffMember
from clinic.walkin.queue import leave
from clinic.walkin.take import take_next

from . import factories
from .conftest import TEST_KEYS
from .factories import sign_in
from .fakes.outbox import open_clinic, outbox  # noqa: F401 (fixture)
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)
from .notes_support import NOTE, TUESDAY_10, Booked, requester, save, sign

BORN = date(1985, 12, 10)
ADDRESS = "ada.lovelace@example.org"
REASON = "Breathless on stairs"
CORRECTED = replace(NOTE, plan="Amoxicillin 500 mg three times a day for five days.")


@pytest.fixture
def person(app, session, now):
    """Ada's two bookings (her address typed in two cases), one with a signed note corrected by a signed
    amendment and a draft on the other; a stranger's booking to which Ada is invited as interpreter; and
    someone else's booking."""
    service = factories.service(session)
    doctor = factories.clinician(session, [service], display_name="Dr Rao")
    session.commit()

    def booking(start, email, **fields):
        patient = factories.patient_details(email=email, birth_date=BORN, name="Ada Lovelace")
        return factories.booking(session, service, start, now=now, patient=patient, **fields).consultation

    signed = booking(TUESDAY_10, "Ada.Lovelace@Example.org", reason=REASON)
    drafted = booking(TUESDAY_10 + timedelta(days=1), ADDRESS)
    companion = factories.companion_details(email=ADDRESS, name="Ada Lovelace")
    hosting = booking(TUESDAY_10 + timedelta(hours=1), "grace@example.org", companion=companion)
    other = booking(TUESDAY_10 + timedelta(hours=2), "someone@example.org")
    login = factories.staff(session, role=StaffRole.CLINICIAN, clinician_id=doctor.id, display_name="Dr Rao")
    settings = notes_settings(app)
    sign(session, Booked(signed, login, settings), NOTE, now=now)
    amendment = start_amendment(session, signed.id, requester=requester(login), settings=settings, now=now)
    corrected = ExpectedDraft(amendment.note_id, 1)
    sign(session, Booked(signed, login, settings), CORRECTED, now=now, expected=corrected)
    save(session, Booked(drafted, login, settings), NOTE, now=now)
    return {"signed": signed, "drafted": drafted, "hosting": hosting, "other": other}


@pytest.fixture
def family(session, now):
    """A parent and her child, born 1980 and 2015, each booked with the parent's address; the child's
    booking has the parent invited as carer."""
    service = factories.service(session)
    factories.clinician(session, [service])
    session.commit()
    parent = factories.patient_details(email=ADDRESS, birth_date=date(1980, 5, 1), name="Mary Parent")
    child = factories.patient_details(email=ADDRESS, birth_date=date(2015, 6, 1), name="Sam Child")
    carer = factories.companion_details(email=ADDRESS, name="Mary Parent", role=CompanionRole.CARER)
    return {
        "parent": factories.booking(
            session, service, TUESDAY_10, now=now, patient=parent, reason="Panic attacks"
        ).consultation,
        "child": factories.booking(
            session, service, TUESDAY_10 + timedelta(hours=1), now=now, patient=child, companion=carer
        ).consultation,
    }


def references(export: dict) -> set[str]:
    return {booking["reference"] for patient in export["patients"] for booking in patient["bookings"]}


def exported(app, session, now, **options) -> dict:
    """The export as the command line's operator gets it: every consultation's clinical content."""
    return export_person(
        session, Asker(email=ADDRESS.upper(), **options), notes=notes_settings(app), now=now, exporter=None
    )


def exports(session) -> list[AuditEvent]:
    session.rollback()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.exported")))


def note_reads(session) -> list[AuditEvent]:
    session.rollback()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == NOTES_READ)))


def test_the_export_gives_every_record_with_the_address_in_any_case_and_no_one_elses(
    app, session, now, person
):
    export = exported(app, session, now)

    assert references(export) == {person[name].reference for name in ("signed", "drafted")}
    assert [c["reference"] for c in export["companion_of"]] == [person["hosting"].reference]
    assert {patient["email"] for patient in export["patients"]} == {"Ada.Lovelace@Example.org", ADDRESS}
    assert "someone@example.org" not in json.dumps(export) and "grace@example.org" not in json.dumps(export)


def test_a_date_of_birth_narrows_the_export_to_the_records_with_it(app, session, now, person):
    export = exported(app, session, now, birth_date=BORN)
    elsewhere = exported(app, session, now, birth_date=date(1990, 1, 1))

    assert references(export) == {person["signed"].reference, person["drafted"].reference}
    assert references(elsewhere) == set()
    # Invitations to join someone's call carry no date of birth: narrowed by one, nobody can tell whose.
    assert export["companion_of"] == [] and elsewhere["companion_of"] == []


def test_an_address_several_people_booked_with_needs_a_date_of_birth_and_exports_nothing_without(
    app, session, now, family
):
    with pytest.raises(SharedContact):
        exported(app, session, now)

    assert exports(session) == []


def test_each_booking_carries_its_details_consent_mails_and_signed_notes_only(app, session, now, person):
    export = exported(app, session, now)

    bookings = {b["reference"]: b for p in export["patients"] for b in p["bookings"]}
    signed, drafted = bookings[person["signed"].reference], bookings[person["drafted"].reference]
    assert signed["clinician"] == "Dr Rao" and signed["status"] == "booked"
    assert signed["reason"] == REASON and signed["clinical_content"]["included"]
    assert signed["starts_at"] == TUESDAY_10.isoformat()
    assert [(note["version"], note["corrects_version"]) for note in signed["signed_notes"]] == [
        (1, None),
        (2, 1),
    ]
    assert [note["plan"] for note in signed["signed_notes"]] == [NOTE.plan, CORRECTED.plan]  # decrypted
    assert drafted["signed_notes"] == []  # a draft is not part of the record yet
    assert {mail["kind"] for mail in signed["mails"]} == {"mail.confirmation"}  # the patient's, not Dr Rao's
    assert set(signed["mails"][0]) == {"kind", "to", "due_at", "status", "done_at"}  # never the text
    assert set(signed["consent"]) == {"privacy_notice_version", "given_at", "method"}
    companion_mails = export["companion_of"][0]["mails"]
    assert [mail["kind"] for mail in companion_mails] == ["mail.confirmation"]


def test_each_mail_names_the_address_it_went_to_which_is_the_persons_own(app, session, now, person):
    """Sent to each booking's own record, to the address as they typed it there; as a companion, to the
    address they were invited by, never the patient's who invited them."""
    export = exported(app, session, now)

    sent_to = {
        booking["reference"]: {mail["to"] for mail in booking["mails"]}
        for patient in export["patients"]
        for booking in patient["bookings"]
    }
    assert sent_to == {
        person["signed"].reference: {"Ada.Lovelace@Example.org"},
        person["drafted"].reference: {ADDRESS},
    }
    assert [mail["to"] for mail in export["companion_of"][0]["mails"]] == [ADDRESS]


def test_the_export_is_audited_with_ids_and_never_the_address(app, session, now, person):
    export = exported(app, session, now)

    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.exported"))
    assert sorted(event.details["patient_ids"]) == sorted(p["id"] for p in export["patients"])
    assert "lovelace" not in json.dumps(event.details).lower() and "lovelace" not in event.entity_id


def test_an_address_nobody_booked_with_gives_an_empty_export_and_is_audited_too(app, session, now):
    nobody = Asker(email="nobody@example.org")
    export = export_person(session, nobody, notes=notes_settings(app), now=now, exporter=None)

    assert export["patients"] == [] and export["companion_of"] == []
    assert (
        session.scalar(select(AuditEvent.entity_id).where(AuditEvent.action == "patient.exported")) == "none"
    )


def test_the_command_prints_the_export_as_json(app, session, person):
    result = app.test_cli_runner().invoke(
        args=["clinic", "patient", "export", "--email", ADDRESS, "--birth-date", BORN.isoformat()]
    )

    assert result.exit_code == 0, result.output
    assert references(json.loads(result.stdout)) == {person["signed"].reference, person["drafted"].reference}


def test_the_command_refuses_a_malformed_date_of_birth(app):
    result = app.test_cli_runner().invoke(
        args=["clinic", "patient", "export", "--email", ADDRESS, "--birth-date", "10/12/1985"]
    )

    assert result.exit_code == 2 and "--birth-date" in result.output


def test_the_command_asks_for_the_date_of_birth_of_an_address_several_people_booked_with(app, family):
    result = app.test_cli_runner().invoke(args=["clinic", "patient", "export", "--email", ADDRESS])

    assert result.exit_code == 2 and "Several people have booked with this address" in result.output
    assert "--birth-date" in result.output and "Sam Child" not in result.output


# --- the admin page -----------------------------------------------------------------------------

PAGE = "/admin/patients/export"


@pytest.fixture
def client(app):
    return factories.browser(app)


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for response in (client.get(PAGE), client.post(PAGE, data={"contact": ADDRESS})):
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=%2Fadmin")


@pytest.mark.parametrize("role", [StaffRole.CLINICIAN, StaffRole.RECEPTION])
def test_staff_other_than_admins_may_not_export(client, session, role):
    department = factories.department(session) if role is StaffRole.RECEPTION else None
    sign_in(client, factories.staff(session, role=role, department_id=department and department.id))

    for response in (client.get(PAGE), client.post(PAGE, data={"contact": ADDRESS})):
        assert response.status_code in (403, 404)
        assert response.mimetype == "text/html"
    session.rollback()
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.exported")) is None


def test_an_admin_downloads_the_export_and_is_named_in_the_audit(client, session, person):
    admin = factories.staff(session)
    sign_in(client, admin)

    form = client.get(PAGE)
    response = client.post(PAGE, data={"contact": ADDRESS, "birth_date": BORN.isoformat()})

    assert form.status_code == 200 and 'name="contact"' in form.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="subject-access-')
    assert references(response.get_json()) == {person["signed"].reference, person["drafted"].reference}
    session.commit()
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.exported"))
    assert event.actor == f"staff:{admin.id}"


def test_an_admin_not_given_notes_gets_each_note_version_without_its_text_or_the_reasons(
    client, session, person
):
    sign_in(client, factories.staff(session))

    form = client.get(PAGE).get_data(as_text=True)
    response = client.post(PAGE, data={"contact": ADDRESS})  # one person: no date of birth needed

    assert "Your role is not given patients' notes" in form
    export = response.get_json()
    booking = booking_of(export, person["signed"])
    assert (booking["reason"], booking["reason_given"], booking["cancel_reason"]) == (None, True, None)
    assert [
        (note["version"], note["author"], note["signed_by"], note["corrects_version"])
        for note in booking["signed_notes"]
    ] == [(1, "Dr Rao", "Dr Rao", None), (2, "Dr Rao", "Dr Rao", 1)]
    assert not booking["clinical_content"]["included"]
    assert "Dr Rao" in booking["clinical_content"]["who_can_release"]
    assert "CLINIC_NOTES_ROLES" in booking["clinical_content"]["who_can_release"]
    assert not clinical_text(export)
    assert note_reads(session) == []


def test_an_admin_given_notes_gets_their_text_and_the_reasons_and_each_read_is_audited(
    app, client, session, person
):
    app.config["NOTES_ROLES"] = "admin"
    init_app(app)
    admin = factories.staff(session)
    sign_in(client, admin)

    form = client.get(PAGE).get_data(as_text=True)
    response = client.post(PAGE, data={"contact": ADDRESS})

    assert "Your role is given patients' notes" in form
    booking = booking_of(response.get_json(), person["signed"])
    assert booking["reason"] == REASON and booking["clinical_content"]["included"]
    assert [note["plan"] for note in booking["signed_notes"]] == [NOTE.plan, CORRECTED.plan]
    (read,) = note_reads(session)  # the one consultation with signed notes: as its notes page records it
    assert (read.actor, read.entity_type, read.entity_id) == (
        f"staff:{admin.id}",
        "consultation",
        str(person["signed"].id),
    )
    assert read.details == {"note_ids": signed_note_ids(session, person["signed"])}


def test_an_address_several_people_booked_with_is_refused_beside_the_date_of_birth(client, session, family):
    sign_in(client, factories.staff(session))

    response = client.post(PAGE, data={"contact": ADDRESS})

    page = response.get_data(as_text=True)
    assert response.status_code == 422 and response.mimetype == "text/html"
    assert 'id="birth_date-error"' in page and "<title>Error: " in page
    assert (
        "Several people have booked with this address: enter the date of birth of the person asking." in page
    )
    assert "Sam Child" not in page and "Mary Parent" not in page
    assert exports(session) == []


def test_with_the_date_of_birth_only_that_persons_records_are_exported(client, session, family):
    sign_in(client, factories.staff(session))

    response = client.post(PAGE, data={"contact": ADDRESS, "birth_date": "2015-06-01"})

    export = response.get_json()
    assert response.status_code == 200 and references(export) == {family["child"].reference}
    (child,) = export["patients"]
    assert child["name"] == "Sam Child"
    # The carer is a third party: the export says one was invited, and as what, not who.
    assert child["bookings"][0]["companions"] == [{"role": "carer"}]
    assert export["companion_of"] == []
    assert "Mary Parent" not in response.get_data(as_text=True)
    (event,) = exports(session)
    assert event.details["patient_ids"] == [child["id"]]


def test_the_reasons_for_visiting_and_for_cancelling_follow_the_notes_and_their_reading_is_audited(
    app, client, session, now, family
):
    cancel(session, family["parent"].id, now=now, actor=Actor(), reason="Too anxious to talk today")
    admin = factories.staff(session)
    sign_in(client, admin)
    asked = {"contact": ADDRESS, "birth_date": "1980-05-01"}

    withheld = booking_of(client.post(PAGE, data=asked).get_json(), family["parent"])
    unread = note_reads(session)
    app.config["NOTES_ROLES"] = "admin"
    init_app(app)
    given = booking_of(client.post(PAGE, data=asked).get_json(), family["parent"])

    assert (withheld["reason"], withheld["cancel_reason"]) == (None, None) and unread == []
    assert withheld["reason_given"] and withheld["cancel_reason_given"]
    assert (given["reason"], given["cancel_reason"]) == ("Panic attacks", "Too anxious to talk today")
    (read,) = note_reads(session)  # no notes yet, but the reasons were read, as on the notes page
    assert (read.entity_id, read.details) == (str(family["parent"].id), {"note_ids": []})


def test_a_reason_erased_by_retention_is_not_said_to_have_been_none_given(app, session, now, family):
    """A year after the consultation retention erased the reason the patient gave for it: the export said
    "reason_given": false, as if they had given none, to the very person who gave it."""
    parent = family["parent"]
    later = parent.ends_at + timedelta(days=366)
    periods = RetentionPeriods.from_config(app.config)
    apply_retention(session, periods, now=later)

    booking = booking_of(exported(app, session, later, birth_date=date(1980, 5, 1)), parent)

    assert (booking["reason_given"], booking["cancel_reason_given"]) == (None, None)  # not known now
    assert booking["reasons_erased_after_days"] == periods.reason.days == 365
    assert "Panic attacks" not in json.dumps(booking)


def booking_of(export: dict, consultation) -> dict:
    (booking,) = (
        b for p in export["patients"] for b in p["bookings"] if b["reference"] == consultation.reference
    )
    return booking


def clinical_text(export: dict) -> set[str]:
    """The reason and every note field's text that appear anywhere in the export."""
    written = {REASON, *NOTE.as_dict().values(), *CORRECTED.as_dict().values()}
    found: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, dict | list):
            for item in value.values() if isinstance(value, dict) else value:
                walk(item)
        elif value in written:
            found.add(value)

    walk(export)
    return found


def signed_note_ids(session, consultation) -> list[int]:
    query = select(ConsultationNote.id).where(
        ConsultationNote.consultation_id == consultation.id, ConsultationNote.status == NoteStatus.SIGNED
    )
    return list(session.scalars(query.order_by(ConsultationNote.version)))


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"contact": ""}, "contact", "Enter the e-mail address or phone number the person gave."),
        # Spaces alone (a pasted blank) passed the required check and were refused with an empty message.
        ({"contact": "   "}, "contact", "Enter the e-mail address or phone number the person gave."),
        ({"contact": "not@an-address"}, "contact", "Enter an e-mail address like name@example.org."),
        ({"contact": "ext. 4021"}, "contact", "Enter a phone number using digits, spaces and an optional"),
        ({"contact": "4021 55"}, "contact", "Enter the whole phone number, with its area code"),
        (
            {"contact": ADDRESS, "birth_date": "10/12/1985"},
            "birth_date",
            "Enter a real date, like 2026-12-24.",
        ),
        ({"contact": ADDRESS, "name": "x" * 201}, "name", "Keep it under 200 characters."),
    ],
)
def test_a_wrong_field_is_shown_beside_it_and_nothing_is_exported(client, session, data, field, message):
    sign_in(client, factories.staff(session))

    response = client.post(PAGE, data=data)

    assert response.status_code == 422 and response.mimetype == "text/html"
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert message in response.get_data(as_text=True)
    session.rollback()
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.exported")) is None


def test_the_export_holds_the_persons_places_in_walk_in_queues_unless_narrowed_by_date_of_birth(
    app, session, now
):
    service = factories.service(session)
    queue = factories.walk_in_queue(
        session, service, [factories.clinician(session, [service])], name="Helpline"
    )
    theirs = factories.walk_in(
        session, queue, now=now, details=factories.caller_details(email="Ada.Lovelace@example.org")
    )
    factories.walk_in(session, queue, now=now)  # someone else's

    export = exported(app, session, now)
    narrowed = exported(app, session, now, birth_date=BORN)

    (place,) = export["walk_in_queues"]
    assert (place["queue"], place["email"], place["status"]) == (
        "Helpline",
        "Ada.Lovelace@example.org",
        "waiting",
    )
    assert narrowed["walk_in_queues"] == []
    session.commit()
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.exported")).first()
    assert event.details["walk_in_entry_ids"] == [theirs.entry.id]


def test_the_export_holds_the_persons_waitlist_places_with_the_times_offered(app, session, now):
    service = factories.service(session, name="Heart follow-up")
    factories.clinician(session, [service])
    session.commit()
    mine = waitlist_request(
        service, factories.patient_details(email="Ada.Lovelace@example.org", birth_date=BORN)
    )
    theirs = waitlist_request(service, factories.patient_details())
    entry = join_waitlist(session, mine, now=now, keys=TEST_KEYS, actor=Actor()).entry
    join_waitlist(session, theirs, now=now, keys=TEST_KEYS, actor=Actor())

    export = exported(app, session, now)
    narrowed = exported(app, session, now, birth_date=date(1999, 1, 1))

    (place,) = export["waitlists"]
    assert (place["service"], place["email"], place["birth_date"], place["status"]) == (
        "Heart follow-up",
        "Ada.Lovelace@example.org",
        BORN.isoformat(),
        "waiting",
    )
    assert place["consent"]["privacy_notice"] == "2026-12-01" and place["offers"] == []
    assert narrowed["waitlists"] == []
    session.commit()
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.exported")).first()
    assert event.details["waitlist_entry_ids"] == [entry.id]


def test_the_export_holds_every_mail_sent_about_the_persons_waitlist_place_and_its_offers(
    app, session, now, outbox
):
    """The confirmation of joining hangs on the waitlist entry, an offer's mails on the consultation that
    freed its time (someone else's): each is the waiting patient's, and only theirs."""
    service = open_clinic(session)
    first_day = TUESDAY_10.date()
    ada = waitlist_request(service, factories.patient_details(email=ADDRESS, birth_date=BORN), first_day)
    grace = waitlist_request(service, factories.patient_details(email="grace@example.org"), first_day)
    join_waitlist(session, ada, now=now, keys=TEST_KEYS, actor=Actor())
    other = join_waitlist(session, grace, now=now, keys=TEST_KEYS, actor=Actor()).entry
    freeing = factories.patient_details(email="someone@example.org", name="Sam Someone")
    booked = factories.booking(session, service, TUESDAY_10, now=now, patient=freeing, reason=REASON)
    cancel(session, booked.consultation.id, now=now, actor=Actor())
    outbox.drain()  # the confirmations of joining, and the freed time offered to both
    graces = session.scalars(select(WaitlistOffer).where(WaitlistOffer.entry_id == other.id)).one()
    take_offer(session, graces.id, now=now, keys=TEST_KEYS, actor=Actor())
    outbox.drain()  # Ada is told the time has gone

    export = exported(app, session, now)

    (place,) = export["waitlists"]
    assert [(mail["kind"], mail["to"], mail["status"]) for mail in place["mails"]] == [
        ("mail.waitlist_joined", ADDRESS, "done")
    ]
    (offer,) = place["offers"]
    adas = session.scalars(select(WaitlistOffer).where(WaitlistOffer.entry_id != other.id)).one()
    about = {"reference": adas.reference, "starts_at": TUESDAY_10.isoformat()}
    assert (offer["reference"], offer["status"]) == (adas.reference, "gone")
    assert [(mail["kind"], mail["to"], mail["offer"], mail["status"]) for mail in offer["mails"]] == [
        ("mail.waitlist_offer", ADDRESS, about, "done"),
        ("mail.waitlist_gone", ADDRESS, about, "done"),
    ]
    assert {frozenset(mail) for mail in place["mails"]} == {
        frozenset({"kind", "to", "due_at", "status", "done_at"})  # never the text
    }
    assert {frozenset(mail) for mail in offer["mails"]} == {
        frozenset({"kind", "to", "offer", "due_at", "status", "done_at"})
    }
    assert REASON not in json.dumps(export) and "grace@example.org" not in json.dumps(export)
    # Nor are they mails of the patient whose cancellation freed the time.
    theirs = export_person(
        session, Asker(email="someone@example.org"), notes=notes_settings(app), now=now, exporter=None
    )
    (their_booking,) = theirs["patients"][0]["bookings"]
    assert {mail["kind"] for mail in their_booking["mails"]} == {"mail.confirmation", "mail.cancellation"}
    assert {mail["to"] for mail in their_booking["mails"]} == {"someone@example.org"}
    assert ADDRESS not in json.dumps(theirs) and adas.reference not in json.dumps(theirs)
    assert theirs["waitlists"] == []


def actions(record: dict) -> list[tuple[str, str | None]]:
    return [(action["action"], action["from_address"]) for action in record["actions"]]


def test_each_record_gives_what_the_person_did_on_it_and_the_network_address_they_did_it_from(
    app, session, now, helpline
):
    """The audit trail keeps the network address of each of the person's own actions (personal data); a
    staff member's, or another person's, is not theirs to receive."""
    service = helpline.service
    mine = factories.patient_details(email=ADDRESS, birth_date=BORN, name="Ada Lovelace")
    booked = factories.booking(session, service, TUESDAY_10, now=now, patient=mine).consultation
    record_read(session, booked, "manage page", now, Actor("patient", "203.0.113.7"))
    cancel(session, booked.id, now=now, actor=Actor.staff(5, "10.1.2.3"))
    invited = factories.companion_details(email=ADDRESS, name="Ada Lovelace")
    hosting = factories.booking(
        session, service, TUESDAY_10 + timedelta(hours=1), now=now, companion=invited
    ).consultation
    companion = hosting.companions[0]
    record_read(session, hosting, "manage page", now, Actor("patient", "192.0.2.1"))  # the host's own
    record_read(
        session, hosting, "companion room", now, Actor("companion", "192.0.2.8"), companion_id=companion.id
    )
    join_waitlist(
        session,
        waitlist_request(service, mine),
        now=now,
        keys=TEST_KEYS,
        actor=Actor("patient", "198.51.100.4"),
    )
    caller = factories.walk_in(
        session, helpline, now=now, details=factories.caller_details(email=ADDRESS, name="Ada Lovelace")
    ).entry
    leave(session, caller.id, now=now, actor=Actor("patient", "2001:db8::5"))

    export = exported(app, session, now)

    (booking,) = export["patients"][0]["bookings"]
    assert actions(booking) == [("consultation.booked", None), ("consultation.viewed", "203.0.113.7")]
    assert {frozenset(action) for action in booking["actions"]} == {
        frozenset({"action", "at", "from_address"})
    }
    assert booking["actions"][1]["at"] == now.isoformat()
    (invitation,) = export["companion_of"]
    assert actions(invitation) == [("consultation.viewed", "192.0.2.8")]
    (place,) = export["waitlists"]
    assert actions(place) == [("waitlist.joined", "198.51.100.4")]
    (walk_in,) = export["walk_in_queues"]
    assert actions(walk_in) == [("walk_in.joined", None), ("walk_in.left", "2001:db8::5")]
    assert "10.1.2.3" not in json.dumps(export) and "192.0.2.1" not in json.dumps(export)


def waitlist_request(service, patient, first_day: date = date(2026, 3, 9)) -> WaitlistRequest:
    return WaitlistRequest(
        service_id=service.id,
        first_day=first_day,
        last_day=first_day + timedelta(days=4),
        patient=patient,
        consent=Consent("2026-12-01"),
    )


# --- by phone number ------------------------------------------------------------------------------

LANDLINE = "01632 960 418"
WALK_IN_ONLY = "07700 900461"


@pytest.mark.parametrize(
    "one, other, same",
    [
        ("07700 900461", "+44 7700 900461", True),
        ("07700 900461", "0044 7700-900-461", True),
        ("+44 (0)1632 960418", "(01632) 960 418", True),
        ("+44 7700 900461", "+447700900461", True),
        ("+44 07700 900461", "+44 7700 900461", True),  # the trunk 0 kept after the code
        ("+39 06 1234 5678", "+39 6 1234 5678", True),  # Italy's 0 is dialled: the second is a slip
        ("+44 7700 900461", "+44 7700 9004610", False),
        ("+1 212 555 0100", "(212) 555-0100", True),
        ("07700 900461", "07700 900462", False),
        ("+44 7700 900461", "+33 7700 900461", False),  # two countries, each number given in full
        ("+44 7700 900461", "7700 9004 61 12", False),
        ("", "", False),
    ],
)
def test_phone_numbers_are_the_same_however_they_were_typed(one, other, same):
    assert same_phone(one, other) is same and same_phone(other, one) is same


@pytest.fixture
def helpline(session):
    service = factories.service(session)
    return factories.walk_in_queue(session, service, [factories.clinician(session, [service])])


def called(session, queue, now, name: str, phone: str, *, taken: bool = False):
    """A caller who gave only a phone number joining `queue`, and taken for a call if `taken`."""
    details = factories.caller_details(name=name, email=None, phone=phone)
    entry = factories.walk_in(session, queue, now=now, details=details).entry
    if taken:
        on_duty = StaffMember(900, StaffRole.CLINICIAN, clinician_id=queue.staff[0].id)
        take_next(session, queue.id, on_duty, now=now)
    return entry


def by_phone(app, session, now, phone: str, **options) -> dict:
    return export_person(
        session, Asker(phone=phone, **options), notes=notes_settings(app), now=now, exporter=None
    )


@pytest.mark.parametrize("typed", ["+44 7700 900461", "0044 7700 900461", "07700900461", " 07700-900-461 "])
def test_a_walk_in_caller_who_gave_only_a_phone_number_gets_their_places_and_calls_however_it_is_typed(
    app, session, now, helpline, typed
):
    taken = called(session, helpline, now, "Ann Walker", WALK_IN_ONLY, taken=True)
    other_line = factories.walk_in_queue(session, helpline.service, helpline.staff)  # one place a queue
    again = called(session, other_line, now, "Ann Walker", WALK_IN_ONLY)
    called(session, helpline, now, "Someone Else", "07700 900462")

    export = by_phone(app, session, now, typed)

    assert [(place["name"], place["phone"]) for place in export["walk_in_queues"]] == [
        ("Ann Walker", WALK_IN_ONLY),
        ("Ann Walker", WALK_IN_ONLY),
    ]
    (call,) = export["patients"]  # the call she was taken for: a patient record of its own
    assert (call["name"], call["phone"], call["birth_date"]) == ("Ann Walker", WALK_IN_ONLY, None)
    assert [booking["status"] for booking in call["bookings"]] == ["arrived"]
    assert "Someone Else" not in json.dumps(export)
    (event,) = exports(session)
    assert event.details["walk_in_entry_ids"] == [taken.id, again.id]
    assert event.details["patient_ids"] == [call["id"]]
    assert "900461" not in json.dumps(event.details) + event.entity_id


@pytest.fixture
def landline(session, now, helpline):
    """A family's landline: the mother booked with it (and her address), her son called the walk-in line
    from it, and a care home's resident booked with another number."""
    service = factories.service(session)
    factories.clinician(session, [service])
    session.commit()

    def booked(start, **fields) -> str:
        patient = factories.patient_details(**fields)
        return factories.booking(session, service, start, now=now, patient=patient).consultation.reference

    return {
        "mother": booked(TUESDAY_10, name="Mary Parent", phone=LANDLINE, birth_date=date(1950, 5, 1)),
        "son": called(session, helpline, now, "Sam Parent", "+44 1632 960418"),
        "elsewhere": booked(TUESDAY_10 + timedelta(hours=1), phone="01632 960 419"),
    }


def test_a_number_given_under_several_names_needs_the_askers_name_and_then_gives_only_theirs(
    app, session, now, landline
):
    with pytest.raises(SharedContact) as shared:
        by_phone(app, session, now, LANDLINE)
    refused = exports(session)
    son = by_phone(app, session, now, LANDLINE, name="sam  parent")
    mother = by_phone(app, session, now, LANDLINE, name="Mary Parent")

    assert shared.value.needs == "name" and refused == []
    assert "Several people have given this number, under different names" in str(shared.value)
    assert [place["name"] for place in son["walk_in_queues"]] == ["Sam Parent"] and son["patients"] == []
    assert references(mother) == {landline["mother"]} and mother["walk_in_queues"] == []


def test_a_number_several_people_booked_with_needs_the_date_of_birth_and_alone_leaves_walk_ins_out(
    app, session, now, landline
):
    service = factories.service(session)
    factories.clinician(session, [service])
    session.commit()
    resident = factories.patient_details(
        name="Mary Parent", phone="+44 1632 960418", birth_date=date(1931, 2, 3)
    )
    theirs = factories.booking(session, service, TUESDAY_10, now=now, patient=resident).consultation

    with pytest.raises(SharedContact) as shared:
        by_phone(app, session, now, LANDLINE, name="Mary Parent")  # two Mary Parents, told apart by birth
    found = by_phone(app, session, now, LANDLINE, birth_date=date(1931, 2, 3))

    assert shared.value.needs == "birth_date"
    assert "Several people have booked with this number" in str(shared.value)
    assert references(found) == {theirs.reference} and found["walk_in_queues"] == []


def test_an_address_follows_the_same_rule_for_walk_in_places_given_under_another_name(
    app, session, now, person, helpline
):
    details = factories.caller_details(name="Grace Hopper", email=ADDRESS)
    factories.walk_in(session, helpline, now=now, details=details)

    with pytest.raises(SharedContact) as shared:
        exported(app, session, now)
    hers = exported(app, session, now, name="Grace Hopper")

    assert shared.value.needs == "name"
    assert [place["name"] for place in hers["walk_in_queues"]] == ["Grace Hopper"]
    assert hers["patients"] == [] and hers["companion_of"] == []


def test_an_admin_exports_by_phone_number_and_is_asked_the_name_beside_its_field(client, session, landline):
    sign_in(client, factories.staff(session))

    asked = client.post(PAGE, data={"contact": LANDLINE})
    response = client.post(PAGE, data={"contact": "+44 1632 960418", "name": "Sam Parent"})

    page = asked.get_data(as_text=True)
    assert asked.status_code == 422 and 'id="name-error"' in page and "<title>Error: " in page
    assert "enter the name of the person asking" in page and "Sam Parent" not in page
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert [place["name"] for place in response.get_json()["walk_in_queues"]] == ["Sam Parent"]


def test_the_command_exports_by_phone_number_and_asks_for_the_name_where_it_must(app, landline):
    def run(*args: str):
        return app.test_cli_runner().invoke(args=["clinic", "patient", "export", *args])

    shared = run("--phone", LANDLINE)
    found = run("--phone", LANDLINE, "--name", "Sam Parent")
    neither, both = run(), run("--phone", LANDLINE, "--email", ADDRESS)

    assert shared.exit_code == 2 and "(--name)" in shared.output and "Sam Parent" not in shared.output
    assert found.exit_code == 0, found.output
    assert [place["name"] for place in json.loads(found.output)["walk_in_queues"]] == ["Sam Parent"]
    assert neither.exit_code == both.exit_code == 2 and "--email or their --phone" in both.output


def test_the_export_holds_when_the_person_attended_and_what_each_place_recorded_of_them(app, session, now):
    """The export left out the times a booking records of the person (arrived in the waiting room, the call's
    start and end), a waitlist place's language and how consent to a walk-in queue was given."""
    service = factories.service(session)
    clinician = factories.clinician(session, [service])
    queue = factories.walk_in_queue(session, service, [clinician], name="Helpline")
    session.commit()
    ada = factories.patient_details(email=ADDRESS, birth_date=BORN, name="Ada Lovelace", language="de")
    booked = factories.booking(session, service, TUESDAY_10, now=now, patient=ada).consultation
    times = {"arrived_at": TUESDAY_10 - timedelta(minutes=4), "started_at": TUESDAY_10}
    for name, value in {**times, "ended_at": TUESDAY_10 + timedelta(minutes=20)}.items():
        setattr(booked, name, value)
    session.commit()
    join_waitlist(session, waitlist_request(service, ada), now=now, keys=TEST_KEYS, actor=Actor())
    caller = factories.caller_details(email=ADDRESS, name="Ada Lovelace")
    place = factories.walk_in(session, queue, now=now, details=caller).entry
    place.answered_at = now + timedelta(minutes=3)
    session.commit()

    export = exported(app, session, now, name="Ada Lovelace")

    (booking,) = export["patients"][0]["bookings"]
    assert (booking["arrived_at"], booking["call_started_at"], booking["call_ended_at"]) == (
        "2026-03-03T09:56:00+00:00",
        "2026-03-03T10:00:00+00:00",
        "2026-03-03T10:20:00+00:00",
    )
    assert export["waitlists"][0]["language"] == "de"
    (walk_in,) = export["walk_in_queues"]
    assert walk_in["consent"]["how"] == place.consent_method.value
    assert walk_in["answered_at"] == place.answered_at.isoformat()
