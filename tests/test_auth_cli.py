"""`flask clinic create-user`, `set-password`, `end-sessions`, `deactivate-user` and `reactivate-user`,
`reset-mfa`; demo logins."""

import pytest
from sqlalchemy import delete, select

from clinic.demo import DEMO_ADMIN_EMAIL, demo_logins, load_demo
from clinic.models import AuditEvent, Clinician, Department, SessionEnd, StaffRole, StaffSession, StaffUser
from clinic.models.transactions import write_transaction
from clinic.staff.accounts import staff_by_email

from . import factories
from .conftest import TEST_KEYS

PASSWORD = "a long enough password"
TWICE = f"{PASSWORD}\n{PASSWORD}\n"


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def create_user(runner, email, *options, name="Staff Name", password_input=TWICE):
    """`flask clinic create-user --email EMAIL --name NAME OPTIONS…`, typing `password_input`."""
    args = ["clinic", "create-user", "--email", email, "--name", name, *options]
    return runner.invoke(args=args, input=password_input)


def test_create_user_asks_for_the_password_twice_and_refuses_short_ones(runner, app, session):
    result = create_user(
        runner,
        "New.Admin@Hospital.example",
        "--role",
        "admin",
        name="New Admin",
        password_input=f"too short\n{TWICE}",
    )

    assert result.exit_code == 0, result.output
    assert "Use at least 12 characters." in result.output
    assert PASSWORD not in result.output
    admin = staff_by_email(session, "new.admin@hospital.example")
    assert (admin.email, admin.display_name, admin.role) == (
        "new.admin@hospital.example",
        "New Admin",
        StaffRole.ADMIN,
    )
    session.commit()
    response = factories.sign_in(factories.browser(app), admin, password=PASSWORD)
    assert response.headers["Location"] == "/admin/"


def test_create_user_links_a_clinician_login_to_its_clinician(runner, session):
    person = factories.clinician(session, [factories.service(session)])
    session.commit()

    result = create_user(runner, "lee@hospital.example", "--role", "clinician", "--clinician", str(person.id))
    twin = create_user(runner, "lee2@hospital.example", "--role", "clinician", "--clinician", str(person.id))

    assert result.exit_code == 0, result.output
    assert staff_by_email(session, "lee@hospital.example").clinician_id == person.id
    assert twin.exit_code == 1 and "That clinician has a login already." in twin.output


def test_create_user_gives_reception_its_department(runner, session):
    department = factories.department(session)
    session.commit()

    result = create_user(
        runner, "desk@hospital.example", "--role", "reception", "--department", str(department.id)
    )

    assert result.exit_code == 0, result.output
    user = staff_by_email(session, "desk@hospital.example")
    assert (user.role, user.department_id) == (StaffRole.RECEPTION, department.id)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--role", "reception"), "A reception login needs the id of an existing department."),
        (
            ("--role", "reception", "--department", "999"),
            "A reception login needs the id of an existing department.",
        ),
        (("--role", "clinician"), "A clinician login needs the id of an existing clinician."),
        (("--role", "admin", "--clinician", "1"), "Only a clinician login is linked to a clinician."),
        (("--role", "admin", "--department", "1"), "Only a reception login belongs to a department."),
        (("--role", "doctor"), "Invalid value for '--role'"),
    ],
)
def test_create_user_says_what_a_role_needs(runner, session, options, message):
    result = create_user(runner, "x@hospital.example", *options)

    assert result.exit_code != 0
    assert message in result.output
    assert staff_by_email(session, "x@hospital.example") is None


def test_create_user_refuses_an_address_that_has_an_account(runner, session):
    existing = factories.staff(session)

    result = create_user(runner, existing.email, "--role", "admin")

    assert result.exit_code == 1
    assert "exists already" in result.output


def test_create_user_refuses_passwords_that_do_not_match(runner, session):
    mismatch = f"{PASSWORD}\nsomething else entirely\n"
    result = create_user(runner, "x@hospital.example", "--role", "admin", password_input=mismatch)

    assert result.exit_code != 0
    assert staff_by_email(session, "x@hospital.example") is None


def live_sessions_of(session, user) -> list[StaffSession]:
    session.commit()
    return session.scalars(
        select(StaffSession).where(StaffSession.staff_user_id == user.id, StaffSession.ended_at.is_(None))
    ).all()


@pytest.mark.parametrize(
    ("command", "reason", "password_input"),
    [
        ("set-password", SessionEnd.PASSWORD_CHANGED, TWICE),
        ("end-sessions", SessionEnd.ADMIN, None),
        ("deactivate-user", SessionEnd.DEACTIVATED, None),
    ],
)
def test_admin_commands_end_every_session_of_the_account(
    runner, app, session, command, reason, password_input
):
    user = factories.staff(session)
    browser = factories.browser(app)
    factories.sign_in(browser, user)
    assert browser.get("/account").status_code == 200

    result = runner.invoke(args=["clinic", command, "--email", user.email.upper()], input=password_input)

    assert result.exit_code == 0, result.output
    assert browser.get("/account").status_code == 302
    assert live_sessions_of(session, user) == []
    assert session.scalar(select(StaffSession.end_reason)) is reason


def test_reactivate_user_lets_a_deactivated_account_sign_in_afresh(runner, app, session):
    user = factories.staff(session)
    browser = factories.browser(app)
    factories.sign_in(browser, user)
    runner.invoke(args=["clinic", "deactivate-user", "--email", user.email])

    result = runner.invoke(args=["clinic", "reactivate-user", "--email", user.email])

    assert result.exit_code == 0, result.output
    assert "Reactivated" in result.output
    assert browser.get("/account").status_code == 302
    assert factories.sign_in(browser, user).status_code == 303
    session.commit()
    reactivated = session.scalars(select(AuditEvent).where(AuditEvent.action == "staff.reactivated")).all()
    assert [(e.actor, e.entity_id) for e in reactivated] == [("system", str(user.id))]


