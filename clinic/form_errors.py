"""Putting a service's refusal beside the fields it names, on the form the page shows again."""

from collections.abc import Mapping

from flask_wtf import FlaskForm


def show_beside_fields(form: FlaskForm, errors: Mapping[str, str], prefix: str = "") -> None:
    """Add each message to the field `prefix` + its name (a field not yet validated holds a tuple)."""
    for name, message in errors.items():
        field = form[prefix + name]
        field.errors = [*field.errors, message]
