"""The notes pages: the consultation's clinician writes, signs, amends and prints; everyone else gets
the same 404 (or the sign-in page); every action is an audit event that holds no note text."""

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape
from sqlalchemy import func, select, update

from clinic.models import AuditEvent, Consultation, ConsultationNote, ConsultationStatus, StaffRole, utcnow
from clinic.notes import init_app
from clinic.notes.content import MAX_FIELD_CHARS, SoapNote
from clinic.notes.drafts import ExpectedDraft, start_amendment
from clinic.notes.history import read_notes
from clinic.privacy.retention import RetentionPeriods, apply_retention
from clinic.scheduling.patients import age_on
from clinic.scheduling.timezones import zone

from . import factories
from .factories import sign_in
from .notes_support import NOTE, REASON, booked, form, requester, save, sign
from .test_auth_sessions import sent_to_sign_in_from, shift_session

LONDON = zone("Europe/London")


@pytest.fixture
def client(app):
    return factories.browser(app)


@pytest.fixture
def case(app, session, now):
    return booked(app, session, now)


def notes_url(case, suffix: str = "") -> str:
    return f"/schedule/consultations/{case.id}/notes{suffix}"


def note_count(session) -> int:
    session.commit()
    return session.scalar(select(func.count()).select_from(ConsultationNote))


def note_ids(session) -> list[int]:
    session.commit()
    return list(session.scalars(select(ConsultationNote.id).order_by(ConsultationNote.id)))


def audit_rows(session) -> list[AuditEvent]:
    session.commit()
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action.like("note.%")).order_by(AuditEvent.id))
    )


def revision_of(page: str) -> dict[str, str]:
    """The hidden draft markers a notes page put in its form."""
    return {
        name: re.search(rf'name="{name}" type="hidden" value="(\d*)"', page)[1]
        for name in ("draft", "revision")
    }


def test_the_clinician_sees_the_consultation_and_starts_a_note(client, case):
    sign_in(client, case.clinician)

    response = client.get(notes_url(case))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    patient = case.consultation.patient
    age = age_on(patient.birth_date, utcnow().astimezone(LONDON).date())  # today's, not the consultation's
    assert patient.name in page and f"1980-01-01 (age {age})" in page and REASON in page
    assert "Tuesday 3 March 2026, 10:00 (UK time, GMT+0)" in page
    assert "Start a note" in page and 'aria-describedby="subjective-hint"' in page
    assert "No note has been signed for this consultation yet." in page


def test_the_clinician_saves_signs_amends_and_prints_through_the_pages(client, session, case):
    sign_in(client, case.clinician)

    saved = client.post(notes_url(case), data=form(NOTE))
    draft_page = client.get(notes_url(case)).get_data(as_text=True)
    signed = client.post(notes_url(case, "/sign"), data=form(NOTE, **_markers(draft_page)))
    amended = client.post(notes_url(case, "/amend"))
    amendment_page = client.get(notes_url(case)).get_data(as_text=True)
    corrected = replace(NOTE, plan="Salbutamol inhaler; review in two days.")
    client.post(notes_url(case, "/sign"), data=form(corrected, **_markers(amendment_page)))
    history = client.get(notes_url(case)).get_data(as_text=True)

    assert [r.status_code for r in (saved, signed, amended)] == [303, 303, 303]
    assert "Cough for five days,\nworse at night.</textarea>" in draft_page
    assert "Amendment: version 2, a draft" in amendment_page and NOTE.plan in amendment_page
    assert "Version 2 (current)" in history and "Corrected by version 2." in history
    assert history.index(corrected.plan) < history.index(NOTE.plan)  # both visible, newest first
    assert "Amend the signed note" in history
    first, second = note_ids(session)
    printed = client.get(notes_url(case, f"/{first}/print")).get_data(as_text=True)
    assert "This version has been corrected." in printed and NOTE.subjective in printed
    reprinted = client.get(notes_url(case, f"/{second}/print")).get_data(as_text=True)
    assert "Earlier versions, corrected by this one" in reprinted and corrected.plan in reprinted


def _markers(page: str) -> dict[str, int]:
    markers = revision_of(page)
    return {"draft": int(markers["draft"]), "revision": int(markers["revision"])}


def test_the_print_view_needs_no_script_and_has_print_styles(app, client, session, now, case):
    signed = sign(session, case, NOTE, now=now)
    sign_in(client, case.clinician)

    response = client.get(notes_url(case, f"/{signed.note_id}/print"))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<script>" not in page and "onclick" not in page
    assert "Consultation note, version 1" in page and NOTE.plan in page
    assert 'class="wrapper print-page"' in page
    assert "@media print" in (Path(app.static_folder) / "clinic.css").read_text()


