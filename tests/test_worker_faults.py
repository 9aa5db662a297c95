"""Worker faults: two workers deliver each reminder exactly once; a worker killed mid-batch loses nothing
and repeats at most the one mail it had in flight, with the same Message-ID.

Two workers run on PostgreSQL only: on SQLite a second worker refuses to start (clinic/jobs/heartbeat.py).
"""

from pathlib import Path

from clinic.extensions import db

from .conftest import postgres_only
from .fakes.reminders import drain_with_workers, kill_and_restart


@postgres_only
def test_two_workers_deliver_a_thousand_due_reminders_exactly_once(app, database_url, tmp_path: Path):
    run = drain_with_workers(db.engine, database_url, tmp_path, count=1000, workers=2)

    assert run.delivery.exactly_once, run.delivery
    assert run.delivery.received == 1000
    assert sum(run.per_worker.values()) == 1000
    assert all(run.per_worker.values()), run.per_worker  # both took a share


def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_at_most_the_mail_in_flight(
    app, database_url, tmp_path: Path
):
    run = kill_and_restart(db.engine, database_url, tmp_path, count=300, lease_seconds=2)

    delivery = run.delivery
    assert run.killed_after < 300  # the kill came mid-drain
    assert delivery.missing == ()
    assert delivery.misaddressed == 0
    assert sum(delivery.repeated.values()) <= 1, delivery.repeated
    assert delivery.repeats_share_message_id, delivery
