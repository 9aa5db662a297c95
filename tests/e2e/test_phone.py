"""A patient on a 360 x 640 phone, by touch: the pages an elderly patient's review found hard there."""

from playwright.sync_api import Page, expect

from .conftest import AUDIT_CONSULTATION
from .patient import book, new_patient, open_manage_link

PHONE = {"viewport": {"width": 360, "height": 640}, "has_touch": True, "is_mobile": True}

# The review's reference: a line may break after its hyphen, as it may not before a digit ("Y88-6YJK").
REVIEWED = "947-MBWJ"

# How many lines a booking's `reference` takes in the element `selector`, once written as REVIEWED: the tops
# of its boxes, counted.
_LINES_OF_REFERENCE = """([selector, reference, reviewed]) => {
  const walker = document.createTreeWalker(document.querySelector(selector), NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.data.indexOf(reference);
    if (at < 0) continue;
    node.data = node.data.replace(reference, reviewed);
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + reviewed.length);
    return new Set(Array.from(range.getClientRects(), box => Math.round(box.top))).size;
  }
  return 0;
}"""


def reference_lines(page: Page, selector: str, reference: str) -> int:
    return page.evaluate(_LINES_OF_REFERENCE, [selector, reference, REVIEWED])


def test_any_days_times_are_one_tap_away_on_a_phone(new_page):
    """A week's times are ~150 radios, many screens long on a phone; the links to each day were off screen
    for all but keyboard users (left: -9999px), so a touch user had to scroll to Friday."""
    page = new_page(**PHONE)
    page.goto("/book")
    page.get_by_label(AUDIT_CONSULTATION, exact=True).check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Continue").click()
    third_day = page.locator("fieldset.day").nth(2)
    day, first_time = third_day.locator("legend").inner_text(), third_day.locator("input").first
    link = page.get_by_role("link", name=day, exact=True)

    box = link.bounding_box()
    assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= 360
    link.tap()

    expect(first_time).to_be_in_viewport()
    expect(third_day.locator("legend")).to_be_in_viewport()  # the day's heading shows above its times


def test_a_booking_reference_stays_on_one_line_on_a_phone(new_page):
    """The review: "Your booking 947-" on one line and "MBWJ" on the next."""
    page = new_page(**PHONE)
    booked = book(page, new_patient("Winifred Example"), service=AUDIT_CONSULTATION)
    confirmed = reference_lines(page, ".panel", booked.reference)

    open_manage_link(page, booked.manage_url)

    assert (confirmed, reference_lines(page, "h1", booked.reference)) == (1, 1)