def test_a_draft_has_no_print_view(client, session, now, case):
    draft = save(session, case, NOTE, now=now)
    sign_in(client, case.clinician)

    assert client.get(notes_url(case, f"/{draft.note_id}/print")).status_code == 404


def _other_clinician(app, session, now, case):
    return booked(app, session, now, start=case.consultation.starts_at + timedelta(days=1)).clinician


OUTSIDERS = {
    "another clinician": _other_clinician,
    "an admin": lambda app, session, now, case: factories.staff(session, role=StaffRole.ADMIN),
    "reception": lambda app, session, now, case: factories.staff(session, role=StaffRole.RECEPTION),
}
ROUTES = [
    ("get", ""),
    ("post", ""),
    ("post", "/sign"),
    ("post", "/amend"),
    ("post", "/discard"),
    ("get", "/{note}/print"),
]


@pytest.mark.parametrize("who", OUTSIDERS)
def test_nobody_but_the_consultations_clinician_reaches_any_notes_route(app, client, session, now, case, who):
    signed = sign(session, case, NOTE, now=now)
    sign_in(client, OUTSIDERS[who](app, session, now, case))
    unknown = _without_tokens(client.get("/schedule/consultations/999999/notes").get_data(as_text=True))

    for method, suffix in ROUTES:
        url = notes_url(case, suffix.format(note=signed.note_id))
        response = getattr(client, method)(url, data=form(NOTE))

        assert response.status_code == 404, (method, suffix)
        # The same answer as for no consultation at all.
        assert _without_tokens(response.get_data(as_text=True)) == unknown
    assert NOTE.plan not in unknown and case.consultation.patient.name not in unknown
    assert note_count(session) == 1


def _without_tokens(page: str) -> str:
    """The page without its CSRF tokens, which carry the second they were made."""
    return re.sub(r'name="csrf_token" value="[^"]*"', "", page)


def test_signed_out_visitors_are_sent_to_sign_in(client, session, now, case):
    signed = sign(session, case, NOTE, now=now)

    for method, suffix in ROUTES:
        url = notes_url(case, suffix.format(note=signed.note_id))
        response = getattr(client, method)(url, data=form(NOTE))

        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert note_count(session) == 1


@pytest.mark.parametrize("action", ["", "/sign"], ids=["save", "sign"])
def test_a_note_sent_after_the_idle_timeout_is_said_to_be_unsaved_and_leads_back_to_its_page(
    app, client, session, case, action
):
    sign_in(client, case.clinician)
    shift_session(session, last_seen_at=utcnow() - timedelta(minutes=app.config["STAFF_IDLE_MINUTES"] + 1))

    back, page = sent_to_sign_in_from(client, client.post(notes_url(case, action), data=form(NOTE)))

    assert back == notes_url(case)
    assert "minutes without activity" in page and "What you sent was not saved" in page
    assert NOTE.plan not in page and note_count(session) == 0


def test_reception_is_never_given_notes_and_a_listed_role_is(app, client, session, now, case):
    app.config["NOTES_ROLES"] = "admin"
    init_app(app)
    sign(session, case, NOTE, now=now)
    receptionist = factories.staff(session, role=StaffRole.RECEPTION)
    admin = factories.staff(session, role=StaffRole.ADMIN)

    sign_in(client, receptionist)
    refused = client.get(notes_url(case))
    client.post("/logout")
    sign_in(client, admin)
    allowed = client.get(notes_url(case))
    amended = client.post(notes_url(case, "/amend"))

    assert refused.status_code == 404
    assert allowed.status_code == 200 and NOTE.plan in allowed.get_data(as_text=True)
    assert amended.status_code == 303 and note_count(session) == 2


