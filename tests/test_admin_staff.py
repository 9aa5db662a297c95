"""Admins manage staff accounts at /admin/staff: list, add, role and link, deactivate, unlock, password
link, second factor; never leaving the hospital without an admin; every change audited."""

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from clinic.audit import SYSTEM
from clinic.extensions import db
from clinic.models import AuditEvent, StaffRole, StaffUser, utcnow
from clinic.staff.accounts import change_role, deactivate_staff, reactivate_staff
from clinic.staff.directory import staff_page
from clinic.staff.errors import LastAdmin
from clinic.staff.reset_links import RESET_LINK_VALID, ResetLinkInvalid, make_reset_token, reset_password

from . import factories
from .browser_forms import form_values
from .conftest import TEST_SECRET, build_app
from .factories import STAFF_PASSWORD, sign_in
from .test_admin_outbox import csrf_token
from .test_auth_mfa import enrolled

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def client(app):
    return factories.browser(app)


@pytest.fixture
def admin(session) -> StaffUser:
    return factories.staff(session, display_name="Ada Admin")


@pytest.fixture
def admin_client(client, session, admin):
    sign_in(client, admin)
    session.commit()
    return client


def fresh(session, user: StaffUser) -> StaffUser:
    session.commit()  # the request wrote in its own session: read anew
    return session.get(StaffUser, user.id, populate_existing=True)


def events_about(session, user: StaffUser) -> list[AuditEvent]:
    session.commit()
    query = select(AuditEvent).where(
        AuditEvent.entity_type == "staff_user", AuditEvent.entity_id == str(user.id)
    )
    return list(session.scalars(query.order_by(AuditEvent.id)))


def listed(page: str) -> list[str]:
    """The names in the list of accounts, in page order."""
    return re.findall(r'<td><a href="/admin/staff/\d+">([^<]+)</a></td>', page)


def link_in(page: str) -> str:
    return re.search(r"<code>(http://127\.0\.0\.1:5000/account/password-link#t=[^<]+)</code>", page)[1]


