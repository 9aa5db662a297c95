"""`flask clinic create-admin` and `set-password` make and mend staff accounts; the demo has an admin."""

from clinic.demo import DEMO_ADMIN, load_demo
from clinic.models import StaffRole
from clinic.staff.accounts import staff_by_email

from . import factories
from .conftest import TEST_SECRET

PASSWORD = "a long enough password"


def test_create_admin_asks_for_the_password_twice_and_refuses_short_ones(app, session, client):
    runner = app.test_cli_runner()

    result = runner.invoke(
        args=["clinic", "create-admin", "--email", "New.Admin@Hospital.example", "--name", "New Admin"],
        input=f"too short\n{PASSWORD}\n{PASSWORD}\n",
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
    response = factories.sign_in(client, admin, password=PASSWORD)
    assert response.headers["Location"] == "/admin/"


def test_create_admin_refuses_an_address_that_has_an_account(app, session):
    existing = factories.staff(session)

    result = app.test_cli_runner().invoke(
        args=["clinic", "create-admin", "--email", existing.email, "--name", "Twin"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )

    assert result.exit_code == 1
    assert "exists already" in result.output


def test_create_admin_refuses_passwords_that_do_not_match(app, session):
    result = app.test_cli_runner().invoke(
        args=["clinic", "create-admin", "--email", "x@hospital.example", "--name", "X"],
        input=f"{PASSWORD}\nsomething else entirely\n",
    )

    assert result.exit_code != 0
    assert staff_by_email(session, "x@hospital.example") is None


def test_set_password_changes_it_and_ends_sessions(app, session):
    user = factories.staff(session)
    old_token = user.session_token

    result = app.test_cli_runner().invoke(
        args=["clinic", "set-password", "--email", user.email], input=f"{PASSWORD}\n{PASSWORD}\n"
    )

    assert result.exit_code == 0, result.output
    session.commit()
    changed = staff_by_email(session, user.email)
    assert changed.session_token != old_token


def test_the_demo_admin_can_sign_in(app, session, client, now):
    assert load_demo(session, now=now, secret=TEST_SECRET, bookings=0)
    assert not load_demo(session, now=now, secret=TEST_SECRET, bookings=0)

    response = client.post("/login", data={"email": DEMO_ADMIN["email"], "password": DEMO_ADMIN["password"]})

    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"
