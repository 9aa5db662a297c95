"""An admin corrects a staff member's name and e-mail address at /admin/staff/<id>/details: checked as a new
account's are, audited by field name (never the address), and refused, not undone, when another admin
saved them since the page was opened."""

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from clinic.extensions import db
from clinic.models import AuditEvent, StaffRole, StaffUser
from clinic.staff.accounts import staff_by_email

from . import factories
from .browser_forms import form_values
from .conftest import build_app
from .factories import sign_in
from .test_admin_outbox import csrf_token
from .test_admin_staff import events_about, fresh
from .test_schedule import text


def details_of(page: str, user: StaffUser) -> dict[str, str]:
    return form_values(page, f"/admin/staff/{user.id}/details")


@pytest.fixture
def admin(session) -> StaffUser:
    return factories.staff(session, display_name="Ada Admin")


@pytest.fixture
def admin_client(app, session, admin):
    client = factories.browser(app)
    sign_in(client, admin)
    session.commit()
    return client


def test_an_admin_corrects_a_name_and_address_and_the_event_names_the_fields_alone(admin_client, session):
    user = factories.staff(session, role=StaffRole.RECEPTION, department_id=factories.department(session).id)
    old_address = user.email
    drawn = details_of(text(admin_client.get(f"/admin/staff/{user.id}")), user)

    saved = admin_client.post(
        f"/admin/staff/{user.id}/details",
        data={**drawn, "display_name": "  Grace   Hopper ", "email": "Grace.Hopper@Hospital.example"},
    )

    assert saved.status_code == 303
    stored = fresh(session, user)
    assert (stored.display_name, stored.email) == ("Grace Hopper", "grace.hopper@hospital.example")
    assert staff_by_email(session, "GRACE.HOPPER@hospital.example").id == user.id
    (event,) = [e for e in events_about(session, user) if e.action == "staff_user.saved"]
    assert event.details == {"changed": ["display_name", "email"]}
    assert "hopper" not in str(event.details).lower() and old_address not in str(event.details)
    assert "Saved: Grace Hopper" in text(admin_client.get(f"/admin/staff/{user.id}"))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("email", "not an address", "Enter an e-mail address like name@hospital.example."),
        ("email", "", "Enter their e-mail address."),
        ("display_name", "   ", "Enter their name"),
        ("display_name", "x" * 121, "Keep it under 120 characters."),
        ("display_name", "Ada\u202eJones", "hidden"),
    ],
)
def test_wrong_details_are_refused_beside_their_field_and_nothing_changes(
    admin_client, session, field, value, message
):
    user = factories.staff(session, role=StaffRole.ADMIN)
    before = (user.display_name, user.email)
    drawn = details_of(text(admin_client.get(f"/admin/staff/{user.id}")), user)

    refused = admin_client.post(f"/admin/staff/{user.id}/details", data={**drawn, field: value})

    assert refused.status_code == 422
    assert re.search(rf'id="{field}-error">.*{re.escape(message)}', text(refused), re.S | re.I)
    stored = fresh(session, user)
    assert (stored.display_name, stored.email) == before
    assert [e.action for e in events_about(session, user)] == []


def test_an_address_another_account_has_in_any_case_is_refused(admin_client, session, admin):
    user = factories.staff(session, role=StaffRole.ADMIN)
    drawn = details_of(text(admin_client.get(f"/admin/staff/{user.id}")), user)

    refused = admin_client.post(
        f"/admin/staff/{user.id}/details", data={**drawn, "email": admin.email.upper()}
    )
    unchanged = admin_client.post(f"/admin/staff/{user.id}/details", data=drawn)

    assert refused.status_code == 422
    assert "A staff account with this e-mail address exists already." in text(refused)
    assert unchanged.status_code == 303  # its own address is no other account's
    assert fresh(session, user).email != admin.email
    assert [e.action for e in events_about(session, user)] == []


def test_an_admin_saving_details_opened_before_anothers_save_does_not_undo_it(app, session, admin):
    user = factories.staff(session, role=StaffRole.ADMIN, display_name="Ada Jones")
    other_admin = factories.staff(session, role=StaffRole.ADMIN)
    first, second = factories.browser(app), factories.browser(app)
    sign_in(first, admin)
    sign_in(second, other_admin)
    page = f"/admin/staff/{user.id}"
    opened_by_second = details_of(text(second.get(page)), user)
    drawn = details_of(text(first.get(page)), user)

    assert first.post(f"{page}/details", data={**drawn, "display_name": "Ada Lovelace"}).status_code == 303
    answer = second.post(f"{page}/details", data={**opened_by_second, "email": "ada@hospital.example"})

    assert answer.status_code == 409
    said = text(answer)
    assert "since you opened this page: it shows what they saved" in said
    again = details_of(said, user)
    assert again["display_name"] == "Ada Lovelace" and again["email"] == "ada@hospital.example"
    assert fresh(session, user).email != "ada@hospital.example"
    assert second.post(f"{page}/details", data=again).status_code == 303
    stored = fresh(session, user)
    assert (stored.display_name, stored.email) == ("Ada Lovelace", "ada@hospital.example")


