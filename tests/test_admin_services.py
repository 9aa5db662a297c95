"""Admins keep the services: their booking rules and video provider, each refused value beside its field."""

import re

import pytest
from sqlalchemy import func, select

from clinic.hospital.records import MAX_DESCRIPTION
from clinic.models import AuditEvent, Service

from . import factories
from .factories import sign_in


@pytest.fixture
def client(app):
    return factories.browser(app)


@pytest.fixture
def service(session) -> Service:
    found = factories.service(session, name="Skin check review")
    session.commit()
    return found


@pytest.fixture
def admin_client(client, session, service):
    sign_in(client, factories.staff(session))
    session.commit()  # end the read sign_in made: on SQLite a stale read cannot turn into a write
    return client


def form_of(service: Service, **changes) -> dict:
    """What the service's edit page posts, with `changes`."""
    fields = {
        "department_id": service.department_id,
        "name": service.name,
        "description": service.description or "",
        "duration_minutes": service.duration_minutes,
        "buffer_before_minutes": service.buffer_before_minutes or 0,
        "buffer_after_minutes": service.buffer_after_minutes or 0,
        "min_notice_minutes": service.min_notice_minutes,
        "horizon_days": service.horizon_days,
        "slot_interval_minutes": service.slot_interval_minutes,
        "cancel_cutoff_minutes": service.cancel_cutoff_minutes or 0,
        "meeting_provider": service.meeting_provider or "",
        "active": "y",
    }
    return {**fields, **changes}


def stored(session, service: Service) -> Service:
    session.commit()
    session.expire_all()
    return session.get(Service, service.id)


def test_the_list_shows_each_service_with_its_provider_and_links_to_its_page(admin_client, service):
    page = admin_client.get("/admin/services").get_data(as_text=True)

    assert "Skin check review" in page and "Jitsi (hospital default)" in page
    assert f'href="/admin/services/{service.id}"' in page and 'href="/admin/services/new"' in page


def test_each_service_offers_the_hospital_default_and_every_provider(admin_client, service):
    page = admin_client.get(f"/admin/services/{service.id}").get_data(as_text=True)

    assert '<option selected value="">Hospital default (Jitsi)</option>' in page
    for name in ("jitsi", "teams", "zoom", "webhook"):
        assert f'<option value="{name}">' in page


ZOOM_SET_UP = {"ZOOM_ACCOUNT_ID": "acct", "ZOOM_CLIENT_ID": "client", "ZOOM_CLIENT_SECRET": "secret"}


def test_an_admin_sets_a_service_provider_and_it_is_audited(admin_client, app, session, service):
    app.config.update(ZOOM_SET_UP)
    response = admin_client.post(
        f"/admin/services/{service.id}", data=form_of(service, meeting_provider="zoom")
    )

    assert response.status_code == 303
    assert stored(session, service).meeting_provider == "zoom"
    assert '<option selected value="zoom">Zoom</option>' in admin_client.get(
        f"/admin/services/{service.id}"
    ).get_data(as_text=True)
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "service.saved"))
    assert event.entity_id == str(service.id) and event.actor.startswith("staff:")
    assert event.details == {"changed": ["meeting_provider"]}

    admin_client.post(f"/admin/services/{service.id}", data=form_of(service, meeting_provider=""))
    assert stored(session, service).meeting_provider is None


def test_an_admin_changes_the_booking_rules_of_a_service(admin_client, session, service):
    changes = {"duration_minutes": "45", "buffer_after_minutes": "10", "slot_interval_minutes": "15"}

    response = admin_client.post(f"/admin/services/{service.id}", data=form_of(service, **changes))

    assert response.status_code == 303
    saved = stored(session, service)
    assert (saved.duration_minutes, saved.buffer_after_minutes, saved.slot_interval_minutes) == (45, 10, 15)


def test_an_admin_adds_a_service_that_patients_can_then_book(admin_client, session, service):
    data = form_of(service, name="Mole mapping")

    response = admin_client.post("/admin/services/new", data=data)

    assert response.status_code == 303
    session.commit()
    added = session.scalar(select(Service).where(Service.name == "Mole mapping"))
    assert added.department_id == service.department_id and added.active
    assert session.scalar(select(AuditEvent.entity_id).where(AuditEvent.action == "service.saved")) == str(
        added.id
    )


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"meeting_provider": "skype"}, "meeting_provider", "Choose one of the options in the list."),
        ({"duration_minutes": "-30"}, "duration_minutes", "Enter a whole number from 5 to 480."),
        ({"duration_minutes": "thirty"}, "duration_minutes", "Enter a whole number."),
        ({"duration_minutes": ""}, "duration_minutes", "Enter a whole number."),
        ({"slot_interval_minutes": "0"}, "slot_interval_minutes", "Enter a whole number from 5 to 480."),
        ({"buffer_before_minutes": "-1"}, "buffer_before_minutes", "from 0 to 240"),
        ({"horizon_days": "99999999999999999999"}, "horizon_days", "from 1 to 730"),
        ({"name": "  "}, "name", "Enter the service&#39;s name."),
        ({"name": "x" * 121}, "name", "Keep it under 120 characters."),
        ({"department_id": "987654"}, "department_id", "Choose one of the options in the list."),
        ({"department_id": "abc"}, "department_id", ""),
    ],
)
def test_a_wrong_value_is_refused_beside_its_field_and_changes_nothing(
    admin_client, session, service, changes, field, message
):
    response = admin_client.post(f"/admin/services/{service.id}", data=form_of(service, **changes))

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page and f'id="{field}-error"' in page
    saved = stored(session, service)
    assert (saved.meeting_provider, saved.duration_minutes, saved.name) == (None, 30, "Skin check review")
    assert session.scalar(select(func.count()).where(AuditEvent.action == "service.saved")) == 0


