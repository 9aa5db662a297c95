"""What a browser sends for a page's forms: each field's value as the page draws it, so a test posts what
people post (a select's "None" option sends its drawn value, not the "" a test would type)."""

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class DrawnForm:
    action: str
    method: str
    values: dict[str, str] = field(default_factory=dict)
    selects: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # the fields people type text into


TEXT_INPUTS = ("text", "email", "tel", "search", "url")


def drawn_forms(page: str) -> list[DrawnForm]:
    """Every form on the page with what a browser would submit for it untouched: text and hidden inputs,
    checked boxes and radios, each select's selected (or else first) option, textareas. Fields without
    a name, and buttons, send nothing."""
    reader = _FormReader()
    reader.feed(page)
    return reader.forms


def form_values(page: str, action: str, method: str | None = None) -> dict[str, str]:
    """What the (first) form sending to `action`, with `method` if given, sends untouched."""
    found = [f for f in drawn_forms(page) if f.action == action and method in (None, f.method)]
    if not found:
        raise AssertionError(f"no form sending to {action!r} on the page")
    return dict(found[0].values)


class _FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[DrawnForm] = []
        self._form: DrawnForm | None = None
        self._select: str | None = None
        self._first_option: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._form = DrawnForm(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._form)
        if self._form is None:
            return
        name, values = a.get("name"), self._form.values
        if tag == "input" and name and a.get("type", "text") not in ("submit", "button", "image", "reset"):
            if a.get("type") not in ("checkbox", "radio"):
                values[name] = a.get("value", "")
            if a.get("type", "text") in TEXT_INPUTS:
                self._form.texts.append(name)
            elif "checked" in a:
                values[name] = a.get("value", "on")
        elif tag == "select" and name:
            self._select, self._first_option = name, None
            self._form.selects.append(name)
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._first_option is None:
                self._first_option = value
            if "selected" in a:
                values[self._select] = value
        elif tag == "textarea" and name:
            self._textarea = name
            values[name] = ""
            self._form.texts.append(name)

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea:
            self._form.values[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if self._form is None:
            return
        if tag == "select" and self._select:
            self._form.values.setdefault(self._select, self._first_option or "")
            self._select = None
        elif tag == "textarea" and self._textarea:
            # A newline just after <textarea> is not its value's (HTML): WTForms draws one.
            value = self._form.values[self._textarea]
            self._form.values[self._textarea] = (
                value.removeprefix("\r\n") if value[:2] == "\r\n" else value.removeprefix("\n")
            )
            self._textarea = None
        elif tag == "form":
            self._form = None