def test_only_a_signed_in_admin_changes_details_and_only_with_the_pages_csrf_token(
    database_url, tmp_path, session, admin
):
    user = factories.staff(session, role=StaffRole.ADMIN, display_name="Ada Jones")
    data = {"display_name": "Mallory", "email": "mallory@example.net"}
    others = [
        factories.staff(session, role=StaffRole.CLINICIAN),
        factories.staff(session, role=StaffRole.RECEPTION, department_id=factories.department(session).id),
    ]
    session.commit()
    app = build_app(database_url, str(tmp_path / "csrf"), WTF_CSRF_ENABLED=True)
    with app.app_context():
        anonymous = factories.browser(app)
        strangers = anonymous.post(f"/admin/staff/{user.id}/details", data=data)
        colleagues = []
        for other in others:
            client = factories.browser(app)
            sign_in(client, other, csrf_token=csrf_token(client.get("/login")))
            token = csrf_token(client.get("/account"))
            colleagues.append(
                client.post(f"/admin/staff/{user.id}/details", data={**data, "csrf_token": token})
            )
        client = factories.browser(app)
        sign_in(client, admin, csrf_token=csrf_token(client.get("/login")))
        forged = client.post(f"/admin/staff/{user.id}/details", data=data)
        db.session.remove()
        db.engine.dispose()

    assert strangers.status_code == 400  # refused by its token before anything else
    assert [r.status_code for r in colleagues] == [403, 403]
    assert forged.status_code == 400
    stored = fresh(session, user)
    assert (stored.display_name, stored.email) != ("Mallory", "mallory@example.net")
    assert session.scalars(select(AuditEvent).where(AuditEvent.action == "staff_user.saved")).all() == []


def test_someone_not_signed_in_is_sent_to_sign_in_and_changes_nothing(app, session):
    user = factories.staff(session, role=StaffRole.ADMIN, display_name="Ada Jones")

    answer = factories.browser(app).post(
        f"/admin/staff/{user.id}/details", data={"display_name": "Mallory", "email": "mallory@example.net"}
    )

    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    assert fresh(session, user).display_name == "Ada Jones"


def test_a_role_saved_from_a_page_opened_before_anothers_role_change_does_not_undo_it(app, session, admin):
    """Two admins with the account page open: one moved a receptionist to Dermatology, the other, from
    the page opened before, saved the role form as drawn (the old department) and undid it unsaid."""
    first_department, second_department = factories.department(session), factories.department(session)
    user = factories.staff(session, role=StaffRole.RECEPTION, department_id=first_department.id)
    other_admin = factories.staff(session, role=StaffRole.ADMIN)
    first, second = factories.browser(app), factories.browser(app)
    sign_in(first, admin)
    sign_in(second, other_admin)
    page = f"/admin/staff/{user.id}"
    role_of = lambda html: form_values(html, f"{page}/role")  # noqa: E731
    opened_by_second = role_of(text(second.get(page)))
    drawn = role_of(text(first.get(page)))

    moved = first.post(f"{page}/role", data={**drawn, "department": str(second_department.id)})
    answer = second.post(f"{page}/role", data=opened_by_second)

    assert moved.status_code == 303
    assert answer.status_code == 409
    assert "role since you opened this page: it shows the role as saved now" in text(answer)
    assert fresh(session, user).department_id == second_department.id
    again = role_of(text(answer))
    assert again["department"] == str(second_department.id)  # drawn anew, as saved now
    assert second.post(f"{page}/role", data=again).status_code == 303
    assert fresh(session, user).department_id == second_department.id


def test_the_account_page_gives_its_times_on_the_hospitals_clock(admin_client, session):
    """The lock's end and the last sign-in were given in UTC: in summer an hour off what the admin tells
    the locked-out colleague."""
    london = ZoneInfo("Europe/London")
    user = factories.staff(session, role=StaffRole.ADMIN)
    user.locked_until = datetime(2999, 7, 1, 11, 30, tzinfo=UTC)
    user.last_login_at = datetime(2026, 7, 1, 8, 5, tzinfo=UTC)
    session.commit()

    page = text(admin_client.get(f"/admin/staff/{user.id}"))

    assert " UTC" not in page
    assert f"{user.locked_until.astimezone(london):%H:%M} (UK time, GMT+1)" in page
    assert "1 July 2026, 09:05 (UK time, GMT+1)" in page
