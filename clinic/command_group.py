"""The group of `flask clinic …` commands: each runs on the database, and ends with one line saying what is
wrong with it, never a traceback.

A command on a database with no schema, or an older one, said so in a traceback of the first table it
missed; and a database error's traceback quoted the statement's parameters: the e-mail address typed, a
patient's details. Now the schema is checked first (`SchemaBehind`: what to run), and a database error is
the driver's words without those values. A command run with development settings says so on stderr, with
its database: an admin who forgot the production env file would otherwise work on a SQLite file unawares.
"""

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from .extensions import db
from .health import REFUSED_TO_START
from .models.schema_revision import SchemaBehind, schema_check
from .models.transactions import driver_reason, is_out_of_reach


class DatabaseCommands(AppGroup):
    """Commands that work on the database. `schema_first=False` is for a command that checks the schema
    itself, where it starts serving (the outbox worker waits for a database out of reach, where the check
    first would end it)."""

    def command(self, *args: Any, schema_first: bool = True, **kwargs: Any) -> Callable[..., click.Command]:
        define = super().command(*args, **kwargs)
        return lambda function: define(_on_the_database(function, schema_first))


def _on_the_database(function: Callable[..., Any], schema_first: bool) -> Callable[..., Any]:
    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        with one_line_refusals():
            if schema_first:
                with db.engine.connect() as connection:
                    schema_check(current_app).require_current(connection)
            return function(*args, **kwargs)

    return run


@contextmanager
def one_line_refusals() -> Iterator[None]:
    """A schema to upgrade, a worker that must not start, or a database error: the reason, in one line."""
    from .jobs.heartbeat import WorkerAlreadyRunning

    try:
        yield
    except SchemaBehind as behind:
        refusal = click.ClickException(str(behind))
        refusal.exit_code = REFUSED_TO_START  # not restarted by systemd: it would only refuse again
        raise refusal from None
    except WorkerAlreadyRunning as refusal:  # restarted: the other worker may be gone by then
        raise click.ClickException(str(refusal)) from None
    except DBAPIError as error:
        said = driver_reason(error, db.engine.url.password)
        verdict = "does not answer" if is_out_of_reach(error) else "refused the command"
        raise click.ClickException(f"the database {verdict}: {said}") from None
    except SQLAlchemyError as error:  # its text may quote the statement's parameters too
        raise click.ClickException(f"the database refused the command: {type(error).__name__}") from None


def notice_development_settings(app: Flask) -> None:
    """On a command's stderr (not gunicorn's: it runs no command), that it runs with development settings,
    and on which database."""
    if app.debug and click.get_current_context(silent=True) is not None:
        url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(hide_password=True)
        click.echo(
            f"Clinic runs with development settings (CLINIC_ENV is not production), on the database {url}:"
            " for the production server's, load its env file first (docs/operations.md)",
            err=True,
        )
