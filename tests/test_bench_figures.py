"""The benches' JSON lines (bench/figures.py) are JSON that any parser reads, the benches take the
arguments they offer, and a probe runs as its figure says."""

import json
import math

from sqlalchemy import create_engine, make_url, text

from bench import outbox_workers
from bench.figures import emit

from .conftest import postgres_only


def test_a_figure_this_machine_cannot_measure_is_null_not_nan(capsys):
    emit("bench", "share of the time a core had a task queued", math.nan, 0.25, "share of the time", None)

    line = json.loads(capsys.readouterr().out, parse_constant=_refuse)

    assert (line["value"], line["baseline"]) == (None, 0.25)


def _refuse(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def test_the_outbox_workers_bench_may_be_asked_for_no_kills(capsys):
    outbox_workers.main(["--kill-runs", "0"])  # SQLite only: no scale-out, and now no SIGKILL runs

    assert "SIGKILL" not in capsys.readouterr().out


@postgres_only
def test_the_scale_out_probe_s_workers_commit_without_waiting_for_the_disk(migrated_database):
    """The probe is what its figure says it is; the drains as Clinic runs keep PostgreSQL's durable commit."""
    shown = {}
    for how, options in outbox_workers.SESSIONS.items():
        # This pytest worker's database, made if it was not there.
        worker = create_engine(outbox_workers.worker_url(make_url(migrated_database), options))
        with worker.connect() as connection:
            shown[how] = connection.scalar(text("SHOW synchronous_commit"))
        worker.dispose()

    assert shown == {outbox_workers.AS_CLINIC_RUNS: "on", outbox_workers.PROBE: "off"}
