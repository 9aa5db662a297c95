"""The walk-in join form: a name, one way to reach the caller, an interpreter (and language) if they need
one, consent.
There is deliberately no field for the reason of the call."""

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.widgets import HiddenInput

from ..form_errors import show_beside_fields
from ..models import ConsentMethod
from ..scheduling.booking import Consent
from ..scheduling.patients import MAX_NAME, InvalidDetails
from ..walkin.callers import MAX_LANGUAGE, CallerDetails, check_caller_details
from .forms import IdempotencyKeyField

# The labels of a form sent for another person (a carer's), who is "they" where the caller is "you".
FOR_SOMEONE_ELSE = {
    "name": "Their name",
    "contact": "Their e-mail address or phone number, or yours",
    "needs_interpreter": "They need an interpreter",
    "interpreter_language": "Which language should the interpreter speak for them?",
    "consent": "They agree that the hospital may use these details to call them back on video",
}


class JoinQueueForm(FlaskForm):
    name = StringField("Your name", render_kw={"autocomplete": "name", "maxlength": MAX_NAME})
    contact = StringField(
        "Your e-mail address or phone number", render_kw={"autocomplete": "email", "spellcheck": "false"}
    )
    needs_interpreter = BooleanField("I need an interpreter")
    # Always on the page (no script needed); asked for only when the box is ticked.
    interpreter_language = StringField(
        "Which language should the interpreter speak?", render_kw={"maxlength": MAX_LANGUAGE}
    )
    consent = BooleanField("I agree that the hospital may use these details to call me back on video")
    join_key = IdempotencyKeyField()
    # Joining for another person from a browser that holds a place.
    someone_else = BooleanField(widget=HiddenInput())

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.someone_else.data:
            for name, label in FOR_SOMEONE_ELSE.items():
                self[name].label.text = label

    def checked(self) -> tuple[CallerDetails, Consent] | None:
        """The details and consent; None, with each message beside its field, if anything is wrong."""
        valid = self.validate()
        try:
            details = check_caller_details(
                name=self.name.data,
                contact=self.contact.data,
                consented=self.consent.data,
                needs_interpreter=self.needs_interpreter.data,
                interpreter_language=self.interpreter_language.data,
                smtputf8=current_app.config["MAIL_SMTPUTF8"],
            )
        except InvalidDetails as invalid:
            show_beside_fields(self, invalid.errors)
            return None
        if not valid:
            return None
        return details, Consent(current_app.config["PRIVACY_NOTICE_VERSION"], ConsentMethod.ONLINE)
