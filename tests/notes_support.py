"""What the notes tests share: a booked consultation with its clinician's login, and notes written
through the real services or pages."""

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask

from clinic.models import Consultation, StaffRole, StaffUser
from clinic.notes.content import SoapNote
from clinic.notes.drafts import ExpectedDraft, Saved, save_note
from clinic.notes.settings import NotesSettings, notes_settings
from clinic.staff.members import StaffMember

from . import factories

TUESDAY_10 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
REASON = "Breathless on stairs since Sunday"
NOTE = SoapNote(
    subjective="Cough for five days,\nworse at night.",
    objective="Temperature 38.2 C; chest clear.",
    assessment="Viral upper respiratory infection.",
    plan="Fluids and rest; review in one week.",
)


@dataclass(frozen=True)
class Booked:
    """A consultation, its clinician's login, and the notes settings of the app it lives in."""

    consultation: Consultation
    clinician: StaffUser
    settings: NotesSettings

    @property
    def id(self) -> int:
        return self.consultation.id


def booked(app: Flask, session, now: datetime, *, start: datetime = TUESDAY_10) -> Booked:
    """A consultation booked through the real booking service, with a login for its clinician."""
    service = factories.service(session)
    clinician = factories.clinician(session, [service])
    session.commit()  # booking opens its own write transaction
    consultation = factories.booking(
        session, service, start, now=now, clinician_id=clinician.id, reason=REASON
    ).consultation
    login = factories.staff(session, role=StaffRole.CLINICIAN, clinician_id=clinician.id)
    return Booked(consultation, login, notes_settings(app))


def requester(user: StaffUser) -> StaffMember:
    return StaffMember(user.id, user.role, user.clinician_id)


def save(session, case: Booked, note: SoapNote, *, now: datetime, **options) -> Saved:
    """Save `note` as the draft; options: `by` (the clinician by default), `expected` (a new note)."""
    return _write(session, case, note, now=now, sign=False, **options)


def sign(session, case: Booked, note: SoapNote, *, now: datetime, **options) -> Saved:
    """Save `note` into the draft and sign it; options as for `save`."""
    return _write(session, case, note, now=now, sign=True, **options)


def _write(session, case: Booked, note: SoapNote, *, now, sign, by=None, expected=None) -> Saved:
    who = requester(by or case.clinician)
    expected = expected or ExpectedDraft()
    return save_note(
        session, case.id, note, expected, sign=sign, requester=who, settings=case.settings, now=now
    )


def form(note: SoapNote, *, draft: int | None = None, revision: int | None = None) -> dict[str, str]:
    """The note form's fields as a browser posts them."""
    fields = {**note.as_dict(), "draft": "" if draft is None else str(draft)}
    return fields | {"revision": "" if revision is None else str(revision)}
