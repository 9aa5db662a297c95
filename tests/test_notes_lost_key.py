"""A note version that no configured key opens (its key removed from CLINIC_NOTES_KEY before `flask clinic
notes rotate` ran, or its token copied from another row): every place that reads notes still answers, says
so in place of that version's text, shows the versions it can read, changes nothing, and logs the
consultation and version once, never any text."""

import json
import logging
from dataclasses import replace

import pytest
from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape
from sqlalchemy import func, select

from clinic.audit import SYSTEM
from clinic.models import AuditEvent, ConsultationNote, ImmutableNote, NoteStatus, StaffRole
from clinic.notes import init_app
from clinic.notes.drafts import ExpectedDraft, start_amendment
from clinic.notes.encryption import UNREADABLE_VERSION, NoteCipher
from clinic.notes.rotation import rotate_note_keys
from clinic.notes.settings import notes_settings

from . import factories
from .factories import sign_in
from .notes_support import NOTE, REASON, booked, form, requester, save, sign

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
CORRECTED = replace(NOTE, plan="Salbutamol inhaler; review in two days.")
SAID = str(escape(UNREADABLE_VERSION))  # as a page shows it


def use_notes_key(app, notes_key: str) -> None:
    """CLINIC_NOTES_KEY set to `notes_key`, as after an IT admin's change of the setting and a restart."""
    app.config["NOTES_KEY"] = notes_key
    init_app(app)


@pytest.fixture
def client(app):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # an unhandled error is the 500 page a browser gets
    return factories.browser(app)


@pytest.fixture
def first_key_lost(app, session, now):
    """Version 1 signed under OLD, version 2 (its amendment) under NEW, then OLD removed from
    CLINIC_NOTES_KEY without the rotation: version 1 cannot be read, version 2 can."""
    use_notes_key(app, OLD)
    case = booked(app, session, now)
    first = sign(session, case, NOTE, now=now)
    use_notes_key(app, f"{NEW},{OLD}")
    case = replace(case, settings=notes_settings(app))
    amendment = start_amendment(
        session, case.id, requester=requester(case.clinician), settings=case.settings, now=now
    )
    second = sign(session, case, CORRECTED, now=now, expected=ExpectedDraft(amendment.note_id, 1))
    use_notes_key(app, NEW)
    session.commit()
    return case, first.note_id, second.note_id


def notes_url(case, suffix: str = "") -> str:
    return f"/schedule/consultations/{case.id}/notes{suffix}"


def unreadable_lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if "cannot be read" in record.getMessage()]


def test_the_notes_page_shows_the_versions_it_can_read_and_says_which_it_cannot(
    client, session, first_key_lost, caplog
):
    case, _first, _second = first_key_lost
    sign_in(client, case.clinician)

    with caplog.at_level(logging.WARNING, logger="clinic.notes"):
        response = client.get(notes_url(case))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Version 2 (current)" in page and CORRECTED.plan in page
    assert "Version 1" in page and page.count(SAID) == 1 and NOTE.plan not in page
    assert unreadable_lines(caplog) == [
        f"no CLINIC_NOTES_KEY opens version 1 of consultation {case.id}'s note: "
        "the pages say it cannot be read"
    ]


def test_the_print_view_of_an_unreadable_version_says_so(client, session, first_key_lost, caplog):
    case, first, second = first_key_lost
    sign_in(client, case.clinician)

    with caplog.at_level(logging.WARNING, logger="clinic.notes"):
        lost = client.get(notes_url(case, f"/{first}/print"))
        current = client.get(notes_url(case, f"/{second}/print"))

    assert lost.status_code == 200 and current.status_code == 200
    assert SAID in lost.get_data(as_text=True) and NOTE.plan not in lost.get_data(as_text=True)
    corrected = current.get_data(as_text=True)  # with the earlier version it corrects, unreadable
    assert CORRECTED.plan in corrected and SAID in corrected
    assert NOTE.plan not in corrected


@pytest.fixture
def latest_lost(app, session, now):
    """Version 1 signed under OLD, then OLD replaced by NEW without the rotation: the current note cannot
    be read."""
    use_notes_key(app, OLD)
    case = booked(app, session, now)
    sign(session, case, NOTE, now=now)
    use_notes_key(app, NEW)
    session.commit()
    return case


