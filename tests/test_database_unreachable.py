"""With the database out of reach, a request still gets Clinic's own error answer: the end of its
transaction, in Flask's teardown, tries no second connection and raises nothing. An error raised there
escapes the app, and gunicorn answers its own bare 500 in place of the page."""

import socket

import pytest
from sqlalchemy import event

from clinic.extensions import db

from .conftest import build_app, on_postgres


@pytest.fixture
def unreachable_url(tmp_path) -> str:
    """A URL of the suite's database kind that nothing answers: a closed port, or a file in no folder."""
    if not on_postgres():
        return f"sqlite:///{tmp_path / 'no-such-folder' / 'clinic.sqlite'}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/clinic"


@pytest.mark.parametrize(
    ("path", "kind"), [("/book", "text/html"), ("/api/v1/services", "application/problem+json")]
)
def test_a_page_with_the_database_out_of_reach_gets_the_apps_answer_after_one_attempt(
    unreachable_url, tmp_path, path, kind
):
    app = build_app(unreachable_url, str(tmp_path / "instance"), PROPAGATE_EXCEPTIONS=False)
    attempts = []
    with app.app_context():
        event.listen(db.engine, "do_connect", lambda *_: attempts.append(1))

    answer = app.test_client().get(path)  # raised, before the fix, from the teardown's second attempt

    assert answer.status_code == 500 and answer.mimetype == kind
    assert len(attempts) == 1