def test_two_services_of_one_department_may_not_share_a_name(admin_client, session, service):
    factories.service(session, service.department, name="Mole mapping")
    session.commit()

    response = admin_client.post(f"/admin/services/{service.id}", data=form_of(service, name="mole MAPPING"))

    assert response.status_code == 422
    assert "This department has a service with this name already." in response.get_data(as_text=True)
    assert stored(session, service).name == "Skin check review"


def test_an_unknown_provider_already_stored_is_flagged_in_the_list(admin_client, session):
    factories.service(session, name="Old service", meeting_provider="skype")
    session.commit()

    page = admin_client.get("/admin/services").get_data(as_text=True)

    assert "(unknown: meetings use the fallback)" in page


def test_a_service_that_does_not_exist_is_not_found(admin_client, service):
    assert admin_client.get("/admin/services/2147483647").status_code == 404
    assert admin_client.post("/admin/services/2147483647", data=form_of(service)).status_code == 404
    assert admin_client.post("/admin/services/0", data={}).status_code == 404


def test_the_admin_pages_never_show_provider_secrets(admin_client, app, service):
    app.config.update(ZOOM_CLIENT_SECRET="zoom-secret-value", SMTP_PASSWORD="smtp-secret-value")

    for path in ("/admin/", "/admin/services", f"/admin/services/{service.id}", "/admin/outbox"):
        page = admin_client.get(path).get_data(as_text=True)
        assert "secret-value" not in page


@pytest.mark.parametrize("provider", ["zoom", "teams", "webhook"])
def test_a_provider_not_set_up_is_refused_naming_what_it_needs(admin_client, session, service, provider):
    """Accepted, every booking of the service went to a provider that could make no meeting: each fell back
    (or, with no fallback, had no link), while the service's page said it used that provider."""
    chosen = form_of(service, meeting_provider=provider)

    response = admin_client.post(f"/admin/services/{service.id}", data=chosen)

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "is not set up" in page and f"CLINIC_{provider.upper()}_" in page
    assert 'id="meeting_provider-error"' in page
    assert stored(session, service).meeting_provider is None


def test_a_service_kept_at_a_provider_no_longer_set_up_may_still_be_changed_otherwise(admin_client, session):
    """The provider's settings went after it was chosen: the service's other rules (closing it, say) are
    not held hostage to it; the list flags it."""
    service = factories.service(session, name="Video review", meeting_provider="zoom")
    session.commit()

    renamed = form_of(service, name="Video review 2")

    response = admin_client.post(f"/admin/services/{service.id}", data=renamed)

    assert response.status_code == 303 and stored(session, service).name == "Video review 2"
    listed = admin_client.get("/admin/services").get_data(as_text=True)
    assert "(not set up: meetings use the fallback)" in listed


def test_a_service_a_walk_in_queue_books_its_calls_under_stays_in_its_department(admin_client, session):
    """Moved, the queue's calls were booked in another department than the queue's (its reception and its
    closures), and the queue's own page refused every later save beside its service."""
    service = factories.service(session, name="Nurse call")
    factories.walk_in_queue(session, service, [], name="Nurse helpline")
    elsewhere = factories.department(session, name="Cardiology")
    session.commit()

    moved = form_of(service, department_id=elsewhere.id)
    response = admin_client.post(f"/admin/services/{service.id}", data=moved)

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Nurse helpline" in page and 'id="department_id-error"' in page
    assert stored(session, service).department_id != elsewhere.id


@pytest.mark.parametrize("letter", ["e", "é", "字"], ids=["latin", "accented", "cjk"])
def test_a_description_too_long_is_refused_beside_its_field_with_the_rest_kept(
    admin_client, session, service, letter
):
    """A description over the site's 64 KB body limit (a pasted document) got a bare 413 page, and
    the admin's changes to the other fields were lost with it."""
    typed = form_of(service, name="Skin check (video)", description=letter * (MAX_DESCRIPTION + 1))

    response = admin_client.post(f"/admin/services/{service.id}", data=typed)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'id="description-error">.*Keep this under 20,000 characters', page, re.S)
    assert 'value="Skin check (video)"' in page
    assert stored(session, service).name == "Skin check review"


@pytest.mark.parametrize("letter", ["e", "é", "字"], ids=["latin", "accented", "cjk"])
def test_a_description_of_the_longest_length_in_any_script_is_saved(admin_client, session, service, letter):
    response = admin_client.post(
        f"/admin/services/{service.id}", data=form_of(service, description=letter * MAX_DESCRIPTION)
    )

    assert response.status_code == 303
    assert len(stored(session, service).description) == MAX_DESCRIPTION


def test_a_form_too_large_for_any_field_says_nothing_was_saved_and_what_to_do(admin_client, session, service):
    response = admin_client.post(
        f"/admin/services/{service.id}", data=form_of(service, description="x" * 2_000_000)
    )

    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "too large to save" in page and "Nothing was saved" in page
    assert stored(session, service).description == ""


def test_signed_out_visitors_keep_the_small_body_limit(app, client, service):
    app.config["WTF_CSRF_ENABLED"] = True  # CSRFProtect reads the body before any view runs

    response = client.post(f"/admin/services/{service.id}", data=form_of(service, description="x" * 100_000))

    assert response.status_code == 413
