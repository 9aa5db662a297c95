"""A clinician never loses a note to the idle sign-out, in a real browser. Two minutes before it, the page
asks whether they are still there and lets them stay signed in; a screen left alone still signs out, and
leaves for the sign-in page. The text sent or left after the session went idle comes back on the notes
page once they sign in again, kept meanwhile in that browser tab only; nobody else who signs in on that
tab sees it, and signing out deletes it."""

import pytest
from playwright.sync_api import Page

from .clinician import PLAN, SUBJECTIVE, open_notes, send_note_when_idle, warned_before_the_idle_sign_out
from .conftest import leave_idle, minutes_idle, screenshot, sign_in


def copies_in_tab(page: Page) -> list[str]:
    """The copies kept in the tab once the page's script has run: a page's text shows (and a wait for it
    returns) before its deferred script keeps, puts back or drops them at DOMContentLoaded."""
    page.wait_for_load_state()
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


def test_the_page_warns_two_minutes_before_the_idle_sign_out_and_staying_keeps_the_session(
    live_app, new_page
):
    page = open_notes(new_page, "Ida Wells")

    warning = warned_before_the_idle_sign_out(live_app, page)

    assert "signed out in 2 minutes" in warning.inner_text()
    screenshot(page, "idle-warning")
    warning.get_by_role("button", name="Stay signed in").click()
    warning.wait_for(state="hidden")
    assert minutes_idle(live_app, "clinician") < 1


def test_a_screen_left_alone_signs_out_and_the_note_left_on_it_comes_back(live_app, new_page):
    page = open_notes(new_page, "Emily Hobhouse")
    notes = page.url
    page.get_by_label("Subjective").fill(SUBJECTIVE)
    page.get_by_label("Plan").fill(PLAN)
    # The typing's keep-alive goes: activity. Its answer is awaited, or a late one would record activity
    # after the test had set the session idle, and no warning would come (seen under CI's load).
    with page.expect_response("**/account/alive"):
        page.clock.fast_forward("01:00")
    warned_before_the_idle_sign_out(live_app, page)

    leave_idle(live_app, "clinician", 31)
    page.clock.fast_forward("02:00")

    page.wait_for_url("**/login?next=*")
    told = page.locator("main").inner_text()
    assert "signed out after 30 minutes without activity" in told and "Your note was not saved" in told
    sign_in(page, "clinician", here=True)
    assert page.url == notes and page.get_by_label("Plan").input_value() == PLAN


def test_text_typed_before_the_page_s_scripts_ran_still_keeps_the_session_alive(live_app, new_page):
    """A slow network can show the note's fields before the keep-alive script arrives: what the clinician
    types meanwhile is activity all the same, or the idle sign-out could come while they write."""
    page = open_notes(new_page, "Mary Seacole")
    held = []
    page.route("**/keep_alive.js", lambda route: held.append(route))  # unanswered until the text is typed
    page.reload(wait_until="commit")
    page.get_by_label("Subjective").fill(SUBJECTIVE)
    assert len(held) == 1

    held[0].continue_()
    page.wait_for_load_state()
    leave_idle(live_app, "clinician", 20)  # only the keep-alive can make the session active again
    with page.expect_response("**/account/alive"):
        page.clock.fast_forward("01:00")

    assert minutes_idle(live_app, "clinician") < 1


def test_a_note_sent_after_a_sign_out_in_another_tab_is_not_kept_for_the_next_person(live_app, new_page):
    """The copy serves only the idle sign-out: a session ended another way (signed out in another tab or
    browser, ended by an admin) ends it too, so the next person at this browser finds nothing."""
    page = open_notes(new_page, "Clara Zetkin")
    notes = page.url
    page.get_by_label("Subjective").fill(SUBJECTIVE)
    page.get_by_label("Plan").fill(PLAN)
    other_tab = page.context.new_page()
    other_tab.goto("/schedule/")
    other_tab.get_by_role("button", name="Sign out").click()
    other_tab.get_by_role("heading", name="Staff sign in").wait_for()

    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url("**/login?next=*")

    assert copies_in_tab(page) == []
    assert "What you sent was not saved" in page.locator("main").inner_text()
    assert not page.get_by_role("alert").filter(has_text="Your note was not saved").is_visible()
    sign_in(page, "clinician", here=True)
    assert page.url == notes and page.get_by_label("Plan").input_value() == ""


def test_a_note_kept_at_an_idle_sign_out_is_gone_once_the_sign_in_page_is_opened_again(live_app, new_page):
    page = open_notes(new_page, "Rosa Luxemburg")
    send_note_when_idle(live_app, page)
    assert len(copies_in_tab(page)) == 1

    page.reload()

    assert copies_in_tab(page) == []
    assert "Your note was not saved" not in page.locator("main").inner_text()
