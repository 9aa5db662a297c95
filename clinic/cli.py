"""`flask --app wsgi clinic …` commands."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask, current_app
from flask.cli import AppGroup

import config as settings

from .audit import SYSTEM
from .extensions import db
from .models import utcnow

clinic = AppGroup("clinic", help="Clinic commands.")


@clinic.command("demo")
@click.option("--bookings", default=300, show_default=True, help="How many future bookings to make.")
def demo(bookings: int) -> None:
    """Load the demo hospital (does nothing if it is already there). Not in production."""
    from .demo import load_demo

    # The demo admin's password is in the README: it must never exist on a real server. (Not
    # app.debug: the flask command resets it from FLASK_DEBUG.)
    if settings.config_name() == "production":
        raise click.ClickException("the demo hospital is for development only; CLINIC_ENV is production")
    made = load_demo(db.session, now=utcnow(), secret=current_app.config["SECRET_KEY"], bookings=bookings)
    click.echo("Demo hospital loaded." if made else "Demo hospital already present; nothing to do.")


@clinic.command("create-admin")
@click.option("--email", required=True, help="The admin's e-mail address, which they sign in with.")
@click.option("--name", required=True, help="The admin's name as the pages show it.")
def create_admin(email: str, name: str) -> None:
    """Add an admin staff account; asks for its password twice."""
    from .models import StaffRole
    from .staff.accounts import InvalidAccount, create_staff

    password = _new_password()
    try:
        user = create_staff(
            db.session,
            email=email,
            display_name=name,
            password=password,
            role=StaffRole.ADMIN,
            now=utcnow(),
            actor=SYSTEM,
        )
    except InvalidAccount as invalid:
        raise click.ClickException(str(invalid)) from None
    click.echo(f"Admin account {user.id} created: sign in at /login.")


@clinic.command("set-password")
@click.option("--email", required=True, help="The staff member's e-mail address.")
def set_password(email: str) -> None:
    """Set a staff member's password, unlock the account and end its sessions; asks twice."""
    from .staff.accounts import change_password, staff_by_email

    user = staff_by_email(db.session, email)
    if user is None:
        raise click.ClickException("There is no staff account with that e-mail address.")
    change_password(db.session, user.id, _new_password(), now=utcnow(), actor=SYSTEM)
    click.echo("Password changed; every session of the account has ended.")


def _new_password() -> str:
    from .staff.accounts import InvalidAccount, check_password

    def checked(value: str) -> str:
        try:
            return check_password(value)
        except InvalidAccount as invalid:
            raise click.BadParameter(invalid.errors["password"]) from None  # click asks again

    return click.prompt("Password", hide_input=True, confirmation_prompt=True, value_proc=checked)


notes = AppGroup("notes", help="Consultation notes.")
clinic.add_command(notes)


@notes.command("rotate")
def rotate_notes_key() -> None:
    """Re-encrypt every note with the first CLINIC_NOTES_KEY, so the keys after it can be removed."""
    from .notes.encryption import UnreadableNote
    from .notes.rotation import rotate_note_keys
    from .notes.settings import notes_settings

    try:
        count = rotate_note_keys(db.session, notes_settings(current_app).cipher, now=utcnow(), actor=SYSTEM)
    except UnreadableNote as unreadable:
        raise click.ClickException(f"{unreadable}: put back the key it was written with") from None
    click.echo(f"{count} note versions re-encrypted with the first key; the other keys can now be removed.")


@clinic.command("worker")
def worker() -> None:
    """Run the outbox worker (meetings, mails, reminders) until stopped: in production, its own process."""
    from .jobs.worker import run_worker

    _log_to_console()
    with _refusals():
        run_worker(current_app._get_current_object())


@clinic.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def serve(host: str, port: int) -> None:
    """Development only: the development server with the outbox worker in a thread of the same process."""
    from werkzeug.serving import run_simple

    from .jobs.worker import BackgroundWorker

    _log_to_console()
    app = current_app._get_current_object()
    with _refusals():
        worker = BackgroundWorker(app)
    try:
        # No reloader: its second process would start a second worker. (`app.run` refuses to run
        # inside a `flask` command, hence Werkzeug directly.)
        run_simple(host, port, app, threaded=True)
    finally:
        worker.stop()


@contextmanager
def _refusals() -> Iterator[None]:
    """A worker that must not start exits with the reason, not a traceback."""
    from .jobs.heartbeat import WorkerAlreadyRunning

    try:
        yield
    except WorkerAlreadyRunning as refusal:
        raise click.ClickException(str(refusal)) from None


def _log_to_console() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler logs every tick at INFO; its warnings and errors are what matter.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def register(app: Flask) -> None:
    app.cli.add_command(clinic)
