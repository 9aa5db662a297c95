"""Behind reverse proxies the client's address is the one limited and audited, and only when configured:
otherwise X-Forwarded-For is anyone's to forge, so it is ignored."""

import pytest
from sqlalchemy import select

from clinic.extensions import db
from clinic.models import AuditEvent

from . import factories
from .conftest import build_app

PROXY = "10.0.0.2"
LIMITED = {"RATELIMIT_ENABLED": True, "RATELIMIT_STAFF_LOGIN": "2 per minute"}


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build the app with `settings` and a staff account; the test runs inside its app context."""
    contexts = []

    def make(**settings):
        app = build_app(database_url, str(tmp_path / "instance"), **LIMITED, **settings)
        contexts.append(app.app_context())
        contexts[-1].push()
        return app, factories.staff(db.session)

    yield make
    for context in contexts:
        db.session.remove()
        db.engine.dispose()
        context.pop()


def sign_in_from(client, user, client_addr: str):
    data = {"email": user.email, "password": factories.STAFF_PASSWORD}
    headers = {"X-Forwarded-For": client_addr}
    return client.post("/login", data=data, headers=headers, environ_base={"REMOTE_ADDR": PROXY})


def login_addresses() -> list[str | None]:
    db.session.rollback()  # see what the requests wrote
    query = select(AuditEvent.remote_addr).where(AuditEvent.action == "staff.login")
    return list(db.session.scalars(query.order_by(AuditEvent.id)))


def test_x_forwarded_for_is_ignored_by_default(make_app):
    app, user = make_app()
    client = app.test_client()

    answers = [sign_in_from(client, user, f"203.0.113.{n}").status_code for n in (1, 2, 3)]

    assert answers == [303, 303, 429]  # all three counted against the proxy's address
    assert login_addresses() == [PROXY, PROXY]


def test_x_forwarded_for_names_the_client_behind_a_trusted_proxy(make_app):
    app, user = make_app(TRUSTED_PROXIES=1)
    client = app.test_client()

    answers = [sign_in_from(client, user, f"203.0.113.{n}").status_code for n in (1, 2, 3)]

    assert answers == [303, 303, 303]  # three clients, each within its own limit
    assert login_addresses() == ["203.0.113.1", "203.0.113.2", "203.0.113.3"]


def test_only_the_address_the_trusted_proxy_saw_counts_not_what_the_client_claimed(make_app):
    app, user = make_app(TRUSTED_PROXIES=1)

    sign_in_from(app.test_client(), user, "198.51.100.66, 203.0.113.9")  # the client forged the first

    assert login_addresses() == ["203.0.113.9"]
