# ruff: noqa: F811 - the fixture imported below is the tests' parameter
"""Clinic's commands on a database they cannot work on end with one line that says what is wrong, never a
traceback: a database with no schema or an older one is named as such with what to run, where `clinic
demo` and `create-user` gave a traceback; any other database error is the driver's words without the
values the statement sent, where a traceback carried the e-mail address typed. A command run with
development settings (an admin who forgot the production env file) says so on stderr."""

import os
import subprocess
import sys

import click
import pytest
from psycopg import DataError
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from clinic.cli import clinic
from clinic.extensions import db
from clinic.health import REFUSED_TO_START
from clinic.models.schema_revision import UPGRADE
from clinic.models.transactions import driver_reason

from .fakes.reminders import ROOT
from .test_schema_revision import HEAD, app_on, empty_database  # noqa: F401 (a fixture)

EMAIL = "secret.person@hospital.example"
# What each command needs to be run; every command of the group is here (test below), so a new one is
# checked too. Not the worker and the development server, which wait for a database out of reach.
ARGUMENTS = {
    "demo": ["--bookings", "1"],
    "create-user": ["--email", EMAIL, "--name", "Ann Example", "--role", "admin"],
    "list-clinicians": [],
    "list-departments": [],
    "set-password": ["--email", EMAIL],
    "end-sessions": ["--email", EMAIL],
    "deactivate-user": ["--email", EMAIL],
    "reactivate-user": ["--email", EMAIL],
    "reset-mfa": ["--email", EMAIL],
    "notes rotate": [],
    "patient export": ["--email", EMAIL],
    "audit verify": [],
}
WAITING = {"worker", "serve"}
BEHIND = f"Error: the database schema is at revision none, this code needs {HEAD}: run `{UPGRADE}`"


def command_names(group: click.Group, prefix: str = "") -> set[str]:
    names = set()
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names |= command_names(command, f"{prefix}{name} ")
        else:
            names.add(f"{prefix}{name}")
    return names


def test_every_command_is_checked_below():
    assert command_names(clinic) == set(ARGUMENTS) | WAITING


@pytest.mark.parametrize("command", sorted(ARGUMENTS))
def test_a_command_on_a_database_without_the_schema_says_to_upgrade_it(command, empty_database, tmp_path):
    app = app_on(empty_database, tmp_path)

    result = app.test_cli_runner().invoke(args=["clinic", *command.split(), *ARGUMENTS[command]])
    with app.app_context():
        db.engine.dispose()

    assert result.exit_code == REFUSED_TO_START, result.output
    assert result.output.strip().splitlines()[-1] == BEHIND, result.output


def environment(**settings: str) -> dict[str, str]:
    """This process's environment without any CLINIC_ setting (as for an admin's shell), and `settings`."""
    kept = {name: value for name, value in os.environ.items() if not name.startswith("CLINIC_")}
    return {**kept, **{f"CLINIC_{name}": value for name, value in settings.items()}}


def run(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "clinic", *arguments]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, input="")


@pytest.fixture
def tables_missing(empty_database) -> str:
    """A database stamped with this code's revision, but without its tables: the schema check passes and
    the command's own statement fails, with the e-mail address among its parameters."""
    engine = create_engine(empty_database)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        connection.execute(text("INSERT INTO alembic_version VALUES (:head)"), {"head": HEAD})
    engine.dispose()
    return empty_database


def test_a_database_error_ends_a_command_in_one_line_without_the_values_it_sent(tables_missing, tmp_path):
    ran = run(
        "set-password",
        "--email",
        EMAIL,
        env=environment(ENV="testing", DATABASE_URL=tables_missing, INSTANCE_PATH=str(tmp_path)),
    )

    assert ran.returncode == 1
    assert "Traceback" not in ran.stderr and EMAIL not in ran.stderr + ran.stdout, ran.stderr
    (line,) = ran.stderr.strip().splitlines()
    assert line.startswith("Error: the database refused the command: ") and "staff_user" in line, line


def test_a_command_on_an_unmigrated_database_ends_in_one_line_through_the_real_flask_command(
    empty_database, tmp_path
):
    ran = run(
        "create-user",
        "--email",
        EMAIL,
        "--name",
        "Ann Example",
        "--role",
        "admin",
        env=environment(ENV="testing", DATABASE_URL=empty_database, INSTANCE_PATH=str(tmp_path)),
    )

    assert ran.returncode == REFUSED_TO_START
    assert ran.stderr.strip() == BEHIND, ran.stderr


def test_a_command_with_development_settings_says_so_on_stderr(tmp_path):
    """No CLINIC_ENV nor CLINIC_DATABASE_URL: the env file was not loaded."""
    instance = tmp_path / "instance"

    ran = run("list-departments", env=environment(INSTANCE_PATH=str(instance)))

    assert (
        f"Clinic runs with development settings (CLINIC_ENV is not production), on the database"
        f" sqlite:///{instance}/clinic.sqlite: for the production server's, load its env file first"
        " (docs/operations.md)"
    ) in ran.stderr.splitlines(), ran.stderr


def test_a_command_outside_development_says_nothing_of_it(database_url, tmp_path):
    env = environment(ENV="testing", DATABASE_URL=database_url, INSTANCE_PATH=str(tmp_path))

    ran = run("list-departments", env=env)

    assert ran.returncode == 0 and "development" not in ran.stderr, ran.stderr


def test_the_driver_s_words_leave_out_the_values_the_statement_sent():
    """PostgreSQL quotes a value it cannot read in its message's first line."""
    said = f'invalid input syntax for type integer: "{EMAIL}"'
    error = DBAPIError("SELECT CAST(:given AS integer)", {"given": EMAIL}, DataError(said), False)

    assert driver_reason(error, password=None) == (
        'DataError: invalid input syntax for type integer: "(a value sent)"'
    )
