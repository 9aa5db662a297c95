"""`flask --app wsgi clinic …` commands."""

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from .extensions import db
from .models import utcnow

clinic = AppGroup("clinic", help="Clinic commands.")


@clinic.command("demo")
@click.option("--bookings", default=300, show_default=True, help="How many future bookings to make.")
def demo(bookings: int) -> None:
    """Load the demo hospital (does nothing if it is already there)."""
    from .demo import load_demo

    made = load_demo(db.session, now=utcnow(), secret=current_app.config["SECRET_KEY"], bookings=bookings)
    click.echo("Demo hospital loaded." if made else "Demo hospital already present; nothing to do.")


def register(app: Flask) -> None:
    app.cli.add_command(clinic)
