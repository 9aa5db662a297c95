"""One radio button with its label, as the booking pages draw it: a template global, `radio(...)`.

Written in Python rather than as a Jinja macro because the time step draws one per free time (about 170
on a page of a week): a macro call cost more than the rest of that page's template.
"""

from collections.abc import Sequence

from markupsafe import Markup, escape


def radio(
    name: str,
    value: object,
    label: object,
    checked: bool = False,
    errors: Sequence[str] = (),
    hint: object = "",
    note: object = "",
    note_id: str = "",
) -> Markup:
    """One radio of a group named `name`; the group's error (see _form.html's radio_group) describes every
    radio. A `note` is a few words shown in the label itself (so no one misses it), explained at `note_id`.
    """
    plain_id = f"{name}-{value}"
    described_by = [f"{name}-error"] if errors else []
    described_by += [f"{plain_id}-hint"] if hint else []
    described_by += [note_id] if note_id else []
    id = escape(plain_id)
    # The whitespace is the macro's that this replaced, so the pages are unchanged byte for byte.
    return Markup(
        f'\n\n\n<div class="choice">\n  <input type="radio" id="{id}" name="{escape(name)}"'
        + f' value="{escape(value)}"'
        + (" checked" if checked else "")
        + (f' aria-describedby="{escape(" ".join(described_by))}"' if described_by else "")
        + (' aria-invalid="true"' if errors else "")
        + f'>\n  <label for="{id}">{escape(label)}'
        + (f' <strong class="tag">{escape(note)}</strong>' if note else "")
        + "</label>\n  "
        + (f'<p class="hint" id="{id}-hint">{escape(hint)}</p>' if hint else "")
        + "\n</div>\n"
    )
