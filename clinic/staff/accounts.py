"""Staff accounts: creating them, their role, their passwords, unlocking, deactivating and reactivating.

Every change is an audit event in its own transaction; none carries an e-mail address or a password.
There is always an active admin: the last one can be neither demoted nor deactivated.
"""

import functools
import hashlib
import secrets
from collections.abc import Callable, Collection
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..audit import Actor, changes
from ..hospital.records import apply_changes
from ..models import AuditEvent, Clinician, Department, SessionEnd, StaffRole, StaffUser
from ..models.transactions import lock_rule, write_transaction
from ..scheduling.patients import required_text
from . import events
from .errors import InvalidAccount, LastAdmin, NoSuchAccount, RoleChangedMeanwhile
from .sessions import close_sessions

MIN_PASSWORD_LENGTH = 12
MAX_NAME = 120
# The rule that no two accounts share an address or a clinician, checked under its lock (`lock_rule`).
LOGINS = "staff logins"
ROLE_CHANGED = "staff.role_changed"
DEACTIVATED = "staff.deactivated"
_hasher = PasswordHasher()  # argon2id with the library's current parameters


def hash_password(password: str) -> str:
    """An argon2id hash of `password`, with its salt and parameters."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str, *, hasher: PasswordHasher = _hasher) -> bool:
    """Whether `password` matches `password_hash`: one full argon2 verification either way."""
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_mark(user: StaffUser) -> str:
    """A short mark of the account's current password (of its hash, which a new password's salt always
    changes): what a step taken with a password holds, so that setting another password voids it."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


