"""The admin pages' forms: the outbox filter, paging, days, and the video providers to choose from."""

from datetime import MAXYEAR

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectChoice, SelectField
from wtforms.widgets import HiddenInput

from ..meetings.base import PROVIDER_NAMES, configuration_problem
from ..models import OutboxStatus

PROVIDER_LABELS = {
    "jitsi": "Jitsi",
    "teams": "Microsoft Teams",
    "zoom": "Zoom",
    "webhook": "Webhook (the hospital's own meeting service)",
}
DEFAULT_VIEW = ""
NOT_LISTED = "Choose one of the options in the list."
# A choice field's messages: a value it cannot read (not a number, say) is not in the list either.
LISTED_ONLY = {"invalid_choice_message": NOT_LISTED, "invalid_value_message": NOT_LISTED}


class PageField(IntegerField):
    """A page number from a link: anything malformed shows the first page."""

    widget = HiddenInput()

    def process_formdata(self, valuelist: list[str]) -> None:
        text = valuelist[0] if valuelist else ""
        self.data = int(text) if text.isascii() and text.isdigit() and 0 < len(text) <= 6 else 1
        self.data = max(self.data, 1)


class DayField(DateField):
    """A whole day, typed or picked; anything else gets a message saying how to write one."""

    def process_formdata(self, valuelist: list[str]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Enter a date as YYYY-MM-DD, for example 2026-03-02.") from None
        if self.data and self.data.year >= MAXYEAR:  # the day after it would not exist
            self.data = None
            raise ValueError("Enter a date before the year 9999.")


class OutboxFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter: links and bookmarks work

    status = SelectField(
        "Show",
        choices=[SelectChoice(DEFAULT_VIEW, "Needs attention, under way or finished in the last day")]
        + [SelectChoice(status.value, status.value.capitalize()) for status in OutboxStatus],
        default=DEFAULT_VIEW,
        **LISTED_ONLY,
    )
    page = PageField(default=1)

    def chosen_status(self) -> OutboxStatus | None:
        """The status to list; None for the default view (also when the choice was not valid)."""
        if self.status.errors or self.status.data == DEFAULT_VIEW:
            return None
        return OutboxStatus(self.status.data)


def provider_choices() -> list[SelectChoice]:
    """Every video provider, after the empty choice that means the hospital's MEETING_PROVIDER."""
    default = current_app.config["MEETING_PROVIDER"]
    return [SelectChoice("", f"Hospital default ({provider_label(default)})")] + [
        SelectChoice(name, provider_label(name)) for name in PROVIDER_NAMES
    ]


def provider_label(name: str) -> str:
    return PROVIDER_LABELS.get(name, name)


def provider_problem(name: str) -> str | None:
    """Why provider `name` cannot make meetings with the hospital's settings (those it misses), or None."""
    return configuration_problem(name, current_app.config)
