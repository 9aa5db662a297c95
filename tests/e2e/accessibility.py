"""What the accessibility tests measure on a page: axe-core's violations, tap targets, sideways scrolling,
the focus indicator and focused text's contrast. axe-core comes from axe-playwright-python
(requirements-dev.txt), which ships axe.min.js (axe 4.12) inside the wheel: nothing is fetched when the
tests run."""

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

# WCAG 2.2 level AA, as axe tags its rules (each version's new AA rules carry their own tag).
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# Patients (often elderly) also get AAA contrast: 7:1 for text, 4.5:1 for large text.
AAA_CONTRAST = "color-contrast-enhanced"
TARGET_PX = 44  # WCAG 2.5.5 (AAA) target size, asked for on patient pages
NARROWEST_PX = 320  # WCAG 1.4.10 reflow: 1280 px at 400 % zoom
LARGE_TEXT = "200%"  # the root font size Android's largest text setting gives a page (WCAG 1.4.4: 200 %)
PHONE_PX = 390  # a common phone, where staff read admin tables

_AXE_SCRIPT = Axe().axe_script  # axe.min.js, from the wheel


def violations(page: Page, *, patient: bool) -> dict[str, list[str]]:
    """axe's WCAG 2.2 AA violations (and AAA contrast on a patient page): rule id -> the offending HTML."""
    options = {"runOnly": {"type": "tag", "values": WCAG_AA}, "resultTypes": ["violations"]}
    if patient:  # one run: `rules` adds a rule to those the tags choose
        options["rules"] = {AAA_CONTRAST: {"enabled": True}}
    # Half a megabyte of script: put into each document once, not before every run (as Axe.run does).
    if not page.evaluate("() => 'axe' in window"):
        page.evaluate(_AXE_SCRIPT)
    found = page.evaluate("options => axe.run(options)", options)["violations"]
    return {rule["id"]: [node["html"] for node in rule["nodes"]] for rule in found}


# Every control's box, except links inside a sentence (WCAG's "inline" exception: text flows around them).
_SMALL_TARGETS = """minimum => {
  const inSentence = element => {
    if (element.tagName !== 'A' || getComputedStyle(element).display !== 'inline') return false;
    const block = element.parentElement.closest('p, li, dd, td, div, label, legend');
    return block !== null && block.textContent.trim().length > element.textContent.trim().length;
  };
  const controls = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex="0"]';
  return Array.from(document.querySelectorAll(controls)).flatMap(element => {
    const box = element.getBoundingClientRect();
    if ((box.width === 0 && box.height === 0) || inSentence(element)) return [];
    if (box.width >= minimum && box.height >= minimum) return [];
    return [`${element.outerHTML.slice(0, 100)} is ${Math.round(box.width)}x${Math.round(box.height)} px`];
  });
}"""


def small_targets(page: Page) -> list[str]:
    """The controls smaller than 44 x 44 px on the page as it is laid out now."""
    return page.evaluate(_SMALL_TARGETS, TARGET_PX)


def sideways_scroll(page: Page, width: int, text_size: str = "") -> int:
    """How many px the page is wider than a `width` px window (0: no sideways scrolling), at that width;
    with `text_size`, with the page's root font size set to it (then set back)."""
    page.set_viewport_size({"width": width, "height": 800})
    page.evaluate("size => { document.documentElement.style.fontSize = size; }", text_size)
    try:
        return max(0, page.evaluate("document.documentElement.scrollWidth") - width)
    finally:
        page.evaluate("() => { document.documentElement.style.fontSize = ''; }")


# Where a table sits: inside a region that takes focus and scrolls by itself, no wider than the window.
_UNSCROLLABLE_TABLES = """() => Array.from(document.querySelectorAll('table')).flatMap(table => {
  const region = table.closest('[role=region][tabindex="0"]');
  if (region === null) return [`${table.outerHTML.slice(0, 80)} is in no focusable region`];
  if (getComputedStyle(region).overflowX !== 'auto') {
    return [`the region of ${region.ariaLabel} does not scroll`];
  }
  if (region.getBoundingClientRect().right > document.documentElement.clientWidth) {
    return [`the region of ${region.ariaLabel} is wider than the window`];
  }
  return [];
})"""


def unscrollable_tables(page: Page) -> list[str]:
    """The tables that do not scroll inside a focusable region of their own, as laid out now."""
    return page.evaluate(_UNSCROLLABLE_TABLES)


# A focus indicator: an outline of some width in a visible colour, or a box shadow.
_FOCUS_SHOWN = """() => {
  const element = document.activeElement;
  if (element === null || element === document.body) return 'nothing has focus';
  const style = getComputedStyle(element);
  const transparent = colour => colour === 'transparent' || /rgba\\(.*, 0\\)$/.test(colour);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0
    && !transparent(style.outlineColor);
  if (outline || style.boxShadow !== 'none') return null;
  return `${element.outerHTML.slice(0, 100)} has focus but no outline or box shadow`;
}"""