@functools.cache
def dummy_hash() -> str:
    """A hash no password matches, verified for unknown addresses so they cost what known ones do."""
    return hash_password(secrets.token_urlsafe(16))


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password(password: str) -> str:
    """`password` if it is long enough for a staff account; else InvalidAccount."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidAccount({"password": f"Use at least {MIN_PASSWORD_LENGTH} characters."})
    return password


def staff_by_email(session: Session, email: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.email == normalise_email(email)))


def required_staff(session: Session, email: str) -> StaffUser:
    """The account with this e-mail address, else NoSuchAccount."""
    user = staff_by_email(session, email)
    if user is None:
        raise NoSuchAccount()
    return user


def check_new_staff(
    session: Session,
    *,
    email: str,
    display_name: str,
    role: StaffRole,
    clinician_id: int | None = None,
    department_id: int | None = None,
) -> None:
    """InvalidAccount naming every detail of a new account that is wrong, its password aside: for asking
    the password only of an account that can be made (create_staff checks them all again)."""
    _checked_details(
        session, email, display_name, None, _role_errors(session, role, clinician_id, department_id)
    )


def create_staff(
    session: Session,
    *,
    email: str,
    display_name: str,
    password: str,
    role: StaffRole,
    now: datetime,
    actor: Actor,
    clinician_id: int | None = None,
    department_id: int | None = None,
) -> StaffUser:
    """Add a staff account and commit; InvalidAccount names every field that is wrong.

    A clinician login is linked to a clinician no other login has; reception staff need a department.
    """
    password_hash = hash_password(password)  # before the transaction: the slow hash holds no lock
    with write_transaction(session):
        lock_rule(session, LOGINS)
        errors = _role_errors(session, role, clinician_id, department_id)
        email, display_name = _checked_details(session, email, display_name, password, errors)
        user = StaffUser(
            email=email,
            display_name=display_name,
            password_hash=password_hash,
            role=role,
            clinician_id=clinician_id,
            department_id=department_id,
            created_at=now,
        )
        session.add(user)
        session.flush()
        events.record(session, user.id, "staff.created", now, actor, {"role": str(role)})
    return user


def change_password(
    session: Session,
    user_id: int,
    password: str,
    *,
    now: datetime,
    actor: Actor,
    check: Callable[[StaffUser], None] | None = None,
) -> StaffUser:
    """Set a new password, lift any lock and end every session of the account; commits.

    `check` sees the locked account first and may raise to change nothing (a reset link used twice).
    """
    check_password(password)
    password_hash = hash_password(password)  # before the transaction: the slow hash holds no lock
    with write_transaction(session):
        user = locked_account(session, user_id)
        if check is not None:
            check(user)
        user.password_hash = password_hash
        clear_failures(user)
        events.record(session, user.id, "staff.password_changed", now, actor)
        close_sessions(session, user.id, SessionEnd.PASSWORD_CHANGED, now=now, actor=actor)
    return user


def rehash_if_outdated(session: Session, user: StaffUser, password: str) -> None:
    """Store `password` (just verified) again if its hash has older argon2 parameters than ours."""
    if not _hasher.check_needs_rehash(user.password_hash):
        return
    password_hash = hash_password(password)
    with write_transaction(session):
        session.get(StaffUser, user.id, with_for_update=True).password_hash = password_hash


def deactivate_staff(
    session: Session, user_id: int, *, now: datetime, actor: Actor, keep_an_admin: bool = True
) -> StaffUser:
    """Stop the account signing in and end every session it has; commits.

    LastAdmin for the last active admin, unless `keep_an_admin` is off: the server's operator (the CLI),
    who can always make a new admin, may shut the last one out at once, as in a break-in.
    """
    with write_transaction(session):
        if keep_an_admin:
            _refuse_if_last_admin(session, user_id)
        user = locked_account(session, user_id)
        user.active = False
        events.record(session, user.id, DEACTIVATED, now, actor)
        close_sessions(session, user.id, SessionEnd.DEACTIVATED, now=now, actor=actor)
    return user


def reactivate_staff(session: Session, user_id: int, *, now: datetime, actor: Actor) -> StaffUser:
    """Let a deactivated account sign in again, afresh; commits. No session of before comes back: one
    that a deactivation by hand left open is ended here. An active account is left as it is."""
    with write_transaction(session):
        user = locked_account(session, user_id)
        if not user.active:
            close_sessions(session, user.id, SessionEnd.DEACTIVATED, now=now, actor=actor)
            user.active = True
            clear_failures(user)
            events.record(session, user.id, "staff.reactivated", now, actor)
    return user


def change_role(
    session: Session,
    user_id: int,
    role: StaffRole,
    *,
    now: datetime,
    actor: Actor,
    clinician_id: int | None = None,
    department_id: int | None = None,
    drawn: int | None = None,
) -> StaffUser:
    """Give the account `role` and its link (a clinician or a department), as `create_staff` checks them;
    commits. InvalidAccount names each wrong field; LastAdmin when it would leave no active admin;
    RoleChangedMeanwhile when the role was changed since its page was drawn at `drawn` (`role_version`).

    Any change ends the account's sessions: each was opened under the old role's sign-in rules (a
    receptionist made admin has not passed the second factor an admin may need), so it signs in again.
    """
    with write_transaction(session):
        lock_rule(session, LOGINS)  # every role change waits here: none comes between the check and this
        if drawn is not None and role_version(session, user_id) > drawn:
            raise RoleChangedMeanwhile()
        errors = _role_errors(session, role, clinician_id, department_id, user_id=user_id)
        if errors:
            raise InvalidAccount(errors)
        if role is not StaffRole.ADMIN:
            _refuse_if_last_admin(session, user_id)
        user = locked_account(session, user_id)
        before = {"role": user.role, "clinician": user.clinician_id, "department": user.department_id}
        user.role, user.clinician_id, user.department_id = role, clinician_id, department_id
        after = {"role": role, "clinician": clinician_id, "department": department_id}
        if before != after:
            details = {"role": str(role), **changes(before, after)}
            events.record(session, user.id, ROLE_CHANGED, now, actor, details)
            close_sessions(session, user.id, SessionEnd.ROLE_CHANGED, now=now, actor=actor)
    return user


def change_details(
    session: Session,
    user_id: int,
    *,
    email: str,
    display_name: str,
    now: datetime,
    actor: Actor,
    drawn: int | None = None,
) -> StaffUser:
    """Correct the account's name and e-mail address (its sign-in), checked as `create_staff` checks them;
    commits and audits which changed (`staff_user.saved`, by field name: never the address). InvalidAccount
    names each wrong field; ChangedMeanwhile when someone saved them since the page was drawn at `drawn`
    (see `records.apply_changes`). Sessions go on: who signs in is the same person."""
    with write_transaction(session):
        lock_rule(session, LOGINS)
        user = locked_account(session, user_id)
        email, display_name = _checked_details(session, email, display_name, None, {}, user_id=user_id)
        fields = {"display_name": display_name, "email": email}
        apply_changes(session, user, fields, action="staff_user.saved", now=now, actor=actor, drawn=drawn)
    return user


def role_version(session: Session, user_id: int) -> int:
    """The id of the audit event of the account's last change of role, 0 if none: the version its role
    form is drawn at."""
    return _last_event(session, user_id, (ROLE_CHANGED,))


def standing_version(session: Session, user_id: int) -> int:
    """The id of the audit event of the account's last change of role or deactivation, 0 if none: what a
    password link is made for, so that either voids it (a reactivated account starts afresh)."""
    return _last_event(session, user_id, (ROLE_CHANGED, DEACTIVATED))


def _last_event(session: Session, user_id: int, actions: tuple[str, ...]) -> int:
    query = select(func.max(AuditEvent.id)).where(
        AuditEvent.entity_type == "staff_user",
        AuditEvent.entity_id == str(user_id),
        AuditEvent.action.in_(actions),
    )
    return session.scalar(query) or 0


def unlock_staff(session: Session, user_id: int, *, now: datetime, actor: Actor) -> StaffUser:
    """Lift the lockout after too many failed sign-ins and forget the failures counted; commits."""
    with write_transaction(session):
        user = locked_account(session, user_id)
        was_locked = user.locked_until is not None and user.locked_until > now
        clear_failures(user)
        events.record(session, user.id, "staff.unlocked", now, actor, {"was_locked": was_locked})
    return user


def clear_failures(user: StaffUser) -> None:
    """Forget the account's failed sign-ins and lift its lock (`user` locked by the caller)."""
    user.failed_logins, user.failures_since, user.locked_until = 0, None, None


