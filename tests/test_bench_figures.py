"""The benches' JSON lines (bench/figures.py) are JSON that any parser reads, and the benches take the
arguments they offer."""

import json
import math

from bench import outbox_workers
from bench.figures import emit


def test_a_figure_this_machine_cannot_measure_is_null_not_nan(capsys):
    emit("bench", "share of the time a core had a task queued", math.nan, 0.25, "share of the time", None)

    line = json.loads(capsys.readouterr().out, parse_constant=_refuse)

    assert (line["value"], line["baseline"]) == (None, 0.25)


def _refuse(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def test_the_outbox_workers_bench_may_be_asked_for_no_kills(capsys):
    outbox_workers.main(["--kill-runs", "0"])  # SQLite only: no scale-out, and now no SIGKILL runs

    assert "SIGKILL" not in capsys.readouterr().out