def test_an_unreadable_current_note_is_not_offered_for_amending_and_an_amendment_is_refused(
    client, session, latest_lost
):
    case = latest_lost
    sign_in(client, case.clinician)

    page = client.get(notes_url(case)).get_data(as_text=True)
    refused = client.post(notes_url(case, "/amend"))

    assert "Amend the signed note" not in page and "cannot be amended while it cannot be read" in page
    assert refused.status_code == 409
    assert "Version 1, the current note, cannot be read" in refused.get_data(as_text=True)
    assert stored(session, case) == [(1, NoteStatus.SIGNED)]  # nothing written


def test_an_unreadable_current_note_is_corrected_by_an_amendment_written_afresh_and_stays_as_it_was(
    client, session, latest_lost
):
    # With the current note's key lost, nobody could ever correct or add to the consultation's record: an
    # amendment starts from the current text, and nothing else was offered.
    case = latest_lost
    (first,) = session.scalars(select(ConsultationNote).where(ConsultationNote.consultation_id == case.id))
    token = first.encrypted_content
    sign_in(client, case.clinician)

    offered = client.get(notes_url(case)).get_data(as_text=True)
    started = client.post(notes_url(case, "/amend"), data={"start": "empty"})
    draft_page = client.get(notes_url(case)).get_data(as_text=True)
    session.commit()
    (second,) = session.scalars(select(ConsultationNote.id).where(ConsultationNote.version == 2))
    signed = client.post(notes_url(case, "/sign"), data=form(CORRECTED, draft=second, revision=1))
    page = client.get(notes_url(case)).get_data(as_text=True)

    assert "Write an amendment from an empty note" in offered
    assert (started.status_code, signed.status_code) == (303, 303)
    assert "Amendment: version 2, a draft" in draft_page and NOTE.plan not in draft_page
    assert stored(session, case) == [(1, NoteStatus.SIGNED), (2, NoteStatus.SIGNED)]
    assert session.get(ConsultationNote, first.id).encrypted_content == token
    assert session.get(ConsultationNote, second).amends_id == first.id
    assert "Version 2 (current)" in page and CORRECTED.plan in page and "Corrects version 1." in page
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "note.amended"))
    assert event.details == {"consultation_id": case.id, "version": 2, "amends_id": first.id, "unread": True}


def test_an_amendment_written_afresh_is_refused_while_the_current_note_can_be_read(app, client, session, now):
    case = booked(app, session, now)
    sign(session, case, NOTE, now=now)
    sign_in(client, case.clinician)

    page = client.get(notes_url(case)).get_data(as_text=True)
    amended = client.post(notes_url(case, "/amend"), data={"start": "empty"})

    assert "Write an amendment from an empty note" not in page and amended.status_code == 303
    assert NOTE.plan in client.get(notes_url(case)).get_data(as_text=True).split('id="note-form"')[1]


@pytest.fixture
def draft_lost(app, session, now):
    """The clinician's draft saved under OLD, then OLD replaced by NEW without the rotation; and its token."""
    use_notes_key(app, OLD)
    case = booked(app, session, now)
    draft = save(session, case, NOTE, now=now)
    use_notes_key(app, NEW)
    session.commit()
    return case, draft, session.get(ConsultationNote, draft.note_id).encrypted_content


def test_an_unreadable_draft_is_shown_so_and_a_save_over_it_is_refused_keeping_the_typed_text(
    client, session, draft_lost
):
    case, draft, token = draft_lost
    sign_in(client, case.clinician)

    page = client.get(notes_url(case)).get_data(as_text=True)
    # From a tab opened before the key was removed, which holds the draft's markers.
    saved = client.post(notes_url(case), data=form(CORRECTED, draft=draft.note_id, revision=1))
    signed = client.post(notes_url(case, "/sign"), data=form(CORRECTED, draft=draft.note_id, revision=1))

    assert SAID in page and "Save draft" not in page and NOTE.plan not in page
    for response in (saved, signed):
        answer = response.get_data(as_text=True)
        assert response.status_code == 409 and "so your text was not saved over it" in answer
        assert CORRECTED.plan in answer  # what was typed is kept on the page
    session.expire_all()
    assert session.get(ConsultationNote, draft.note_id).encrypted_content == token
    assert stored(session, case) == [(1, NoteStatus.DRAFT)]


def stored(session, case) -> list[tuple[int, NoteStatus]]:
    session.commit()
    query = select(ConsultationNote.version, ConsultationNote.status).where(
        ConsultationNote.consultation_id == case.id
    )
    return [tuple(row) for row in session.execute(query.order_by(ConsultationNote.version))]


EXPORT = "/admin/patients/export"


