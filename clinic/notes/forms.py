"""The note form: the four SOAP fields, checked by the note rules, and the draft it was filled in from."""

from flask_wtf import FlaskForm
from wtforms import Field, TextAreaField, ValidationError
from wtforms.widgets import HiddenInput

from .content import FIELDS, InvalidNote, SoapNote, check_text
from .drafts import ExpectedDraft
from .history import NoteVersion

HINTS = {
    "subjective": "What the patient tells you: the complaint, its history, their symptoms.",
    "objective": "What you observe or measure: examination findings, vital signs, results.",
    "assessment": "Your assessment: the likely diagnosis or the differential.",
    "plan": "What happens next: treatment, prescriptions, referrals, follow-up.",
}
# A value no draft has: a hidden field that came back malformed makes the save stale, not invalid.
_NO_DRAFT = -1


class NoteTextField(TextAreaField):
    """One SOAP field, tidied and checked with the note rules."""

    def pre_validate(self, form: FlaskForm) -> None:
        try:
            self.data = check_text(self.name, self.data)
        except InvalidNote as invalid:
            raise ValidationError(invalid.errors[self.name]) from None


class DraftMarkerField(Field):
    """A hidden number the page put in the form (the draft's id or revision); empty means none."""

    widget = HiddenInput()

    def process_formdata(self, valuelist: list[str]) -> None:
        text = valuelist[0] if valuelist else ""
        if not text:
            self.data = None
        else:
            self.data = int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else _NO_DRAFT

    def _value(self) -> str:
        return "" if self.data is None else str(self.data)


class NoteForm(FlaskForm):
    subjective = NoteTextField("Subjective", render_kw={"rows": 6})
    objective = NoteTextField("Objective", render_kw={"rows": 6})
    assessment = NoteTextField("Assessment", render_kw={"rows": 4})
    plan = NoteTextField("Plan", render_kw={"rows": 4})
    draft = DraftMarkerField()
    revision = DraftMarkerField()

    @classmethod
    def for_draft(cls, draft: NoteVersion | None) -> "NoteForm":
        """A form showing `draft` (the requester's own), or an empty one for a note not yet started."""
        if draft is None or draft.content is None:
            return cls(formdata=None)
        return cls(
            formdata=None, data={**draft.content.as_dict(), "draft": draft.id, "revision": draft.revision}
        )

    def note(self) -> SoapNote:
        return SoapNote(**{name: self[name].data or "" for name in FIELDS})

    def expected(self) -> ExpectedDraft:
        return ExpectedDraft(self.draft.data, self.revision.data or 0)

    def show_errors(self, errors: dict[str, str]) -> None:
        """Put a service's InvalidNote messages beside their fields."""
        for name, message in errors.items():
            self[name].errors = [*self[name].errors, message]
