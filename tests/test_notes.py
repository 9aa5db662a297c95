"""A note's history: drafts saved by their author, signed and locked, corrected only by amendments
that keep the signed version as it was; nothing ever deleted."""

import unicodedata
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update

from clinic.audit import Actor
from clinic.models import ConsultationNote, ImmutableNote, NoteStatus, StaffRole
from clinic.notes import init_app
from clinic.notes.content import MAX_FIELD_CHARS, InvalidNote, SoapNote, check_text
from clinic.notes.drafts import ExpectedDraft, start_amendment
from clinic.notes.errors import DraftAlreadyOpen, NotDraftAuthor, NoteNotFound, NothingToAmend, StaleDraft
from clinic.notes.history import read_notes
from clinic.scheduling.lifecycle import reschedule

from . import factories
from .notes_support import NOTE, booked, requester, save, sign

LATER = timedelta(minutes=20)


def rows(session, case) -> list[ConsultationNote]:
    session.commit()
    query = select(ConsultationNote).where(ConsultationNote.consultation_id == case.id)
    query = query.order_by(ConsultationNote.version).execution_options(populate_existing=True)
    return list(session.scalars(query))


def page(session, case, now, user=None):
    who = requester(user or case.clinician)
    return read_notes(session, case.id, requester=who, settings=case.settings, now=now)


def amend(session, case, now, user=None):
    who = requester(user or case.clinician)
    return start_amendment(session, case.id, requester=who, settings=case.settings, now=now)


def test_a_draft_is_saved_again_and_again_then_signed_and_locked(app, session, now):
    case = booked(app, session, now)

    first = save(session, case, replace(NOTE, plan=""), now=now)
    save(session, case, NOTE, now=now + LATER, expected=ExpectedDraft(first.note_id, 1))
    signed = sign(session, case, NOTE, now=now + 2 * LATER, expected=ExpectedDraft(first.note_id, 2))

    (row,) = rows(session, case)
    assert (signed.note_id, signed.version) == (row.id, 1)
    assert row.status is NoteStatus.SIGNED
    assert (row.signed_at, row.signed_by_id) == (now + 2 * LATER, case.clinician.id)
    assert row.author_id == case.clinician.id
    shown = page(session, case, now + 3 * LATER)
    assert shown.draft is None and [v.content for v in shown.signed] == [NOTE]
    assert shown.can_amend and not shown.can_edit_draft


def test_an_amendment_points_at_the_signed_version_which_stays_visible_and_unchanged(app, session, now):
    case = booked(app, session, now)
    original = sign(session, case, NOTE, now=now)
    (stored,) = rows(session, case)
    token_before, signed_at = stored.encrypted_content, stored.signed_at

    started = amend(session, case, now + LATER)
    assert page(session, case, now + LATER).draft.content == NOTE  # the amendment starts from the signed text
    corrected = replace(NOTE, plan="Amoxicillin 500 mg three times a day for five days.")
    sign(session, case, corrected, now=now + 2 * LATER, expected=ExpectedDraft(started.note_id, 1))

    first, second = rows(session, case)
    assert (first.encrypted_content, first.signed_at) == (token_before, signed_at)
    assert first.status is NoteStatus.SIGNED
    assert (second.version, second.amends_id, second.status) == (2, original.note_id, NoteStatus.SIGNED)
    current, earlier = page(session, case, now + 3 * LATER).signed
    assert (current.version, current.content, current.corrected_by) == (2, corrected, None)
    assert (earlier.version, earlier.content, earlier.corrected_by) == (1, NOTE, 2)


def test_a_signed_note_cannot_be_saved_over_through_the_service(app, session, now):
    case = booked(app, session, now)
    signed = sign(session, case, NOTE, now=now)

    opened = ExpectedDraft(signed.note_id, 1)
    with pytest.raises(StaleDraft, match="signed after you opened"):
        save(session, case, SoapNote(plan="rewritten"), now=now + LATER, expected=opened)
    with pytest.raises(StaleDraft):
        sign(session, case, SoapNote(plan="rewritten"), now=now + LATER)

    (row,) = rows(session, case)
    assert page(session, case, now).signed[0].content == NOTE and row.revision == 1


@pytest.mark.parametrize(
    "change",
    [
        {"encrypted_content": "gAAAAA-not-the-signed-text"},
        {"status": NoteStatus.DRAFT},
        {"signed_at": None, "status": NoteStatus.DRAFT},
    ],
)
def test_the_orm_guard_refuses_any_change_to_a_signed_version(app, session, now, change):
    case = booked(app, session, now)
    sign(session, case, NOTE, now=now)
    (row,) = rows(session, case)
    session.expire(row)  # the guard must judge the stored row even when nothing of it is loaded

    for name, value in change.items():
        setattr(row, name, value)
    with pytest.raises(ImmutableNote, match="cannot be changed"):
        session.flush()
    session.rollback()
    assert page(session, case, now).signed[0].content == NOTE


