"""Who may open the pages added for the third outside review: the bookings to move (/schedule/clashes),
the question before a no-show, and the admin's question before cancelling a clinician's booking. Anyone
signed out is sent to sign in; staff outside a consultation's reach get 404 (or the admin area's 403), and
nothing changes."""

from datetime import timedelta

import pytest

from clinic.models import ConsultationStatus, StaffRole, utcnow

from . import factories
from .test_schedule import clinic, login, text, visit  # noqa: F401 (fixture)
from .test_schedule_clashes import sick_morning  # noqa: F401 (fixture)


@pytest.fixture
def client(app):
    return factories.browser(app)


@pytest.fixture
def late(session, clinic):  # noqa: F811
    """Dr Okafor's patient, 15 minutes late and not arrived: past the no-show's grace, not yet over."""
    start = (utcnow() - timedelta(minutes=15)).replace(second=0, microsecond=0)
    return visit(session, clinic, "okafor", start, "Late Patient")


def noshow_question(client, consultation):
    return client.post(f"/schedule/consultations/{consultation.id}/status", data={"status": "noshow"})


def admin_cancel(clinic, consultation):  # noqa: F811
    return f"/admin/clinicians/{clinic['okafor'].id}/bookings/{consultation.id}/cancel"


def test_signed_out_visitors_are_sent_to_sign_in_from_each_new_page(client, session, clinic, late):  # noqa: F811
    for response in (
        client.get("/schedule/clashes"),
        noshow_question(client, late),
        client.get(admin_cancel(clinic, late)),
    ):
        assert response.status_code in (302, 303) and "/login" in response.location
    assert session.get(type(late), late.id).status is ConsultationStatus.BOOKED


@pytest.mark.parametrize(
    "who",
    [
        {"clinician": "raman"},  # a colleague in the same department
        {"department": "dermatology"},  # reception of another department
    ],
    ids=["another clinician", "another department's reception"],
)
def test_staff_outside_the_consultations_reach_are_not_asked_about_its_no_show(
    client,
    session,
    clinic,  # noqa: F811
    late,
    who,
):
    if "clinician" in who:
        login(session, client, clinician_id=clinic[who["clinician"]].id)
    else:
        login(session, client, StaffRole.RECEPTION, department_id=clinic[who["department"]].id)

    response = noshow_question(client, late)

    assert response.status_code == 404 and "Late Patient" not in text(response)
    session.expire_all()
    assert session.get(type(late), late.id).status is ConsultationStatus.BOOKED


@pytest.mark.parametrize("role", [StaffRole.CLINICIAN, StaffRole.RECEPTION])
def test_only_admins_open_the_question_before_cancelling_a_clinicians_booking(
    client,
    session,
    clinic,  # noqa: F811
    late,
    role,
):
    fields = (
        {"clinician_id": clinic["okafor"].id}
        if role is StaffRole.CLINICIAN
        else {"department_id": clinic["cardiology"].id}
    )
    login(session, client, role, **fields)

    asked = client.get(admin_cancel(clinic, late))
    sent = client.post(admin_cancel(clinic, late))

    assert (asked.status_code, sent.status_code) == (403, 403)
    session.expire_all()
    assert session.get(type(late), late.id).status is ConsultationStatus.BOOKED


def test_another_departments_reception_sees_none_of_its_bookings_to_move(
    client,
    session,
    clinic,  # noqa: F811
    sick_morning,  # noqa: F811
):
    login(session, client, StaffRole.RECEPTION, department_id=clinic["dermatology"].id)

    page = text(client.get("/schedule/clashes"))

    assert "Maria Visser" not in page
