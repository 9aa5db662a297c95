"""Admins choose each service's video provider; a bad choice is refused beside the field."""

import pytest
from sqlalchemy import select

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


def provider_of(session, service: Service) -> str | None:
    session.commit()
    return session.scalar(select(Service.meeting_provider).where(Service.id == service.id))


def test_each_service_offers_the_hospital_default_and_every_provider(admin_client, service):
    page = admin_client.get("/admin/services").get_data(as_text=True)

    assert "Skin check review" in page
    assert '<option selected value="">Hospital default (Jitsi)</option>' in page
    for name in ("jitsi", "teams", "zoom", "webhook"):
        assert f'<option value="{name}">' in page


def test_an_admin_sets_a_service_provider_and_it_is_audited(admin_client, session, service):
    field = f"service-{service.id}-provider"

    response = admin_client.post(f"/admin/services/{service.id}", data={field: "zoom"})

    assert response.status_code == 303
    assert provider_of(session, service) == "zoom"
    page = admin_client.get("/admin/services").get_data(as_text=True)
    assert "new meetings for Skin check review are made with Zoom" in page
    assert '<option selected value="zoom">Zoom</option>' in page
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "service.meeting_provider_set"))
    assert event.entity_id == str(service.id) and event.actor.startswith("staff:")

    admin_client.post(f"/admin/services/{service.id}", data={field: ""})
    assert provider_of(session, service) is None


def test_a_provider_not_in_the_list_is_refused_beside_the_field(admin_client, session, service):
    factories.service(session, meeting_provider="teams")
    session.commit()

    response = admin_client.post(
        f"/admin/services/{service.id}", data={f"service-{service.id}-provider": "skype"}
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Choose one of the options in the list." in page
    assert f'aria-describedby="service-{service.id}-provider-error"' in page
    assert provider_of(session, service) is None


def test_a_service_that_does_not_exist_is_not_found(admin_client):
    assert (
        admin_client.post(
            "/admin/services/2147483647", data={"service-2147483647-provider": "zoom"}
        ).status_code
        == 404
    )
    assert admin_client.post("/admin/services/0", data={}).status_code == 404


def test_the_admin_pages_never_show_provider_secrets(admin_client, app):
    app.config.update(ZOOM_CLIENT_SECRET="zoom-secret-value", SMTP_PASSWORD="smtp-secret-value")

    for path in ("/admin/", "/admin/services", "/admin/outbox"):
        page = admin_client.get(path).get_data(as_text=True)
        assert "secret-value" not in page