def choose_password(client, link: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    """Post the password page as the staff member's browser does with the link's token."""
    data = {"code": link, "new_password": password, "confirm": password if confirm is None else confirm}
    return client.post("/account/password-link", data=data)


# Who may open the pages


def test_anonymous_visitors_are_sent_to_sign_in(client, session, admin):
    for path in ("/admin/staff", "/admin/staff/new", f"/admin/staff/{admin.id}"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=%2Fadmin%2Fstaff")
    assert client.post(f"/admin/staff/{admin.id}/deactivate").status_code == 302
    assert fresh(session, admin).active


@pytest.mark.parametrize("role", [StaffRole.CLINICIAN, StaffRole.RECEPTION])
def test_clinicians_and_reception_may_not_manage_accounts(client, session, admin, role):
    fields = {"department_id": factories.department(session).id} if role is StaffRole.RECEPTION else {}
    sign_in(client, factories.staff(session, role=role, **fields))

    for path in ("/admin/staff", "/admin/staff/new", f"/admin/staff/{admin.id}"):
        assert client.get(path).status_code == 403
    for action in ("deactivate", "reactivate", "unlock", "password-link", "reset-mfa"):
        assert client.post(f"/admin/staff/{admin.id}/{action}").status_code == 403
    assert client.post(f"/admin/staff/{admin.id}/role", data={"role": "reception"}).status_code == 403
    assert fresh(session, admin).active and fresh(session, admin).role is StaffRole.ADMIN
    assert [e.action for e in events_about(session, admin)] == []


def test_every_change_needs_the_pages_csrf_token(database_url, tmp_path, session, admin):
    target = factories.staff(session, role=StaffRole.ADMIN)
    app = build_app(database_url, str(tmp_path / "csrf"), WTF_CSRF_ENABLED=True)
    with app.app_context():
        client = factories.browser(app)
        sign_in(client, admin, csrf_token=csrf_token(client.get("/login")))
        actions = ("deactivate", "reactivate", "unlock", "reset-mfa")
        forged = [client.post(f"/admin/staff/{target.id}/{a}") for a in actions]
        forged_role = client.post(f"/admin/staff/{target.id}/role", data={"role": "reception"})
        token = csrf_token(client.get(f"/admin/staff/{target.id}"))
        genuine = client.post(f"/admin/staff/{target.id}/deactivate", data={"csrf_token": token})
        db.session.remove()
        db.engine.dispose()

    assert [r.status_code for r in forged] == [400, 400, 400, 400] and forged_role.status_code == 400
    assert genuine.status_code == 303
    assert [e.action for e in events_about(session, target)] == ["staff.deactivated"]


# The list


def test_the_list_is_filtered_by_role_and_state(admin_client, session):
    department = factories.department(session)
    factories.staff(
        session, role=StaffRole.RECEPTION, display_name="Rita Reception", department_id=department.id
    )
    factories.staff(
        session,
        role=StaffRole.RECEPTION,
        display_name="Gone Receptionist",
        active=False,
        department_id=department.id,
    )

    reception = admin_client.get("/admin/staff?role=reception&status=active").text
    gone = admin_client.get("/admin/staff?status=inactive").text
    everyone = admin_client.get("/admin/staff").text

    assert listed(reception) == ["Rita Reception"]
    assert listed(gone) == ["Gone Receptionist"]
    assert listed(everyone) == ["Ada Admin", "Gone Receptionist", "Rita Reception"]


def test_the_list_comes_a_page_at_a_time_by_name(session, admin):
    for name in ("Cy", "Bo", "Al"):
        factories.staff(session, role=StaffRole.ADMIN, display_name=name)

    first = staff_page(session, role=StaffRole.ADMIN, page=1, per_page=2)
    second = staff_page(session, role=StaffRole.ADMIN, page=2, per_page=2)

    assert [u.display_name for u in first.rows] == ["Ada Admin", "Al"] and first.has_next
    assert [u.display_name for u in second.rows] == ["Bo", "Cy"] and not second.has_next


def test_the_next_page_link_keeps_the_filter(admin_client, session):
    for n in range(51):
        session.add(
            StaffUser(
                email=f"r{n}@hospital.example",
                display_name=f"R {n:02}",
                password_hash="x",
                role=StaffRole.ADMIN,
            )
        )
    session.commit()

    page = admin_client.get("/admin/staff?role=admin&status=active").text

    assert 'href="/admin/staff?role=admin&amp;status=active&amp;page=2"' in page
    assert len(listed(page)) == 50 and listed(page)[-1] == "R 48"


def test_a_filter_not_in_the_list_is_said_and_shows_everyone(admin_client):
    response = admin_client.get("/admin/staff?role=superuser&page=zz")

    assert response.status_code == 422
    assert "Choose one of the options in the list." in response.text and "Ada Admin" in response.text


# Adding an account


def test_an_admin_adds_a_clinician_login_who_chooses_a_password_through_the_link(
    admin_client, session, app, now
):
    person = factories.clinician(session, [factories.service(session)], display_name="Dr Ben Carer")
    session.commit()

    page = admin_client.post(
        "/admin/staff/new",
        data={
            "email": " Ben.Carer@Hospital.example ",
            "display_name": "Ben Carer",
            "role": "clinician",
            "clinician": str(person.id),
            "department": "",
        },
    ).text

    session.commit()
    user = session.scalar(select(StaffUser).where(StaffUser.email == "ben.carer@hospital.example"))
    assert user.role is StaffRole.CLINICIAN and user.clinician_id == person.id
    assert [e.action for e in events_about(session, user)] == ["staff.created", "staff.password_link_made"]
    address, _, token = link_in(page).partition("#t=")
    assert address == "http://127.0.0.1:5000/account/password-link" and token  # no log records a "#" part
    newcomer = factories.browser(app)
    assert 'data-link-form="fill"' in newcomer.get("/account/password-link").text
    assert choose_password(newcomer, link_in(page)).status_code == 303
    assert sign_in(newcomer, user, NEW_PASSWORD).headers["Location"] == "/schedule/"


@pytest.mark.parametrize("role", ["admin", "reception", "clinician"])
def test_an_admin_adds_each_kind_of_login_with_the_form_as_the_browser_sends_it(admin_client, session, role):
    """The browser sends each select's drawn value, "None"'s too: every login was refused beside the
    clinician or department it does not take ("Choose one of the options in the list")."""
    department = factories.department(session)
    person = factories.clinician(session, [factories.service(session, department=department)])
    session.commit()
    form = form_values(admin_client.get("/admin/staff/new").text, "/admin/staff/new")
    form |= {"email": f"new.{role}@hospital.example", "display_name": "New Login", "role": role}
    form |= {"reception": {"department": str(department.id)}, "clinician": {"clinician": str(person.id)}}.get(
        role, {}
    )

    response = admin_client.post("/admin/staff/new", data=form)

    assert response.status_code == 200 and "Choose one of the options" not in response.text
    session.commit()
    user = session.scalar(select(StaffUser).where(StaffUser.email == f"new.{role}@hospital.example"))
    assert user is not None and user.role.value == role


def test_saving_a_role_unchanged_as_the_browser_sends_it_keeps_it(admin_client, session, admin):
    user = factories.staff(session, role=StaffRole.RECEPTION, department_id=factories.department(session).id)
    session.commit()
    action = f"/admin/staff/{user.id}/role"

    response = admin_client.post(
        action, data=form_values(admin_client.get(f"/admin/staff/{user.id}").text, action)
    )

    assert response.status_code in (200, 303), response.text[:300]
    assert "Choose one of the options" not in response.text
    assert fresh(session, user).role is StaffRole.RECEPTION


def test_a_new_account_with_wrong_details_is_refused_beside_each_field(admin_client, session, admin):
    response = admin_client.post(
        "/admin/staff/new",
        data={
            "email": admin.email.upper(),
            "display_name": "Twin",
            "role": "clinician",
            "clinician": "",
            "department": "",
        },
    )

    assert response.status_code == 422
    assert "A staff account with this e-mail address exists already." in response.text
    assert "A clinician login needs the id of an existing clinician." in response.text
    assert 'aria-describedby="clinician-hint clinician-error"' in response.text
    session.commit()
    assert session.scalar(select(StaffUser.id).where(StaffUser.display_name == "Twin")) is None


def test_a_clinician_or_department_not_in_the_list_is_refused(admin_client, session):
    response = admin_client.post(
        "/admin/staff/new",
        data={"email": "x@hospital.example", "display_name": "X", "role": "reception", "department": "abc"},
    )

    assert response.status_code == 422 and "Choose one of the options in the list." in response.text


# Role and link


def test_an_admin_moves_a_receptionist_to_another_department_and_it_is_audited(admin_client, session):
    first, second = factories.department(session), factories.department(session, name="Dermatology")
    user = factories.staff(session, role=StaffRole.RECEPTION, department_id=first.id)

    response = admin_client.post(
        f"/admin/staff/{user.id}/role",
        data={"role": "reception", "clinician": "", "department": str(second.id)},
    )

    assert response.status_code == 303
    assert fresh(session, user).department_id == second.id
    (event,) = [e for e in events_about(session, user) if e.action == "staff.role_changed"]
    assert event.details == {
        "role": "reception",
        "changed": ["department"],
        "from": {"department": first.id},
        "to": {"department": second.id},
    }
    assert event.actor.startswith("staff:")
    assert "Dermatology" in admin_client.get(f"/admin/staff/{user.id}").text


def test_a_clinician_who_has_a_login_cannot_get_a_second_one(admin_client, session):
    person = factories.clinician(session, [factories.service(session)])
    factories.staff(session, role=StaffRole.CLINICIAN, clinician_id=person.id)
    other = factories.staff(session, role=StaffRole.ADMIN)

    response = admin_client.post(
        f"/admin/staff/{other.id}/role", data={"role": "clinician", "clinician": person.id}
    )

    assert response.status_code == 422 and "That clinician has a login already." in response.text
    assert fresh(session, other).role is StaffRole.ADMIN


# Never without an admin


def test_the_only_admin_can_neither_deactivate_nor_demote_themselves(admin_client, session, admin):
    department = factories.department(session)
    session.commit()
    deactivated = admin_client.post(f"/admin/staff/{admin.id}/deactivate")
    demoted = admin_client.post(
        f"/admin/staff/{admin.id}/role",
        data={"role": "reception", "department": department.id},
    )

    for response in (deactivated, demoted):
        assert response.status_code == 409
        assert "the only active admin account" in response.text
    user = fresh(session, admin)
    assert user.active and user.role is StaffRole.ADMIN
    assert [e.action for e in events_about(session, admin) if e.action != "staff.login"] == []


def test_an_admin_may_step_down_when_another_admin_is_left(admin_client, session, admin):
    other = factories.staff(session, role=StaffRole.ADMIN)
    factories.staff(session, role=StaffRole.ADMIN, active=False)  # a deactivated admin does not count
    department_id = factories.department(session).id
    session.commit()

    assert admin_client.post(f"/admin/staff/{admin.id}/deactivate").status_code == 303

    assert not fresh(session, admin).active
    with pytest.raises(LastAdmin):
        deactivate_staff(session, other.id, now=utcnow(), actor=SYSTEM)
    with pytest.raises(LastAdmin):
        change_role(
            session,
            other.id,
            StaffRole.RECEPTION,
            now=utcnow(),
            actor=SYSTEM,
            department_id=department_id,
        )
    assert fresh(session, other).active


def test_two_admins_stepping_down_at_once_leave_one_admin(app, session, admin):
    other = factories.staff(session, role=StaffRole.ADMIN)
    department_id, admin_id, other_id = factories.department(session).id, admin.id, other.id
    session.commit()
    barrier, outcomes, engine = threading.Barrier(2), [None, None], db.engine
    steps = [
        lambda s: deactivate_staff(s, admin_id, now=utcnow(), actor=SYSTEM),
        lambda s: change_role(
            s, other_id, StaffRole.RECEPTION, now=utcnow(), actor=SYSTEM, department_id=department_id
        ),
    ]

    def run(i: int) -> None:
        with app.app_context(), Session(engine) as own:
            barrier.wait()
            try:
                outcomes[i] = steps[i](own)
            except Exception as error:  # the outcome is what we assert on
                outcomes[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(type(o).__name__ for o in outcomes) == ["LastAdmin", "StaffUser"]
    session.rollback()
    admins = select(StaffUser.id).where(StaffUser.role == StaffRole.ADMIN, StaffUser.active.is_(True))
    assert len(session.scalars(admins).all()) == 1


# Deactivate, unlock, second factor


def test_deactivating_ends_every_session_of_the_account(admin_client, app, session):
    user = factories.staff(
        session,
        role=StaffRole.CLINICIAN,
        clinician_id=factories.clinician(session, [factories.service(session)]).id,
    )
    theirs = factories.browser(app)
    sign_in(theirs, user)
    assert theirs.get("/schedule/").status_code == 200

    response = admin_client.post(f"/admin/staff/{user.id}/deactivate", follow_redirects=True)

    assert "cannot sign in, and every session they had has ended" in response.text
    assert theirs.get("/schedule/").status_code == 302
    assert sign_in(theirs, user).status_code == 422
    actions = [e.action for e in events_about(session, user)]
    assert actions[1:4] == ["staff.deactivated", "staff.session_ended", "staff.login_refused"]


def test_a_reactivated_account_signs_in_afresh_and_no_old_session_comes_back(admin_client, app, session):
    user = factories.staff(session, role=StaffRole.ADMIN)
    theirs = factories.browser(app)
    sign_in(theirs, user)
    admin_client.post(f"/admin/staff/{user.id}/deactivate")
    assert "Reactivate" in admin_client.get(f"/admin/staff/{user.id}").text

    response = admin_client.post(f"/admin/staff/{user.id}/reactivate", follow_redirects=True)

    assert "is active again: they sign in afresh" in response.text
    assert fresh(session, user).active
    assert theirs.get("/account").status_code == 302  # the cookie of before opens nothing
    assert sign_in(theirs, user).status_code == 303
    assert theirs.get("/account").status_code == 200
    actions = [e.action for e in events_about(session, user)]
    assert actions.count("staff.reactivated") == 1
    assert (
        actions.index("staff.deactivated")
        < actions.index("staff.reactivated")
        < actions.index("staff.login", 1)
    )


def test_reactivating_ends_a_session_that_a_deactivation_by_hand_left_open(admin_client, app, session):
    user = factories.staff(session, role=StaffRole.CLINICIAN)
    theirs = factories.browser(app)
    sign_in(theirs, user)
    session.commit()  # end the read that loaded `user`, so this write starts on the latest data
    session.execute(update(StaffUser).where(StaffUser.id == user.id).values(active=False))
    session.commit()

    admin_client.post(f"/admin/staff/{user.id}/reactivate")

    assert theirs.get("/account").status_code == 302
    ended = [e for e in events_about(session, user) if e.action == "staff.session_ended"]
    assert [e.details["reason"] for e in ended] == ["deactivated"]


def test_reactivating_an_active_account_changes_nothing(admin_client, app, session):
    user = factories.staff(session, role=StaffRole.CLINICIAN)
    theirs = factories.browser(app)
    sign_in(theirs, user)

    assert admin_client.post(f"/admin/staff/{user.id}/reactivate").status_code == 303

    assert theirs.get("/account").status_code == 200
    assert "staff.reactivated" not in [e.action for e in events_about(session, user)]


def test_an_admin_unlocks_a_locked_out_account(admin_client, app, session, now):
    user = factories.staff(session, locked_until=utcnow() + timedelta(minutes=15), failed_logins=0)
    theirs = factories.browser(app)
    assert sign_in(theirs, user).status_code == 422
    assert "Locked after too many failed sign-ins" in admin_client.get(f"/admin/staff/{user.id}").text

    assert admin_client.post(f"/admin/staff/{user.id}/unlock").status_code == 303

    assert fresh(session, user).locked_until is None
    assert sign_in(theirs, user).status_code == 303
    (event,) = [e for e in events_about(session, user) if e.action == "staff.unlocked"]
    assert event.details == {"was_locked": True}


def test_an_admin_removes_a_lost_second_factor(admin_client, session, now):
    user = factories.staff(session, role=StaffRole.ADMIN)
    enrolled(session, user, now)
    assert "Remove the second factor" in admin_client.get(f"/admin/staff/{user.id}").text

    assert admin_client.post(f"/admin/staff/{user.id}/reset-mfa").status_code == 303

    assert not fresh(session, user).has_totp
    assert events_about(session, user)[-1].action == "staff.mfa_reset"


def test_removing_a_second_factor_that_is_not_there_says_so_and_records_nothing(admin_client, session):
    """Sent twice (a double click, a second tab), or for an account that never set one up."""
    user = factories.staff(session, role=StaffRole.ADMIN)

    response = admin_client.post(f"/admin/staff/{user.id}/reset-mfa", follow_redirects=True)

    assert "has no second factor" in response.text and "Second factor removed" not in response.text
    assert [e.action for e in events_about(session, user)] == []


def test_an_account_that_does_not_exist_is_not_found(admin_client):
    assert admin_client.get("/admin/staff/2147483647").status_code == 404
    for action in ("deactivate", "reactivate", "unlock", "password-link", "reset-mfa"):
        assert admin_client.post(f"/admin/staff/2147483647/{action}").status_code == 404
    assert admin_client.post("/admin/staff/2147483647/role", data={"role": "admin"}).status_code == 404


# The password link


def test_a_password_link_works_once_ends_sessions_and_leaves_the_second_factor(
    admin_client, app, session, now
):
    user = factories.staff(session, role=StaffRole.ADMIN)
    key = enrolled(session, user, now)
    theirs = factories.browser(app)
    link = link_in(admin_client.post(f"/admin/staff/{user.id}/password-link").text)

    assert choose_password(theirs, link).status_code == 303
    again = choose_password(theirs, link, "another passphrase!")

    assert again.status_code == 422 and "does not work any more" in again.text
    assert 'aria-describedby="code-hint code-error"' in again.text
    assert sign_in(theirs, user, STAFF_PASSWORD).status_code == 422
    assert sign_in(theirs, user, NEW_PASSWORD).headers["Location"].startswith("/login/code")
    assert key and fresh(session, user).has_totp
    assert "staff.password_changed" in [e.action for e in events_about(session, user)]


def test_a_short_or_mistyped_password_is_refused_and_the_link_still_works(admin_client, app, session):
    user = factories.staff(session, role=StaffRole.ADMIN)
    link = link_in(admin_client.post(f"/admin/staff/{user.id}/password-link").text)
    theirs = factories.browser(app)

    short = choose_password(theirs, link, "short")
    differ = choose_password(theirs, link, NEW_PASSWORD, NEW_PASSWORD + "!")

    assert short.status_code == 422 and "Use at least 12 characters." in short.text
    assert differ.status_code == 422 and "The two new passwords differ." in differ.text
    assert choose_password(theirs, link.partition("#t=")[2]).status_code == 303  # the token alone works too


def test_a_link_dies_when_it_expires_is_tampered_with_or_the_account_is_deactivated(session, now):
    user = factories.staff(session, role=StaffRole.RECEPTION, department_id=factories.department(session).id)
    token = make_reset_token(session, user.id, secret_keys=[TEST_SECRET], now=now, actor=SYSTEM)
    later = now + RESET_LINK_VALID

    for bad_token, when in ((token, later), (token[:-2] + "xx", now), (token, now - timedelta(seconds=1))):
        with pytest.raises(ResetLinkInvalid):
            reset_password(
                session, bad_token, NEW_PASSWORD, secret_keys=[TEST_SECRET], now=when, remote_addr=None
            )
    with pytest.raises(ResetLinkInvalid):
        reset_password(session, token, NEW_PASSWORD, secret_keys=["another-key"], now=now, remote_addr=None)
    deactivate_staff(session, user.id, now=now, actor=SYSTEM)
    with pytest.raises(ResetLinkInvalid):
        reset_password(session, token, NEW_PASSWORD, secret_keys=[TEST_SECRET], now=now, remote_addr=None)


def test_a_link_made_before_a_role_change_does_not_set_the_password_of_the_new_role(session, now):
    department = factories.department(session)
    user = factories.staff(session, role=StaffRole.RECEPTION, department_id=department.id)
    token = make_reset_token(session, user.id, secret_keys=[TEST_SECRET], now=now, actor=SYSTEM)

    change_role(session, user.id, StaffRole.ADMIN, now=now, actor=SYSTEM)

    with pytest.raises(ResetLinkInvalid):
        reset_password(session, token, NEW_PASSWORD, secret_keys=[TEST_SECRET], now=now, remote_addr=None)


def test_a_link_made_before_a_deactivation_stays_dead_once_the_account_is_reactivated(session, now):
    user = factories.staff(session, role=StaffRole.CLINICIAN)
    token = make_reset_token(session, user.id, secret_keys=[TEST_SECRET], now=now, actor=SYSTEM)

    deactivate_staff(session, user.id, now=now, actor=SYSTEM)
    reactivate_staff(session, user.id, now=now, actor=SYSTEM)

    with pytest.raises(ResetLinkInvalid):
        reset_password(session, token, NEW_PASSWORD, secret_keys=[TEST_SECRET], now=now, remote_addr=None)
    new_link = make_reset_token(session, user.id, secret_keys=[TEST_SECRET], now=now, actor=SYSTEM)
    reset_password(session, new_link, NEW_PASSWORD, secret_keys=[TEST_SECRET], now=now, remote_addr=None)


def test_a_link_made_before_a_secret_key_rotation_still_works_while_the_old_key_is_a_fallback(session, now):
    user = factories.staff(session, role=StaffRole.CLINICIAN)
    token = make_reset_token(session, user.id, secret_keys=[TEST_SECRET], now=now, actor=SYSTEM)
    rotated = ["a new secret key", TEST_SECRET]

    reset_password(session, token, NEW_PASSWORD, secret_keys=rotated, now=now, remote_addr=None)

    new_link = make_reset_token(session, user.id, secret_keys=rotated, now=now, actor=SYSTEM)
    with pytest.raises(ResetLinkInvalid):  # new links are signed with the new key
        reset_password(session, new_link, NEW_PASSWORD, secret_keys=[TEST_SECRET], now=now, remote_addr=None)


def test_a_deactivated_account_gets_no_password_link(admin_client, session):
    user = factories.staff(session, role=StaffRole.ADMIN, active=False)

    response = admin_client.post(f"/admin/staff/{user.id}/password-link")

    assert response.status_code == 409 and "gets no password link" in response.text