def locked_account(session: Session, user_id: int) -> StaffUser:
    """The account, row-locked for the caller's write transaction; NoSuchAccount if there is none."""
    user = session.get(StaffUser, user_id, with_for_update=True, populate_existing=True)
    if user is None:
        raise NoSuchAccount("There is no such staff account.")
    return user


def _refuse_if_last_admin(session: Session, user_id: int) -> None:
    """LastAdmin if `user_id` is the only active admin. Every active admin row is locked, in id order,
    so two admins demoting each other at once are served one after the other: the second is refused."""
    admins = session.scalars(
        select(StaffUser.id)
        .where(StaffUser.role == StaffRole.ADMIN, StaffUser.active.is_(True))
        .order_by(StaffUser.id)
        .with_for_update()
    ).all()
    if admins == [user_id]:
        raise LastAdmin()


def _role_errors(
    session: Session,
    role: StaffRole,
    clinician_id: int | None,
    department_id: int | None,
    *,
    user_id: int | None = None,
) -> dict[str, str]:
    errors = {}
    if role is StaffRole.CLINICIAN:
        if clinician_id is None or session.get(Clinician, clinician_id) is None:
            errors["clinician"] = "A clinician login needs the id of an existing clinician."
        elif _clinician_login(session, clinician_id) not in (None, user_id):
            errors["clinician"] = "That clinician has a login already."
    elif clinician_id is not None:
        errors["clinician"] = "Only a clinician login is linked to a clinician."
    if role is StaffRole.RECEPTION:
        if department_id is None or session.get(Department, department_id) is None:
            errors["department"] = "A reception login needs the id of an existing department."
    elif department_id is not None:
        errors["department"] = "Only a reception login belongs to a department."
    return errors


def _clinician_login(session: Session, clinician_id: int) -> int | None:
    """The id of the account linked to the clinician, if any."""
    return session.scalar(select(StaffUser.id).where(StaffUser.clinician_id == clinician_id))


def _checked_details(
    session: Session,
    email: str,
    display_name: str,
    password: str | None,
    errors: dict[str, str],
    *,
    user_id: int | None = None,
) -> tuple[str, str]:
    """The address and name as stored, or InvalidAccount naming each wrong field (with `errors` already
    found); the address may be `user_id`'s own, no other account's."""
    try:
        email = normalise_email(validate_email(email.strip(), check_deliverability=False).normalized)
    except EmailNotValidError:
        errors["email"] = "Enter an e-mail address like name@hospital.example."
    else:
        if (holder := staff_by_email(session, email)) is not None and holder.id != user_id:
            errors["email"] = "A staff account with this e-mail address exists already."
    missing = "Enter their name, as the pages will show it."
    display_name = required_text(display_name, "display_name", MAX_NAME, errors, missing=missing)
    try:
        if password is not None:  # None: asked for once the other details will do
            check_password(password)
    except InvalidAccount as invalid:
        errors.update(invalid.errors)
    if errors:
        raise InvalidAccount(errors)
    return email, display_name


def actor_names(session: Session, actors: Collection[str]) -> dict[str, str]:
    """How the staff pages name each of `actors` (as audit events record them): staff by their name, the
    rest in words."""
    ids = {int(actor.removeprefix("staff:")) for actor in actors if actor.startswith("staff:")}
    staff = dict(
        session.execute(select(StaffUser.id, StaffUser.display_name).where(StaffUser.id.in_(ids))).all()
    )
    names = {
        "patient": "the patient",
        "companion": "the patient's companion",
        "system": "the system",
        "anonymous": "someone not signed in",
    }
    names |= {f"staff:{user_id}": name for user_id, name in staff.items()}
    return {actor: names.get(actor, actor) for actor in actors}
