"""`flask --app wsgi clinic …` commands."""

import json
from datetime import datetime

import click
from flask import Flask, current_app
from werkzeug.serving import WSGIRequestHandler

import config as settings

from .audit import SYSTEM
from .command_group import DatabaseCommands, notice_development_settings
from .extensions import db
from .models import SessionEnd, StaffRole, StaffUser, utcnow
from .scheduling.tokens import LinkKeys

clinic = DatabaseCommands("clinic", help="Clinic commands.")


@clinic.command("demo")
@click.option("--bookings", default=300, show_default=True, help="How many future bookings to make.")
def demo(bookings: int) -> None:
    """Load the demo hospital and its staff logins (each unless it is there already). Not in production."""
    from .demo import demo_logins, load_demo

    # The demo password is in the README: no demo login may exist on a real server.
    _refuse_in_production("the demo hospital is for development only; CLINIC_ENV is production")
    config, now = current_app.config, utcnow()
    made = load_demo(db.session, now=now, keys=LinkKeys.from_config(config), bookings=bookings)
    click.echo("Demo hospital loaded." if made else "Demo hospital already present; nothing to do.")
    click.echo("Demo logins, each with the password in CLINIC_DEMO_PASSWORD (see the README):")
    for login in demo_logins(db.session, now=now, password=config["DEMO_PASSWORD"]):
        click.echo(f"  {login.role:<10} {login.email}{'  (new)' if login.created else ''}")


@clinic.command("create-user")
@click.option("--email", required=True, help="The e-mail address they sign in with.")
@click.option("--name", required=True, help="Their name as the pages show it.")
@click.option("--role", required=True, type=click.Choice([role.value for role in StaffRole]))
@click.option("--clinician", "clinician_id", type=int, help="For a clinician login: the clinician's id.")
@click.option("--department", "department_id", type=int, help="For a reception login: the department's id.")
def create_user(
    email: str, name: str, role: str, clinician_id: int | None, department_id: int | None
) -> None:
    """Add a staff login; once its details will do, asks for its password twice."""
    from .staff.accounts import check_new_staff, create_staff
    from .staff.errors import InvalidAccount

    details = {
        "email": email,
        "display_name": name,
        "role": StaffRole(role),
        "clinician_id": clinician_id,
        "department_id": department_id,
    }
    try:
        check_new_staff(db.session, **details)
        user = create_staff(db.session, **details, password=_new_password(), now=utcnow(), actor=SYSTEM)
    except InvalidAccount as invalid:
        raise click.ClickException(str(invalid)) from None
    click.echo(f"{user.role} login {user.id} created for {user.email}: sign in at /login.")


@clinic.command("list-clinicians")
def list_clinicians() -> None:
    """Every clinician's id (create-user --clinician), name and department, and who has a login already."""
    from .staff.directory import clinicians_with_logins, link_choices

    clinicians, _ = link_choices(db.session)
    with_logins = clinicians_with_logins(db.session)
    for clinician in clinicians:
        notes = [clinician.department.name]
        notes += [] if clinician.active else ["inactive"]
        notes += ["has a login"] if clinician.id in with_logins else []
        click.echo(f"{clinician.id:>6}  {clinician.display_name}  ({', '.join(notes)})")


@clinic.command("list-departments")
def list_departments() -> None:
    """Every department's id (create-user --department) and name."""
    from .staff.directory import link_choices

    _, departments = link_choices(db.session)
    for department in departments:
        click.echo(f"{department.id:>6}  {department.name}{'' if department.active else '  (inactive)'}")


@clinic.command("set-password")
@click.option("--email", required=True, help="The staff member's e-mail address.")
def set_password(email: str) -> None:
    """Set a staff member's password, unlock the account and end its sessions; asks twice."""
    from .staff.accounts import change_password

    user = change_password(db.session, _account(email).id, _new_password(), now=utcnow(), actor=SYSTEM)
    click.echo("Password changed; every session of the account has ended.")
    if not user.active:
        click.echo("The account is still deactivated: `reactivate-user` lets it sign in again.")


