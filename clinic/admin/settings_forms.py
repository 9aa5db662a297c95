"""The settings page's forms: which provider to test, and where to send a test message."""

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectChoice, SelectField
from wtforms.validators import DataRequired, Email, Length

from ..meetings.base import PROVIDER_NAMES
from .forms import LISTED_ONLY, provider_label


class ProviderCheckForm(FlaskForm):
    provider = SelectField("Video provider", **LISTED_ONLY)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.provider.choices = [SelectChoice(name, provider_label(name)) for name in PROVIDER_NAMES]
        if self.provider.data is None:
            self.provider.data = current_app.config["MEETING_PROVIDER"]


class MailCheckForm(FlaskForm):
    to = EmailField(
        "Send a test message to",
        validators=[
            DataRequired("Enter the e-mail address to send the test message to."),
            Length(max=254, message="Keep it under 254 characters."),
            Email("Enter an e-mail address like name@hospital.example."),
        ],
        render_kw={"spellcheck": "false", "autocomplete": "email"},
    )
