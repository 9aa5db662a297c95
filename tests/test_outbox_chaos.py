"""The outbox's proof, small: half the provider's calls fail and SMTP refuses mail for 3 s, yet every
mailbox holds one invite per change in order and every consultation exactly its one meeting."""

from pathlib import Path

from clinic.extensions import db

from .conftest import on_postgres
from .fakes.chaos import ChaosPlan, run_chaos

PLAN = ChaosPlan(
    bookings=20,
    smtp_outage_seconds=3,
    spread_seconds=3,
    workers=2 if on_postgres() else 1,  # SQLite allows one worker
    clinicians=3,
    retry_base_seconds=0.5,
    retry_max_seconds=2,
    # Ten straight failures (1 in 1,024 per message) would end in the fallback; this test is about retries.
    max_attempts=20,
    drain_timeout_seconds=60,
)


def test_flaky_provider_and_smtp_outage_lose_no_invite_and_make_one_meeting_each(
    app, database_url: str, tmp_path: Path
):
    findings = run_chaos(db.engine, database_url, PLAN, tmp_path)

    assert findings.ok, findings.report()
    assert findings.figures["provider calls failed"] != "0 ()"
    assert findings.figures["SMTP refusals (451)"] > 0
    assert findings.figures["mails delivered"] == findings.figures["mails expected"]
