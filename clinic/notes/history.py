"""Reading notes: a consultation's header, its signed history and draft, and one signed version to
print. Every read is an audit event (`note.read`) in the same transaction as the read itself."""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .. import audit
from ..audit import Actor
from ..models import Consultation, ConsultationNote, NoteStatus
from ..models.transactions import write_transaction
from ..privacy.retention import reasons_erased
from ..scheduling.events import NOTES_READ
from ..scheduling.patients import age_on
from ..scheduling.status import STATUS_LABELS
from ..scheduling.timezones import zone
from ..staff.members import StaffMember
from .access import consultation_for, keeps_draft
from .content import SoapNote
from .encryption import NoteCipher
from .errors import NoteNotFound
from .settings import NotesSettings


@dataclass(frozen=True)
class ConsultationHeader:
    """What the clinician needs to know about the consultation above its notes."""

    id: int
    reference: str
    patient_name: str
    birth_date: date | None  # None for a walk-in caller, and once the patient's details were anonymised
    age: int | None
    anonymised: bool  # a booking's patient whose details were erased by retention
    starts_at: datetime
    time_zone: str  # the clinician's: the notes pages show every time in it
    service_name: str
    clinician_name: str
    reason: str | None  # None for a walk-in call, whose caller is never asked one
    # The days reasons are kept, when this consultation is past them: its reason, if one was given, is erased.
    reason_erased_after_days: int | None
    status: str  # as every staff page names it (Done, In call): scheduling.status.STATUS_LABELS


@dataclass(frozen=True)
class NoteVersion:
    id: int
    version: int
    status: NoteStatus
    amends_id: int | None
    author_id: int
    author_name: str
    revision: int
    updated_at: datetime
    signed_at: datetime | None
    signed_by_name: str | None
    content: SoapNote | None  # None for a draft someone else keeps (only they read it), or an unreadable one
    corrected_by: int | None = None  # the version that amends this one, if any
    amends_version: int | None = None  # the version this one corrects, if any
    unreadable: bool = False  # no configured key opens its text: encryption.UNREADABLE_VERSION says so


@dataclass(frozen=True)
class NotesPage:
    consultation: ConsultationHeader
    signed: list[NoteVersion]  # newest first: the first is the current note
    draft: NoteVersion | None
    can_edit_draft: (
        bool  # a note not yet started, or a readable draft the requester keeps (access.keeps_draft)
    )
    can_amend: bool  # no draft open, and a current note that can be read: an amendment starts from its text
    # The open draft no key opens, which the requester keeps: they may discard it and go on (drafts.py).
    can_discard_draft: bool
    discarded: list[NoteVersion]  # drafts discarded as no key opened them, oldest first: never their text


@dataclass(frozen=True)
class PrintedNote:
    consultation: ConsultationHeader
    note: NoteVersion
    earlier: list[NoteVersion]  # the versions it corrects, newest first
    corrected_by: NoteVersion | None
    printed_at: datetime


def read_notes(
    session: Session, consultation_id: int, *, requester: StaffMember, settings: NotesSettings, now: datetime
) -> NotesPage:
    """The notes page's content for `requester`; NoteNotFound if they may not see it."""
    with write_transaction(session):
        consultation = consultation_for(session, consultation_id, requester, settings.granted_roles)
        rows = note_rows(session, consultation_id)
        draft_row = next((row for row in rows if row.status is NoteStatus.DRAFT), None)
        own_draft = draft_row is not None and keeps_draft(
            requester, draft_row.author, consultation, settings.granted_roles
        )
        draft = _version(draft_row, rows, settings.cipher, shown=own_draft) if draft_row else None
        signed = _signed_versions(rows, settings.cipher)
        shown = [version.id for version in signed] + ([draft_row.id] if own_draft else [])
        record_notes_read(session, requester.actor, consultation_id, shown, now)
        discarded = [row for row in rows if row.status is NoteStatus.DISCARDED]
        return NotesPage(
            consultation=_header(consultation, settings, now),
            signed=signed[::-1],
            draft=draft,
            can_edit_draft=(own_draft and not draft.unreadable) or len(rows) == len(discarded),
            can_amend=draft_row is None and bool(signed) and not signed[-1].unreadable,
            can_discard_draft=own_draft and draft.unreadable,
            discarded=[_version(row, rows, settings.cipher, shown=False) for row in discarded],
        )


