"""The walk-in join form in a real browser: the interpreter's language shows once its box is ticked (by
CSS alone: without it, or without :has, the field is always there and asked for only when ticked)."""

from playwright.sync_api import expect

from .conftest import WALK_IN_SLUG


def test_the_interpreters_language_shows_once_its_box_is_ticked(live_app, new_page):
    page = new_page()
    page.goto(f"/walk-in/{WALK_IN_SLUG}")
    language = page.get_by_label("Which language should the interpreter speak?")
    needs = page.get_by_label("I need an interpreter")

    expect(language).to_be_hidden()
    needs.check()
    expect(language).to_be_visible()
    language.fill("Polish")
    needs.uncheck()
    expect(language).to_be_hidden()