def test_the_subject_access_export_says_which_versions_cannot_be_read_and_gives_the_others(
    app, client, session, first_key_lost, caplog
):
    case, _first, _second = first_key_lost
    app.config["NOTES_ROLES"] = "admin"  # the admin may read the notes
    init_app(app)
    sign_in(client, factories.staff(session))

    with caplog.at_level(logging.WARNING, logger="clinic.notes"):
        response = client.post(EXPORT, data={"contact": case.consultation.patient.email})
        command = app.test_cli_runner().invoke(
            args=["clinic", "patient", "export", "--email", case.consultation.patient.email]
        )

    assert response.status_code == 200 and command.exit_code == 0, command.output
    for export in (response.get_json(), json.loads(command.stdout)):
        (booking,) = export["patients"][0]["bookings"]
        first, second = booking["signed_notes"]
        assert (first["version"], first["unreadable"]) == (1, UNREADABLE_VERSION)
        assert "plan" not in first and NOTE.plan not in json.dumps(export)
        assert (second["version"], second["plan"], "unreadable" in second) == (2, CORRECTED.plan, False)
    assert len(unreadable_lines(caplog)) == 2  # one for each export


NEWEST = Fernet.generate_key().decode()


def test_rotation_rotates_every_version_it_can_and_names_the_ones_no_key_opens(
    app, session, first_key_lost, caplog
):
    # The rotation stopped at the first version no key opened (exit 1), so with a key lost for good it could
    # never finish and no other key could be retired.
    case, first, second = first_key_lost
    unreadable_token = session.get(ConsultationNote, first).encrypted_content
    use_notes_key(app, f"{NEWEST},{NEW}")

    result = app.test_cli_runner().invoke(args=["clinic", "notes", "rotate"])

    use_notes_key(app, NEWEST)  # the other keys retired
    session.expire_all()
    newest = notes_settings(app).cipher
    assert result.exit_code == 3, result.output
    assert newest.read(session.get(ConsultationNote, second)) == CORRECTED
    assert session.get(ConsultationNote, first).encrypted_content == unreadable_token  # left as it was
    assert f"version 1 of consultation {case.id}'s note (row {first})" in result.output
    assert f"the reasons of consultation {case.id}" in result.output
    assert "1 note versions re-encrypted" in result.output
    for text in (*NOTE.as_dict().values(), *CORRECTED.as_dict().values(), REASON):
        assert text not in result.output
    events = session.scalars(select(AuditEvent).where(AuditEvent.action.like("%keys_rotated"))).all()
    assert {event.action: event.details for event in events} == {
        "note.keys_rotated": {"count": 1, "unreadable_ids": [first]},
        "reasons.keys_rotated": {"count": 0, "unreadable_ids": [case.id]},
    }


def test_the_author_discards_an_unreadable_draft_which_is_kept_and_audited_then_writes_and_signs_anew(
    client, session, draft_lost
):
    # An unreadable draft could be neither saved over, signed nor discarded (409): the note was stuck.
    case, draft, token = draft_lost
    sign_in(client, case.clinician)

    offered = client.get(notes_url(case)).get_data(as_text=True)
    discarded = client.post(notes_url(case, "/discard"), data={"draft": draft.note_id})
    page = client.get(notes_url(case)).get_data(as_text=True)
    signed = client.post(notes_url(case, "/sign"), data=form(CORRECTED))

    assert "Discard this draft" in offered
    assert discarded.status_code == 303 and signed.status_code == 303
    assert "Start a note" in page and "Version 1, a draft no key could open, was discarded" in page
    assert stored(session, case) == [(1, NoteStatus.DISCARDED), (2, NoteStatus.SIGNED)]
    assert (
        session.get(ConsultationNote, draft.note_id).encrypted_content == token
    )  # kept, should the key return
    assert CORRECTED.plan in client.get(notes_url(case)).get_data(as_text=True)
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "note.draft_discarded"))
    assert event.entity_id == str(draft.note_id)
    assert event.details == {"consultation_id": case.id, "version": 1}
    session.get(ConsultationNote, draft.note_id).status = NoteStatus.DRAFT
    with pytest.raises(ImmutableNote, match="discarded consultation note"):
        session.flush()  # a discarded version is as locked as a signed one
    session.rollback()