def printable_version(
    session: Session,
    consultation_id: int,
    note_id: int,
    *,
    requester: StaffMember,
    settings: NotesSettings,
    now: datetime,
) -> PrintedNote:
    """A signed version with the versions it corrects, to print; NoteNotFound for drafts and strangers."""
    with write_transaction(session):
        consultation = consultation_for(session, consultation_id, requester, settings.granted_roles)
        signed = _signed_versions(note_rows(session, consultation_id), settings.cipher)
        position = next((i for i, version in enumerate(signed) if version.id == note_id), None)
        if position is None:
            raise NoteNotFound("There is no signed note here to print.")
        note, earlier = signed[position], signed[:position]
        # Every version whose text the page shows (the earlier ones too) by id, as the notes page's read.
        shown = {"note_ids": [version.id for version in (*earlier, note)]}
        audit.record(
            session,
            requester.actor,
            NOTES_READ,
            entity_type="consultation_note",
            entity_id=note.id,
            now=now,
            details={"consultation_id": consultation_id, "version": note.version, "view": "print", **shown},
        )
        later = signed[position + 1] if position + 1 < len(signed) else None
        return PrintedNote(_header(consultation, settings, now), note, earlier[::-1], later, now)


def record_notes_read(
    session: Session, actor: Actor, consultation_id: int, note_ids: list[int], now: datetime
) -> None:
    """A read of a consultation's notes, for the audit trail: the versions shown by id, never their text."""
    audit.record(
        session,
        actor,
        NOTES_READ,
        entity_type="consultation",
        entity_id=consultation_id,
        now=now,
        details={"note_ids": note_ids},
    )


def note_rows(session: Session, consultation_id: int) -> list[ConsultationNote]:
    """Every version of a consultation's note, oldest first."""
    query = (
        select(ConsultationNote)
        .where(ConsultationNote.consultation_id == consultation_id)
        .options(selectinload(ConsultationNote.author), selectinload(ConsultationNote.signed_by))
        .order_by(ConsultationNote.version)
    )
    return list(session.scalars(query))


def _signed_versions(rows: list[ConsultationNote], cipher: NoteCipher) -> list[NoteVersion]:
    """The signed versions, oldest first, each knowing which version corrects it."""
    signed = [row for row in rows if row.status is NoteStatus.SIGNED]
    corrected_by = {row.amends_id: row.version for row in signed if row.amends_id is not None}
    return [_version(row, rows, cipher, corrected_by=corrected_by.get(row.id)) for row in signed]


def _version(
    row: ConsultationNote,
    rows: list[ConsultationNote],
    cipher: NoteCipher,
    *,
    shown: bool = True,
    corrected_by: int | None = None,
) -> NoteVersion:
    """`row` as the pages show it (its text read when `shown`); `rows`: every version of its note."""
    content = cipher.read_if_readable(row) if shown else None
    amends = next((other.version for other in rows if other.id == row.amends_id), None)
    return NoteVersion(
        id=row.id,
        version=row.version,
        status=row.status,
        amends_id=row.amends_id,
        author_id=row.author_id,
        author_name=row.author.display_name,
        revision=row.revision,
        updated_at=row.updated_at,
        signed_at=row.signed_at,
        signed_by_name=row.signed_by.display_name if row.signed_by else None,
        content=content,
        corrected_by=corrected_by,
        amends_version=amends,
        unreadable=shown and content is None,
    )


def reason_erased_after_days(
    consultation: Consultation, settings: NotesSettings, now: datetime
) -> int | None:
    """The days a reason for visit is kept, if `consultation` is past them (its reason, if one was given, is
    erased: an empty one is no sign that none was); None before then, and for a walk-in call (none asked)."""
    kept_for = settings.reasons_kept_for
    erased = not consultation.is_walk_in and reasons_erased(consultation.ends_at, kept_for, now)
    return kept_for.days if erased else None


def _header(consultation: Consultation, settings: NotesSettings, now: datetime) -> ConsultationHeader:
    time_zone = consultation.clinician.time_zone
    patient = consultation.patient
    birth_date = patient.known_birth_date
    return ConsultationHeader(
        id=consultation.id,
        reference=consultation.reference,
        patient_name=patient.name,
        birth_date=birth_date,
        age=age_on(birth_date, now.astimezone(zone(time_zone)).date()),
        anonymised=patient.details_anonymised,
        starts_at=consultation.starts_at,
        time_zone=time_zone,
        service_name=consultation.service.name,
        clinician_name=consultation.clinician.display_name,
        reason=None if consultation.is_walk_in else consultation.reason_text,
        reason_erased_after_days=reason_erased_after_days(consultation, settings, now),
        status=STATUS_LABELS[consultation.status],
    )