def test_a_reason_erased_by_retention_is_not_said_to_have_been_none_given(app, client, session, now, case):
    # A year on, retention erases the reason the patient gave; the notes page and its print view then said
    # "Reason for visit: None given", as if the patient had given none.
    app.config["RETENTION_REASON_DAYS"] = 30
    init_app(app)
    signed = sign(session, case, NOTE, now=now)
    today = utcnow().replace(hour=10, minute=0, second=0, microsecond=0)
    next_week_tuesday = today + timedelta(days=7 + (1 - today.weekday()) % 7)
    recent = booked(app, session, utcnow(), start=next_week_tuesday)
    session.execute(update(Consultation).where(Consultation.id == recent.id).values(reason=""))
    session.commit()
    assert apply_retention(session, RetentionPeriods.from_config(app.config), now=utcnow())["reasons"] == 1
    sign_in(client, case.clinician)

    erased = client.get(notes_url(case)).get_data(as_text=True)
    printed = client.get(notes_url(case, f"/{signed.note_id}/print")).get_data(as_text=True)
    details = client.get(f"/schedule/consultations/{case.id}").get_data(as_text=True)
    client.post("/logout")
    sign_in(client, recent.clinician)
    not_given = client.get(notes_url(recent)).get_data(as_text=True)
    recent_details = client.get(f"/schedule/consultations/{recent.id}").get_data(as_text=True)

    for page in (erased, printed, details):
        assert REASON not in page and "None given" not in page and "Not given" not in page
        assert "Not kept: reasons for a visit are erased 30 days after it" in page
    assert "None given" in not_given and "Not given" in recent_details
    assert "Not kept" not in not_given + recent_details


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("subjective", "Rang the bell\x07 twice", "a control character (U+0007) that a note cannot keep"),
        ("plan", "x" * (MAX_FIELD_CHARS + 1), "under 20,000 characters"),
    ],
)
def test_bad_text_is_refused_beside_its_field_and_changes_nothing(
    client, session, case, field, text, message
):
    sign_in(client, case.clinician)

    response = client.post(notes_url(case), data=form(replace(NOTE, **{field: text})))

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field}-error"' in page and message in page
    assert re.search(rf'aria-describedby="{field}-hint {field}-error"', page)
    assert NOTE.objective in page  # what was typed stays in the form
    assert note_count(session) == 0


def test_a_note_pasted_from_an_office_program_is_saved_with_its_line_and_page_breaks(client, session, case):
    sign_in(client, case.clinician)
    pasted = replace(NOTE, subjective="Cough for five days,\x0bworse at night.\x0cSleeps badly.")

    response = client.post(notes_url(case), data=form(pasted))

    assert response.status_code == 303
    page = client.get(notes_url(case)).get_data(as_text=True)
    assert "Cough for five days,\nworse at night.\nSleeps badly." in page


def test_a_refused_character_is_shown_by_line_column_and_the_words_before_it_on_the_notes_page_only(
    client, session, case
):
    sign_in(client, case.clinician)
    pasted = replace(NOTE, plan="Fluids and rest;\nreview in\x1b one week.")

    response = client.post(notes_url(case), data=form(pasted))

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    error = re.search(r'<p class="error-message" id="plan-error">(.*?)</p>', page, re.S)[1]
    assert "line 2, column 10, just after “review in”" in error and "U+001B" in error
    assert "Fluids and rest;\nreview in\x1b one week." in page  # given back as typed
    title = re.search(r"<title>(.*?)</title>", page, re.S)[1]
    assert "review" not in title


def test_a_nul_pasted_into_a_note_is_taken_out_and_the_rest_saved(client, session, now, case):
    sign_in(client, case.clinician)

    response = client.post(notes_url(case), data=form(replace(NOTE, plan="Fluids\x00 and rest.")))

    assert response.status_code == 303
    assert saved_draft(session, now, case).plan == "Fluids and rest."


def saved_draft(session, now, case) -> SoapNote:
    session.commit()
    notes = read_notes(session, case.id, requester=requester(case.clinician), settings=case.settings, now=now)
    return notes.draft.content


# Text as it comes from a clipboard: any character, with those that office programs, terminals and
# broken files put in (line, page and paragraph breaks, NUL, bell, escape, DEL, NEL).
pasted = st.lists(
    st.text(st.characters(codec="utf-8"), max_size=8)
    | st.sampled_from(["\r\n", "\r", "\n", "\t", "\x0b", "\x0c", "\x00", "\x07", "\x1b", "\x7f", "\x85"]),
    max_size=12,
).map("".join)


def test_whatever_is_pasted_is_saved_or_comes_back_with_a_message_beside_its_field(
    client, session, now, case
):
    sign_in(client, case.clinician)

    @settings(max_examples=60, derandomize=True)
    @given(text=pasted)
    def paste(text):
        markers = revision_of(client.get(notes_url(case)).get_data(as_text=True))

        response = client.post(notes_url(case), data={**NOTE.as_dict(), "subjective": text, **markers})

        typed = text.replace("\x00", "")  # a NUL is never anything a person sees or means
        if response.status_code == 303:
            lines = re.sub(r"\r\n?|[\x0b\x0c]", "\n", typed)
            assert saved_draft(session, now, case).subjective == lines
        else:
            page = response.get_data(as_text=True)
            assert response.status_code == 422, page[:300]
            assert 'id="subjective-error"' in page and str(escape(typed)) in page

    paste()