def test_no_note_version_can_ever_be_deleted(app, session, now):
    case = booked(app, session, now)
    draft = save(session, case, NOTE, now=now)

    session.delete(session.get(ConsultationNote, draft.note_id))
    with pytest.raises(ImmutableNote, match="cannot be deleted"):
        session.flush()
    session.rollback()
    with pytest.raises(ImmutableNote, match="cannot be deleted"):
        session.execute(delete(ConsultationNote).where(ConsultationNote.id == draft.note_id))
    session.rollback()
    with pytest.raises(ImmutableNote, match="cannot be deleted"):
        session.execute(delete(ConsultationNote.__table__))
    session.rollback()

    assert session.scalar(select(func.count()).select_from(ConsultationNote)) == 1


def test_a_save_from_a_stale_tab_is_refused_and_keeps_the_newer_text(app, session, now):
    case = booked(app, session, now)
    draft = save(session, case, NOTE, now=now)
    opened = ExpectedDraft(draft.note_id, 1)  # two tabs opened this revision
    newer = replace(NOTE, assessment="Probably asthma.")
    save(session, case, newer, now=now + LATER, expected=opened)

    with pytest.raises(StaleDraft, match="saved again"):
        save(session, case, replace(NOTE, plan="From the stale tab."), now=now + 2 * LATER, expected=opened)

    assert page(session, case, now).draft.content == newer
    assert rows(session, case)[0].revision == 2


def test_two_tabs_starting_the_same_note_do_not_overwrite_each_other(app, session, now):
    case = booked(app, session, now)
    save(session, case, NOTE, now=now)

    with pytest.raises(StaleDraft):
        save(session, case, SoapNote(subjective="The other tab"), now=now + LATER)

    assert page(session, case, now).draft.content == NOTE


def test_signing_an_empty_note_is_refused_and_changes_nothing(app, session, now):
    case = booked(app, session, now)
    draft = save(session, case, NOTE, now=now)

    opened = ExpectedDraft(draft.note_id, 1)
    with pytest.raises(InvalidNote) as refused:
        sign(session, case, SoapNote(subjective="  \n "), now=now + LATER, expected=opened)

    assert list(refused.value.errors) == ["subjective"]
    (row,) = rows(session, case)
    assert (row.status, row.revision) == (NoteStatus.DRAFT, 1)


def test_only_the_drafts_author_may_change_or_sign_it(app, session, now):
    app.config["NOTES_ROLES"] = "admin"
    init_app(app)
    case = booked(app, session, now)
    case = replace(case, settings=app.extensions["clinic.notes"])
    draft = save(session, case, NOTE, now=now)
    admin = factories.staff(session, role=StaffRole.ADMIN)

    shown = page(session, case, now, admin)
    opened = ExpectedDraft(draft.note_id, 1)
    for write in (save, sign):
        with pytest.raises(NotDraftAuthor, match=case.clinician.display_name):
            write(session, case, SoapNote(plan="x"), now=now, by=admin, expected=opened)

    assert shown.draft.content is None and not shown.can_edit_draft  # a draft is its author's until signed
    assert page(session, case, now).draft.content == NOTE


def handed_over(session, case, now):
    """The consultation handed to a colleague of its service (the clinician off sick): their login."""
    consultation = case.consultation
    colleague = factories.clinician(session, [consultation.service], weekdays=range(7))
    login = factories.staff(session, role=StaffRole.CLINICIAN, clinician_id=colleague.id)
    reschedule(
        session,
        consultation.id,
        consultation.starts_at,
        now=now,
        actor=Actor.staff(login.id),
        clinician_id=colleague.id,
        enforce_cutoff=False,
    )
    return login


def test_a_draft_left_by_a_clinician_whose_consultation_was_handed_over_is_finished_by_the_colleague(
    app, session, now
):
    """It stayed its first author's, who could no longer open it, so nobody could ever write or sign the
    consultation's note; the page said "Only they can change or sign it"."""
    case = booked(app, session, now)
    draft = save(session, case, replace(NOTE, plan=""), now=now)
    colleague = handed_over(session, case, now)

    shown = page(session, case, now + LATER, colleague)
    signed = sign(
        session, case, NOTE, now=now + LATER, by=colleague, expected=ExpectedDraft(draft.note_id, 1)
    )

    assert shown.can_edit_draft and shown.draft.content == replace(NOTE, plan="")
    (row,) = rows(session, case)
    assert (row.id, row.status, row.version) == (signed.note_id, NoteStatus.SIGNED, 1)
    assert row.author_id == row.signed_by_id == colleague.id
    with pytest.raises(NoteNotFound):  # the first clinician no longer holds the consultation
        page(session, case, now + LATER)