def test_an_unreadable_amendment_discarded_leaves_the_signed_note_and_a_new_amendment_corrects_it(
    app, client, session, now
):
    use_notes_key(app, OLD)
    case = booked(app, session, now)
    first = sign(session, case, NOTE, now=now)
    use_notes_key(app, f"{NEW},{OLD}")  # the amendment sealed under NEW, then NEW lost
    start_amendment(
        session, case.id, requester=requester(case.clinician), settings=notes_settings(app), now=now
    )
    use_notes_key(app, OLD)
    session.commit()
    signed_token = session.get(ConsultationNote, first.note_id).encrypted_content
    (amendment,) = session.scalars(select(ConsultationNote.id).where(ConsultationNote.version == 2))
    sign_in(client, case.clinician)

    discarded = client.post(notes_url(case, "/discard"), data={"draft": amendment})
    amended = client.post(notes_url(case, "/amend"))
    session.commit()
    (third,) = session.scalars(select(ConsultationNote.id).where(ConsultationNote.version == 3))
    signed = client.post(notes_url(case, "/sign"), data=form(CORRECTED, draft=third, revision=1))
    page = client.get(notes_url(case)).get_data(as_text=True)

    assert [discarded.status_code, amended.status_code, signed.status_code] == [303, 303, 303]
    assert stored(session, case) == [
        (1, NoteStatus.SIGNED),
        (2, NoteStatus.DISCARDED),
        (3, NoteStatus.SIGNED),
    ]
    assert session.get(ConsultationNote, third).amends_id == first.note_id
    assert session.get(ConsultationNote, first.note_id).encrypted_content == signed_token
    assert (
        "Version 3 (current)" in page and "Corrects version 1." in page and "Corrected by version 3" in page
    )


def test_only_an_unreadable_open_draft_is_discarded_and_only_by_who_keeps_it(app, client, session, now):
    use_notes_key(app, OLD)
    case = booked(app, session, now)
    signed = sign(session, case, NOTE, now=now)
    readable = start_amendment(
        session, case.id, requester=requester(case.clinician), settings=case.settings, now=now
    )
    other = factories.staff(session, role=StaffRole.CLINICIAN, clinician_id=None)
    session.commit()
    sign_in(client, case.clinician)

    answers = [
        client.post(notes_url(case, "/discard"), data={"draft": readable.note_id}),  # it can be read
        client.post(notes_url(case, "/discard"), data={"draft": signed.note_id}),  # signed: never
        client.post(notes_url(case, "/discard"), data={"draft": "x"}),
    ]
    sign_in(client, other)
    stranger = client.post(notes_url(case, "/discard"), data={"draft": readable.note_id})

    assert [answer.status_code for answer in answers] == [409, 409, 409] and stranger.status_code == 404
    assert stored(session, case) == [(1, NoteStatus.SIGNED), (2, NoteStatus.DRAFT)]


def test_rotation_never_rewrites_a_version_no_key_opens_and_rotates_every_other(app, session, now):
    case = booked(app, session, now)
    signer = case.clinician.id
    lost, kept = NoteCipher([Fernet.generate_key()]), NoteCipher([OLD])
    rotating, newest = NoteCipher([NEWEST, OLD]), NoteCipher([NEWEST])
    lost_ids = set()  # over every example: the table keeps the rows of the ones before

    @settings(max_examples=30, derandomize=True, deadline=None)
    @given(readable=st.lists(st.booleans(), min_size=1, max_size=7), batch_size=st.integers(1, 4))
    def rotate(readable, batch_size):
        start = session.scalar(select(func.max(ConsultationNote.version))) or 0
        for offset, opens in enumerate(readable, start=1):
            row = ConsultationNote(
                consultation_id=case.id,
                version=start + offset,
                author_id=signer,
                status=NoteStatus.SIGNED,
                revision=1,
                created_at=now,
                updated_at=now,
                signed_at=now,
                signed_by_id=signer,
            )
            (kept if opens else lost).write(row, NOTE)
            session.add(row)
            session.flush()
            lost_ids.update(() if opens else (row.id,))
        session.commit()
        before = {row.id: row.encrypted_content for row in session.scalars(select(ConsultationNote))}
        opened = set(before) - lost_ids

        rotation = rotate_note_keys(session, rotating, now=now, actor=SYSTEM, batch_size=batch_size)

        session.expire_all()
        after = {row.id: row for row in session.scalars(select(ConsultationNote))}
        assert rotation.count == len(opened)
        assert rotation.unreadable_ids == sorted(set(before) - opened)
        for row_id, row in after.items():
            if row_id in opened:
                assert newest.read(row) == NOTE
            else:
                assert row.encrypted_content == before[row_id]

    rotate()