@clinic.command("end-sessions")
@click.option("--email", required=True, help="The staff member's e-mail address.")
def end_sessions(email: str) -> None:
    """Sign a staff member out everywhere (a lost laptop, a shared computer left signed in)."""
    from .staff.sessions import end_sessions as end_all

    ended = end_all(db.session, _account(email).id, SessionEnd.ADMIN, now=utcnow(), actor=SYSTEM)
    click.echo(f"Ended {ended} session{'' if ended == 1 else 's'}.")


@clinic.command("deactivate-user")
@click.option("--email", required=True, help="The staff member's e-mail address.")
def deactivate_user(email: str) -> None:
    """Stop a staff login from signing in, and end every session it has."""
    from .staff.accounts import deactivate_staff

    deactivate_staff(db.session, _account(email).id, now=utcnow(), actor=SYSTEM, keep_an_admin=False)
    click.echo("Deactivated; every session of the account has ended.")


@clinic.command("reactivate-user")
@click.option("--email", required=True, help="The staff member's e-mail address.")
def reactivate_user(email: str) -> None:
    """Let a deactivated staff login sign in again (afresh: no session from before comes back)."""
    from .staff.accounts import reactivate_staff

    reactivate_staff(db.session, _account(email).id, now=utcnow(), actor=SYSTEM)
    click.echo("Reactivated: the account may sign in again.")


@clinic.command("reset-mfa")
@click.option("--email", required=True, help="The staff member's e-mail address.")
def reset_mfa(email: str) -> None:
    """Remove a staff member's second factor and recovery codes (a lost phone), and end its sessions."""
    from .staff.mfa import reset_mfa as reset

    if reset(db.session, _account(email).id, now=utcnow(), actor=SYSTEM):
        click.echo("Second factor removed and sessions ended: they set up a new one at /account/two-factor.")
    else:
        click.echo("The account has no second factor: there was nothing to remove.")


def _account(email: str) -> StaffUser:
    from .staff.accounts import required_staff
    from .staff.errors import NoSuchAccount

    try:
        return required_staff(db.session, email)
    except NoSuchAccount as missing:
        raise click.ClickException(str(missing)) from None


def _new_password() -> str:
    from .staff.accounts import check_password
    from .staff.errors import InvalidAccount

    def checked(value: str) -> str:
        try:
            return check_password(value)
        except InvalidAccount as invalid:
            raise click.BadParameter(invalid.errors["password"]) from None  # click asks again

    db.session.rollback()  # what was read is ended: no transaction stays open while someone types
    return click.prompt("Password", hide_input=True, confirmation_prompt=True, value_proc=checked)


notes = DatabaseCommands("notes", help="Consultation notes.")
clinic.add_command(notes)


@notes.command("rotate")
def rotate_notes_key() -> None:
    """Re-encrypt every note with the first CLINIC_NOTES_KEY, so the keys after it can be removed.

    Exit status: 0 all rotated; 3 all rotated but the versions (or reasons) it names, which no key opens
    and which it leaves as they are: the other keys can be removed all the same."""
    from .notes.rotation import rotate_note_keys, rotate_reason_keys
    from .notes.settings import notes_settings

    cipher = notes_settings(current_app).cipher
    notes = rotate_note_keys(db.session, cipher, now=utcnow(), actor=SYSTEM)
    reasons = rotate_reason_keys(db.session, cipher, now=utcnow(), actor=SYSTEM)
    click.echo(
        f"{notes.count} note versions re-encrypted with the first key, and the reasons given on"
        f" {reasons.count} consultations; the other keys can now be removed."
    )
    if unreadable := notes.unreadable + reasons.unreadable:
        for what in unreadable:
            click.echo(f"Left as it was: no CLINIC_NOTES_KEY opens {what}.", err=True)
        click.echo(
            f"{len(unreadable)} left unreadable: the pages say so in their place. If the key they were"
            " written with is found, put it back at the end of CLINIC_NOTES_KEY and run this again.",
            err=True,
        )
        raise SystemExit(3)


