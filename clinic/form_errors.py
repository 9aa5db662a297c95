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