def test_signing_an_empty_note_is_refused_with_a_message(client, session, case):
    sign_in(client, case.clinician)

    response = client.post(notes_url(case, "/sign"), data=form(SoapNote()))

    assert response.status_code == 422
    assert "Write at least one of the four parts" in response.get_data(as_text=True)
    assert note_count(session) == 0


def test_a_long_note_in_any_script_fits_though_the_site_body_limit_is_small(app, client, session, case):
    sign_in(client, case.clinician)
    long_text = "é" * MAX_FIELD_CHARS  # 6 bytes each once form-encoded: ~480 kB for the four fields

    response = client.post(notes_url(case), data=form(SoapNote(long_text, long_text, long_text, long_text)))

    assert app.config["MAX_CONTENT_LENGTH"] < 100_000 and response.status_code == 303
    assert note_count(session) == 1


def test_signed_out_visitors_keep_the_small_body_limit(app, client, case):
    app.config["WTF_CSRF_ENABLED"] = True  # CSRFProtect reads the body before any view runs

    response = client.post(notes_url(case), data=form(SoapNote(plan="x" * 100_000)))

    assert response.status_code == 413


def test_a_save_from_a_stale_tab_gets_409_and_keeps_the_typed_text(client, session, case):
    sign_in(client, case.clinician)
    client.post(notes_url(case), data=form(NOTE))
    opened = _markers(client.get(notes_url(case)).get_data(as_text=True))
    client.post(notes_url(case), data=form(replace(NOTE, plan="Saved in the first tab."), **opened))

    stale = client.post(notes_url(case), data=form(replace(NOTE, plan="Typed in the second tab."), **opened))

    page = stale.get_data(as_text=True)
    assert stale.status_code == 409
    assert "saved again (in another tab or window)" in page and "Typed in the second tab." in page
    latest = client.get(notes_url(case)).get_data(as_text=True)
    assert "Saved in the first tab." in latest and "Typed in the second tab." not in latest


@pytest.mark.parametrize("button", ["", "/sign"], ids=["save", "sign"])
def test_a_double_clicked_save_or_sign_is_done_once_and_both_clicks_are_answered_as_done(
    client, session, case, button
):
    """The second click was refused (409) as a save from a stale tab: "your text was not saved", though it
    was, and, for a sign, told to amend the signed note."""
    sign_in(client, case.clinician)
    client.post(notes_url(case), data=form(replace(NOTE, plan="")))
    opened = _markers(client.get(notes_url(case)).get_data(as_text=True))

    clicks = [client.post(notes_url(case, button), data=form(NOTE, **opened)) for _ in range(2)]

    assert [r.status_code for r in clicks] == [303, 303]
    session.commit()
    (row,) = session.scalars(select(ConsultationNote))
    assert row.revision == opened["revision"] + 1
    assert (row.status.value, case.settings.cipher.read(row)) == ("signed" if button else "draft", NOTE)
    saves = [r for r in audit_rows(session) if r.action in ("note.saved", "note.signed")]
    assert len(saves) == 2 + bool(button)  # the note started, the click's save (and its signature): once


def test_the_forms_carry_csrf_tokens_and_posts_without_one_are_refused(app, client, session, case):
    app.config["WTF_CSRF_ENABLED"] = True
    sign_in(client, case.clinician, csrf_token=_token(client.get("/login")))
    page = client.get(notes_url(case)).get_data(as_text=True)

    refused = client.post(notes_url(case), data=form(NOTE))
    accepted = client.post(notes_url(case), data={**form(NOTE), "csrf_token": _token_in(page)})

    assert (refused.status_code, accepted.status_code) == (400, 303)
    assert note_count(session) == 1


def _token(response) -> str:
    return _token_in(response.get_data(as_text=True))


def _token_in(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]


def _amend_token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


def _text_areas(page: str) -> list[str]:
    return re.findall(r"<textarea[^>]*>\s*([^<]*)</textarea>", page)


def test_a_double_clicked_amend_starts_one_amendment_and_shows_its_text(app, client, session, now, case):
    """The second click was refused (409, "Your change was not saved") over an amendment form with its four
    fields and its draft markers empty: the signed text it started from seemed gone, and a save from it
    was refused as stale."""
    sign(session, case, NOTE, now=now)
    app.config["WTF_CSRF_ENABLED"] = True
    sign_in(client, case.clinician, csrf_token=_token(client.get("/login")))
    token = _amend_token(client.get(notes_url(case)).get_data(as_text=True))

    clicks = [client.post(notes_url(case, "/amend"), data={"csrf_token": token}) for _ in range(2)]
    page = client.get(notes_url(case)).get_data(as_text=True)

    assert [r.status_code for r in clicks] == [303, 303]
    assert note_count(session) == 2
    assert "Amendment: version 2, a draft" in page and NOTE.plan in _text_areas(page)


