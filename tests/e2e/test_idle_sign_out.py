"""A clinician never loses a note to the idle sign-out, in a real browser: the text sent after the session
went idle comes back on the notes page once they sign in again, kept meanwhile in that browser tab only;
nobody else who signs in on that tab sees it, and signing out deletes it."""

import pytest
from playwright.sync_api import Page

from .clinician import PLAN, SUBJECTIVE, open_notes, send_note_when_idle
from .conftest import screenshot, sign_in


def copies_in_tab(page: Page) -> list[str]:
    return page.evaluate("() => Object.keys(sessionStorage)")


@pytest.mark.parametrize(
    ("button", "patient"), [("Save draft", "Ida Tarbell"), ("Sign note", "Dorothy Thompson")]
)
def test_a_note_sent_after_the_idle_sign_out_comes_back_once_signed_in_again(
    live_app, new_page, button, patient
):
    page = open_notes(new_page, patient)
    notes = page.url

    told = send_note_when_idle(live_app, page, button)

    assert "signed out after 30 minutes without activity" in told and "What you sent was not saved" in told
    assert "Your note was not saved" in told and "kept in this browser tab" in told
    screenshot(page, "note-kept-at-sign-in")
    sign_in(page, "clinician", here=True)
    assert page.url == notes
    assert (page.get_by_label("Subjective").input_value(), page.get_by_label("Plan").input_value()) == (
        SUBJECTIVE,
        PLAN,
    )
    restored = page.get_by_role("region", name="Your note is back, not saved yet")
    assert restored.is_visible()
    screenshot(page, "note-put-back")

    page.get_by_role("button", name=button).click()
    if button == "Sign note":
        page.get_by_role("heading", name="Version 1 (current)").wait_for()
        assert PLAN in page.locator("article.note-version").first.inner_text()
    else:
        page.get_by_text("Draft saved.").wait_for()
        assert page.get_by_label("Plan").input_value() == PLAN
    assert not restored.is_visible() and copies_in_tab(page) == []


def test_someone_else_signing_in_on_the_tab_never_sees_the_kept_note(live_app, new_page):
    page = open_notes(new_page, "Nellie Bly")
    send_note_when_idle(live_app, page)
    assert len(copies_in_tab(page)) == 1

    sign_in(page, "walk-in clinician", here=True)

    assert copies_in_tab(page) == []
    assert SUBJECTIVE not in page.content()


def test_signing_out_deletes_the_kept_note(live_app, new_page):
    page = open_notes(new_page, "Martha Gellhorn")
    notes = page.url
    send_note_when_idle(live_app, page)
    sign_in(page, "clinician", here=True)
    assert page.get_by_label("Plan").input_value() == PLAN

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Staff sign in").wait_for()

    assert copies_in_tab(page) == []
    assert "Your note was not saved" not in page.locator("main").inner_text()
    sign_in(page, "clinician")
    page.goto(notes)
    assert page.get_by_label("Plan").input_value() == ""
