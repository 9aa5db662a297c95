"""The data layer: every model, importable from `clinic.models`."""

from .audit import AuditEvent
from .base import MAX_ID, Base, utcnow
from .notes import ConsultationNote, ImmutableNote, NoteStatus
from .outbox import OutboxKind, OutboxMessage, OutboxStatus, WorkerHeartbeat
from .people import Clinician, Department, Patient, Service, clinician_service
from .scheduling import (
    ACTIVE_STATUSES,
    AvailabilityRule,
    Closure,
    Companion,
    CompanionRole,
    ConsentMethod,
    Consultation,
    ConsultationFacts,
    ConsultationStatus,
    IdempotencyKey,
    TimeOff,
)
from .staff import LoginFailure, RecoveryCode, SessionEnd, StaffRole, StaffSession, StaffUser
from .waitlist import OfferStatus, WaitlistEntry, WaitlistOffer, WaitlistStatus
from .walk_in import (
    CURRENT_ENTRY_STATUSES,
    EntryStatus,
    QueueStatus,
    WalkInEntry,
    WalkInHours,
    WalkInQueue,
    walk_in_duty,
)

__all__ = [
    "ACTIVE_STATUSES",
    "CURRENT_ENTRY_STATUSES",
    "MAX_ID",
    "AuditEvent",
    "AvailabilityRule",
    "Base",
    "Clinician",
    "Closure",
    "Companion",
    "CompanionRole",
    "ConsentMethod",
    "Consultation",
    "ConsultationFacts",
    "ConsultationNote",
    "ConsultationStatus",
    "Department",
    "EntryStatus",
    "IdempotencyKey",
    "ImmutableNote",
    "LoginFailure",
    "NoteStatus",
    "OfferStatus",
    "OutboxKind",
    "OutboxMessage",
    "OutboxStatus",
    "Patient",
    "QueueStatus",
    "RecoveryCode",
    "Service",
    "SessionEnd",
    "StaffRole",
    "StaffSession",
    "StaffUser",
    "TimeOff",
    "WaitlistEntry",
    "WaitlistOffer",
    "WaitlistStatus",
    "WalkInEntry",
    "WalkInHours",
    "WalkInQueue",
    "WorkerHeartbeat",
    "clinician_service",
    "utcnow",
    "walk_in_duty",
]