patient = DatabaseCommands("patient", help="Patients' data rights.")
clinic.add_command(patient)


@patient.command("export")
@click.option("--email", help="The person's e-mail address, in any case.")
@click.option("--phone", help="Or their phone number, however it is written (07700 900123, +44 7700 900123).")
@click.option(
    "--birth-date",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Only records with this birth date (YYYY-MM-DD), where they carry one.",
)
@click.option("--name", help="Only records with this name where no birth date tells (walk-in calls).")
def export_patient(
    email: str | None, phone: str | None, birth_date: datetime | None, name: str | None
) -> None:
    """Print one person's data as JSON (subject access): details, bookings, mails sent, signed notes."""
    from .notes.settings import notes_settings
    from .privacy.subject_access import export_person
    from .privacy.subject_lookup import Asker, SharedContact

    if (email is None) == (phone is None):
        raise click.UsageError("Give the person's --email or their --phone, one of them.")
    asker = Asker(email, phone, birth_date.date() if birth_date else None, name)
    try:
        export = export_person(
            db.session,
            asker,
            notes=notes_settings(current_app),
            now=utcnow(),
            exporter=None,  # the server's operator, who holds the notes key: audited as system
        )
    except SharedContact as shared:
        raise click.UsageError(f"{shared} (--{shared.needs.replace('_', '-')})") from None
    click.echo(json.dumps(export, indent=2, ensure_ascii=False))


audit_group = DatabaseCommands("audit", help="The audit trail.")
clinic.add_command(audit_group)


@audit_group.command("verify")
def verify_audit() -> None:
    """Check every audit event's hash and link, and the chain's end against the signed anchor.

    Exit status: 0 intact, 1 broken, 3 intact with a declared break (events of a key declared lost in
    CLINIC_AUDIT_LOST_KEY_IDS, wherever they sit in the chain, or outside production of an audit key
    derived from a former secret key: they cannot be verified; every other event is)."""
    from .audit import Break, verdict, verify

    result = verify(db.session)
    broken = isinstance(result, Break)
    click.echo(verdict(result), err=broken)
    if broken:
        raise SystemExit(1)
    if result.lost:
        raise SystemExit(3)


@clinic.command("worker", schema_first=False)
def worker() -> None:
    """Run the outbox worker (meetings, mails, reminders) until stopped: in production, its own process."""
    from .jobs.worker import run_worker

    run_worker(current_app._get_current_object())


@clinic.command("serve", schema_first=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def serve(host: str, port: int) -> None:
    """Development only: the development server with the outbox worker in a thread of the same process."""
    from werkzeug.serving import run_simple

    from .jobs.worker import BackgroundWorker

    # Werkzeug's server is not made for the Internet (its own warning), and its worker thread is one more.
    _refuse_in_production(
        "`clinic serve` is the development server, not for production (CLINIC_ENV is production):"
        " run gunicorn as docs/operations.md says"
    )
    app = current_app._get_current_object()
    worker = BackgroundWorker(app)
    try:
        # No reloader: its second process would start a second worker. (`app.run` refuses to run
        # inside a `flask` command, hence Werkzeug directly.)
        run_simple(host, port, app, threaded=True, request_handler=_PathOnlyRequestHandler)
    finally:
        worker.stop()


def _refuse_in_production(refusal: str) -> None:
    # CLINIC_ENV, not app.debug: the flask command resets that from FLASK_DEBUG.
    if settings.config_name() == "production":
        raise click.ClickException(refusal)


class _PathOnlyRequestHandler(WSGIRequestHandler):
    """The development server's request lines without the query string, as gunicorn.conf.py has them."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.path = self.path.partition("?")[0]  # logged once the app has its request: it read the query
        super().log_request(code, size)


def register(app: Flask) -> None:
    app.cli.add_command(clinic)
    notice_development_settings(app)
