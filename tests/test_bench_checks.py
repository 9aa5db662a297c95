"""The benches' own checks, run small: the race's "no double booking" and the walk-in bench's "each caller
taken once" hold only if the bench still books and still queues callers. A change to what the app asks of
a booking or a caller left both running with nothing checked: every race attempt refused 422 (a privacy
notice version of its own), and the walk-in bench stopped at its second round (the same callers again).
And the load bench's runs fail when a route answered what its figures do not measure."""

import json

import pytest
from sqlalchemy import create_engine

from bench import walk_in
from bench.load import Outcome, check_answers, race_run


def test_the_race_books_some_targets_refuses_the_rest_and_finds_no_double_booking(database_url, capsys):
    engine = create_engine(database_url)
    try:
        race_run(engine, database_url, "suite", attempts=120, clients=4)
    finally:
        engine.dispose()

    figures = _figures(capsys.readouterr().out)
    booked = figures["race bookings (suite)"]
    assert booked["value"] > 0 and booked["value"] == booked["baseline"]  # stored, and answered 201
    assert figures["double bookings (race, suite)"]["value"] == 0


def test_the_walk_in_bench_queues_new_callers_each_round_and_takes_each_once(capsys):
    walk_in.main(["--callers", "6", "--staff", "2", "--rounds", "2"])  # SQLite only; exits if one is not

    rounds = [line for line in capsys.readouterr().out.splitlines() if "each caller once: yes" in line]
    assert len(rounds) == 2 * 3  # both loops, in the warm-up and in each round


# A load run's answers, as (route, seconds, status): each page as it should answer, a booking refused for a
# time taken meanwhile, and a floor asked of a worker that had not yet served its page.
AS_MEASURED = [
    ("hello", 0.001, 200),
    ("/schedule", 0.01, 200),
    ("booking POST", 0.01, 303),
    ("booking POST", 0.01, 409),
    ("/schedule SQL alone", 0.001, 204),
    ("/schedule SQL alone", 0.001, 200),
]


def test_a_run_whose_routes_answered_as_measured_passes():
    check_answers([Outcome()], AS_MEASURED)


@pytest.mark.parametrize(
    "answer",
    [
        ("/schedule", 0.01, 302),  # signed out: the figure would be a redirect's
        ("/book/time", 0.01, 500),
        ("booking POST", 0.01, 422),  # a form the app no longer takes
        ("race", 0.01, 409),  # a race in which nothing was booked
        ("/book/time SQL alone", 0.001, 204),  # a floor that never replayed its page
    ],
)
def test_a_run_with_a_route_that_measured_nothing_fails(answer):
    with pytest.raises(SystemExit, match=answer[0]):
        check_answers([Outcome()], [*AS_MEASURED, answer])


def _figures(out: str) -> dict[str, dict]:
    lines = (json.loads(line) for line in out.splitlines() if line.startswith("{"))
    return {line["figure"]: line for line in lines}