def test_admin_commands_name_an_unknown_address(runner):
    result = runner.invoke(args=["clinic", "end-sessions", "--email", "nobody@hospital.example"])

    assert result.exit_code == 1
    assert "There is no staff account with that e-mail address." in result.output


def test_reset_mfa_removes_the_second_factor(runner, session):
    user = factories.staff(session, totp_secret="sealed", totp_last_step=1)

    result = runner.invoke(args=["clinic", "reset-mfa", "--email", user.email])

    assert result.exit_code == 0, result.output
    session.commit()
    assert not session.get(StaffUser, user.id, populate_existing=True).has_totp


def test_the_demo_gives_every_clinician_each_reception_and_the_admin_a_login(app, runner, session):
    result = runner.invoke(args=["clinic", "demo", "--bookings", "0"])

    assert result.exit_code == 0, result.output
    clinicians = session.scalars(select(Clinician)).all()
    departments = session.scalars(select(Department)).all()
    for clinician in clinicians:
        login = session.scalar(select(StaffUser).where(StaffUser.clinician_id == clinician.id))
        assert login.role is StaffRole.CLINICIAN
        assert f"clinician  {login.email}" in result.output
    receptions = session.scalars(select(StaffUser).where(StaffUser.role == StaffRole.RECEPTION)).all()
    assert sorted(r.department_id for r in receptions) == sorted(d.id for d in departments)
    assert f"admin      {DEMO_ADMIN_EMAIL}" in result.output
    assert app.config["DEMO_PASSWORD"] not in result.output
    response = factories.sign_in(factories.browser(app), receptions[0], password=app.config["DEMO_PASSWORD"])
    assert response.status_code == 303


def test_a_hospital_demo_loaded_before_gets_the_missing_logins(app, session, now):
    assert load_demo(session, now=now, keys=TEST_KEYS, bookings=0)
    demo_logins(session, now=now, password="demo-password")
    with write_transaction(session):
        session.execute(delete(StaffUser).where(StaffUser.role == StaffRole.CLINICIAN))

    again = demo_logins(session, now=now, password="demo-password")

    assert not load_demo(session, now=now, keys=TEST_KEYS, bookings=0)
    assert {login.role for login in again if login.created} == {StaffRole.CLINICIAN}
    assert len([login for login in again if login.created]) == len(session.scalars(select(Clinician)).all())
    response = factories.sign_in(
        factories.browser(app), staff_by_email(session, DEMO_ADMIN_EMAIL), password="demo-password"
    )
    assert response.headers["Location"] == "/admin/"


@pytest.mark.parametrize(
    ("email", "options", "message"),
    [
        (
            "x@hospital.example",
            ("--role", "reception"),
            "A reception login needs the id of an existing department.",
        ),
        ("not an address", ("--role", "admin"), "Enter an e-mail address like name@hospital.example."),
        (
            "x@hospital.example",
            ("--role", "clinician", "--clinician", "999"),
            "A clinician login needs the id",
        ),
    ],
)
def test_create_user_checks_the_details_before_asking_for_the_password(
    runner, session, email, options, message
):
    result = create_user(runner, email, *options, password_input="")

    assert result.exit_code == 1
    assert message in result.output
    assert "Password" not in result.output  # not asked twice for an account that cannot be made


def test_create_user_says_a_name_is_missing(runner, session):
    result = create_user(runner, "x@hospital.example", "--role", "admin", name="   ", password_input="")

    assert result.exit_code == 1
    assert "Enter their name" in result.output and "at most" not in result.output


def test_the_ids_create_user_needs_are_listed_by_name(runner, session):
    department = factories.department(session)
    person = factories.clinician(session, [factories.service(session, department)])
    taken = factories.clinician(session, [factories.service(session, department)])
    factories.staff(session, role=StaffRole.CLINICIAN, clinician_id=taken.id)
    session.commit()

    clinicians = runner.invoke(args=["clinic", "list-clinicians"])
    departments = runner.invoke(args=["clinic", "list-departments"])

    assert clinicians.exit_code == 0 and departments.exit_code == 0
    lines = clinicians.output.splitlines()
    assert any(line.split()[0] == str(person.id) and person.display_name in line for line in lines)
    (taken_line,) = [line for line in lines if line.split()[0] == str(taken.id)]
    assert "has a login" in taken_line
    assert any(
        line.split()[0] == str(department.id) and department.name in line
        for line in departments.output.splitlines()
    )


def test_reset_mfa_without_a_second_factor_says_so_and_records_nothing(runner, session):
    user = factories.staff(session)
    session.commit()

    result = runner.invoke(args=["clinic", "reset-mfa", "--email", user.email])

    assert result.exit_code == 0, result.output
    assert "no second factor" in result.output and "removed" not in result.output
    session.commit()
    assert session.scalars(select(AuditEvent).where(AuditEvent.action == "staff.mfa_reset")).all() == []


def test_set_password_on_a_deactivated_account_says_it_is_still_deactivated(runner, session):
    user = factories.staff(session)
    runner.invoke(args=["clinic", "deactivate-user", "--email", user.email])

    result = runner.invoke(args=["clinic", "set-password", "--email", user.email], input=TWICE)

    assert result.exit_code == 0, result.output
    assert "still deactivated" in result.output and "reactivate-user" in result.output
