"""Putting a refusal beside the field it names, on the form the page shows again."""

from collections.abc import Mapping

from flask_wtf import FlaskForm
from wtforms import Field


def show_beside(field: Field, message: str) -> None:
    """Add `message` to the field's errors: a list once the form is validated, a tuple before, which has
    no append (a page that checks a query it never validated gave a 500)."""
    field.errors = [*field.errors, message]


def show_beside_fields(form: FlaskForm, errors: Mapping[str, str], prefix: str = "") -> None:
    """Add each message to the field `prefix` + its name."""
    for name, message in errors.items():
        show_beside(form[prefix + name], message)


def show_saved(
    form: FlaskForm, saved: FlaskForm, changed: list[str], field_of: Mapping[str, str] | None = None
) -> None:
    """Show in `form` what another admin saved meanwhile (as `saved`, the row as saved now, has it), beside
    each field they changed (`field_of` names a row's field's form field where they differ); what this admin
    typed in the others is kept."""
    for name in ((field_of or {}).get(name, name) for name in changed):
        if name in form:
            form[name].data, form[name].raw_data = saved[name].data, None  # drawn from data, not the post
            show_beside(
                form[name], "Someone changed this since you opened this page: it shows what they saved."
            )