def test_an_amend_refused_from_a_stale_page_shows_the_open_draft_as_it_is_not_an_empty_form(
    app, client, session, now, case
):
    app.config["NOTES_ROLES"] = "admin"
    init_app(app)
    case = replace(case, settings=app.extensions["clinic.notes"])
    sign(session, case, NOTE, now=now)
    admin = factories.staff(session, role=StaffRole.ADMIN)
    app.config["WTF_CSRF_ENABLED"] = True
    sign_in(client, case.clinician, csrf_token=_token(client.get("/login")))
    token = _amend_token(client.get(notes_url(case)).get_data(as_text=True))
    session.rollback()
    start_amendment(session, case.id, requester=requester(admin), settings=case.settings, now=now)

    refused = client.post(notes_url(case, "/amend"), data={"csrf_token": token})

    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "A draft of this note is already open" in page
    assert "Only they can change or sign it." in page and _text_areas(page) == []


def test_every_read_save_sign_and_amendment_is_audited_without_note_text(client, session, case):
    sign_in(client, case.clinician)
    client.get(notes_url(case))
    client.post(notes_url(case), data=form(replace(NOTE, plan="")))
    opened = _markers(client.get(notes_url(case)).get_data(as_text=True))
    client.post(notes_url(case, "/sign"), data=form(NOTE, **opened))
    client.post(notes_url(case, "/amend"))
    (note_id, _amendment) = note_ids(session)
    client.get(notes_url(case, f"/{note_id}/print"))

    events = audit_rows(session)
    assert [e.action for e in events] == [
        "note.read",
        "note.saved",
        "note.read",
        "note.saved",
        "note.signed",
        "note.amended",
        "note.read",
    ]
    assert {e.actor for e in events} == {f"staff:{case.clinician.id}"}
    assert events[1].details == {"consultation_id": case.id, "version": 1, "fields": list(NOTE.as_dict())[:3]}
    assert events[3].details["fields"] == ["plan"]
    assert events[5].details == {"consultation_id": case.id, "version": 2, "amends_id": note_id}
    assert events[6].details == {
        "consultation_id": case.id,
        "version": 1,
        "view": "print",
        "note_ids": [note_id],
    }
    stored = " ".join(f"{e.entity_type} {e.entity_id} {e.details}" for e in events)
    for text in NOTE.as_dict().values():
        assert text.split()[0] not in stored


def test_printing_an_amendment_is_audited_as_a_read_of_every_version_it_shows(client, session, now, case):
    # The print of version 2 shows version 1's text too, but its audit event named version 2 alone: who read
    # version 1 could not be told from the trail.
    first = sign(session, case, NOTE, now=now)
    amendment = start_amendment(
        session, case.id, requester=requester(case.clinician), settings=case.settings, now=now
    )
    second = sign(
        session, case, replace(NOTE, plan="Inhaler."), now=now, expected=ExpectedDraft(amendment.note_id, 1)
    )
    sign_in(client, case.clinician)

    printed = client.get(notes_url(case, f"/{second.note_id}/print")).get_data(as_text=True)

    assert NOTE.plan in printed and "Inhaler." in printed
    (event,) = [e for e in audit_rows(session) if e.details.get("view") == "print"]
    assert (event.entity_id, event.details["note_ids"]) == (
        str(second.note_id),
        [first.note_id, second.note_id],
    )


@pytest.mark.parametrize("status", list(ConsultationStatus))
def test_the_notes_page_and_its_print_name_the_status_as_the_schedule_does(
    client, session, now, case, status
):
    signed = sign(session, case, NOTE, now=now)
    case.consultation.status = status
    session.commit()
    sign_in(client, case.clinician)

    schedule = client.get(f"/schedule/consultations/{case.id}").get_data(as_text=True)
    notes = client.get(notes_url(case)).get_data(as_text=True)
    printed = client.get(notes_url(case, f"/{signed.note_id}/print")).get_data(as_text=True)

    named = re.search(r"data-status>([^<]+)</span>", schedule)[1]  # e.g. Done, In call
    assert f"<dt>Status</dt><dd>{named}</dd>" in notes
    assert f"<dt>Status</dt><dd>{named}</dd>" in printed