def focus_problem(page: Page) -> str | None:
    """None when the focused element shows a focus indicator; else what is wrong."""
    return page.evaluate(_FOCUS_SHOWN)


# The focused element is a form control at or inside the element whose id the link's href names.
_FOCUS_IN_FIELD = """href => {
  const field = document.getElementById(href.slice(1));
  const focused = document.activeElement;
  return field !== null && focused.matches('input, select, textarea') && field.contains(focused);
}"""


def opening_focus_problems(page: Page) -> list[str]:
    """What is wrong with where the focus is as the page opens: on its error summary, whose every link
    then puts the focus in its field, its first box or radio (the GOV.UK pattern), else on what the form
    sent before did (the flash message). A screen reader reads what has the focus; a message already
    there when the page loads is often not read at all."""
    opening = page.locator(".error-summary, .flash").first
    if not opening.count():
        return []
    problems = []
    focused = "opening => opening === document.activeElement"
    try:  # autofocus acts when the page is next drawn, which may be after its load event
        page.wait_for_function(focused, arg=opening.element_handle(), timeout=2000)
    except PlaywrightTimeoutError:
        problems.append(f"the focus is on {_focused_html(page)}, not {opening.evaluate('e => e.className')}")
    for link in opening.locator("a[href^='#']").all():
        href = link.get_attribute("href")
        link.focus()
        page.keyboard.press("Enter")
        if not page.evaluate(_FOCUS_IN_FIELD, href):
            problems.append(f"{href} leaves the focus on {_focused_html(page)}")
    return problems


def _focused_html(page: Page) -> str:
    return page.evaluate("document.activeElement.outerHTML.slice(0, 60)")


# Each shown link and button focused in turn, and the contrast of its text (the element's own and that of
# each element inside it) with the nearest background colour behind it then, by WCAG's formula; text of
# 24 px, or 18.66 px and bold, is large. axe reads colours at rest only, and a component's colours can win
# over the focus style's: white on the focus yellow is 1.4:1.
_FOCUSED_CONTRAST = """([normal, large]) => {
  const rgb = colour => colour.match(/[\\d.]+/g).map(Number);
  const linear = c => (c /= 255) <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  const luminance = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  const behind = element => {
    for (let at = element; at; at = at.parentElement) {
      const colour = rgb(getComputedStyle(at).backgroundColor);
      if (colour.length < 4 || colour[3] > 0) return colour;
    }
    return [255, 255, 255];
  };
  const ownText = element => Array.from(element.childNodes).some(n => n.nodeType === 3 && n.data.trim());
  const found = [];
  for (const control of document.querySelectorAll('a[href], button, summary')) {
    if (!control.getClientRects().length) continue;
    control.focus();
    if (document.activeElement !== control) continue;
    for (const element of [control, ...control.querySelectorAll('*')].filter(ownText)) {
      const style = getComputedStyle(element);
      const [text, back] = [rgb(style.color), behind(element)];
      const [light, dark] = [luminance(text), luminance(back)].sort((a, b) => b - a);
      const ratio = (light + 0.05) / (dark + 0.05);
      const size = parseFloat(style.fontSize);
      const big = size >= 24 || (size >= 18.66 && parseInt(style.fontWeight) >= 700);
      if (ratio < (big ? large : normal)) {
        const colours = `${style.color} on rgb(${back.slice(0, 3)})`;
        found.push(`${control.outerHTML.slice(0, 80)}: ${colours}, ${ratio.toFixed(2)}:1`);
      }
    }
  }
  document.activeElement.blur();
  return found;
}"""


def focused_contrast_problems(page: Page, *, patient: bool) -> list[str]:
    """The links and buttons whose text, once focused as by the keyboard, reads below 4.5:1 (3:1 large) on
    what is behind it, or on a patient page below 7:1 (4.5:1 large)."""
    page.keyboard.press("Shift")  # focus moved after a key press shows as the keyboard's (:focus-visible)
    return page.evaluate(_FOCUSED_CONTRAST, [7, 4.5] if patient else [4.5, 3])


def refuse_scripts(page: Page) -> Page:
    """`page`, refusing the app's scripts: the pages as a browser without JavaScript shows them (they have
    no inline script and no <noscript>), in a context where axe still runs. Where JavaScript is off
    (`java_script_enabled=False`) axe's promise never settles: its timers do not fire, and the test
    waits until it times out."""
    page.route("**/*.js", lambda route: route.abort())
    return page