def test_a_draft_whose_author_may_still_open_the_notes_stays_theirs_after_a_handover(app, session, now):
    app.config["NOTES_ROLES"] = "admin"
    init_app(app)
    case = replace(booked(app, session, now), settings=app.extensions["clinic.notes"])
    admin = factories.staff(session, role=StaffRole.ADMIN)
    draft = save(session, case, NOTE, now=now, by=admin)
    colleague = handed_over(session, case, now)

    shown = page(session, case, now, colleague)
    with pytest.raises(NotDraftAuthor):
        save(session, case, NOTE, now=now, by=colleague, expected=ExpectedDraft(draft.note_id, 1))

    assert shown.draft.content is None and not shown.can_edit_draft


def test_an_amendment_needs_a_signed_note_and_no_open_draft(app, session, now):
    case = booked(app, session, now)
    with pytest.raises(NothingToAmend):
        amend(session, case, now)
    draft = save(session, case, NOTE, now=now)
    with pytest.raises(DraftAlreadyOpen):
        amend(session, case, now)
    sign(session, case, NOTE, now=now, expected=ExpectedDraft(draft.note_id, 1))
    amendment = amend(session, case, now + LATER)
    again = amend(session, case, now + LATER)  # asked again (a double click): the amendment open

    assert again == amendment
    versions = [(row.version, row.status) for row in rows(session, case)]
    assert versions == [(1, NoteStatus.SIGNED), (2, NoteStatus.DRAFT)]


def test_another_clinician_gets_not_found_from_every_service(app, session, now):
    case = booked(app, session, now)
    sign(session, case, NOTE, now=now)
    other = booked(app, session, now, start=case.consultation.starts_at + timedelta(days=1)).clinician

    with pytest.raises(NoteNotFound):
        page(session, case, now, other)
    with pytest.raises(NoteNotFound):
        amend(session, case, now, other)
    with pytest.raises(NoteNotFound):
        save(session, case, NOTE, now=now, by=other)
    assert len(rows(session, case)) == 1


def test_a_token_copied_into_another_notes_row_is_refused_not_shown(app, session, now):
    case = booked(app, session, now)
    other = booked(app, session, now, start=case.consultation.starts_at + timedelta(days=1))
    sign(session, case, NOTE, now=now)
    draft = save(session, other, SoapNote(plan="Other patient"), now=now)
    (signed_row,) = rows(session, case)

    session.execute(
        update(ConsultationNote)
        .where(ConsultationNote.id == draft.note_id)
        .values(encrypted_content=signed_row.encrypted_content)
    )
    session.commit()

    shown = page(session, other, now)

    assert shown.draft.unreadable and shown.draft.content is None  # never the other patient's note


def test_note_text_keeps_line_breaks_and_refuses_control_characters_and_excess():
    assert check_text("plan", "one\r\ntwo\rthree\tfour") == "one\ntwo\nthree\tfour"
    assert check_text("plan", None) == ""
    assert "control character" in refusal("plan", "bell\x07")
    assert "under 20,000 characters" in refusal("plan", "x" * (MAX_FIELD_CHARS + 1))
    assert len(check_text("plan", "x" * MAX_FIELD_CHARS)) == MAX_FIELD_CHARS


def refusal(name: str, text: str) -> str:
    """What check_text says beside field `name` when it refuses `text`."""
    with pytest.raises(InvalidNote) as refused:
        check_text(name, text)
    assert str(refused.value) == name  # the exception, unlike the page, holds no note text
    return refused.value.errors[name]


def test_every_control_character_but_tab_and_line_breaks_is_refused():
    # C1 controls (U+0080 to U+009F: NEL, CSI...) were kept though the rule refuses every control character.
    kept = {"\t", "\n", "\r", "\x0b", "\x0c"}  # a tab, and line breaks as browsers and office programs send
    controls = [chr(code) for code in range(0x110000) if unicodedata.category(chr(code)) == "Cc"]

    let_through = [c for c in controls if c not in kept and not _refuses(f"Dose{c} 5 mg")]

    assert let_through == [] and len(controls) == 65


def _refuses(text: str) -> bool:
    try:
        check_text("plan", text)
    except InvalidNote:
        return True
    return False


def test_a_line_or_page_break_pasted_from_an_office_program_becomes_a_line_break():
    # Word and PowerPoint copy a line break within a paragraph as a vertical tab, Word a page break as a
    # form feed.
    pasted = "Chest clear.\x0bNo wheeze.\r\n\x0cPlan:\x0b\x0bfluids"

    assert check_text("plan", pasted) == "Chest clear.\nNo wheeze.\n\nPlan:\n\nfluids"


def test_a_refused_control_character_is_named_with_its_line_column_and_the_words_before_it():
    text = "Cough for five days.\nTook two paracetamol tablets with warm milk\x07 at night,\x1b then slept."

    message = refusal("subjective", text)

    assert "2 control characters" in message and "U+0007" in message
    assert "line 2, column 44, just after “…tablets with warm milk”" in message


def test_a_control_character_at_the_start_of_a_line_says_so():
    message = refusal("plan", "Review in a week.\n\x7fFluids.")

    assert "a control character (U+007F)" in message
    assert "line 2, column 1, at the start of the line" in message
