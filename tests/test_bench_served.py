"""The load bench's gunicorn app (bench/served.py) serves Clinic on either database: the race runs on
SQLite as well as PostgreSQL."""

import requests

from bench.load import gunicorn


def test_the_bench_serves_clinics_pages_and_its_floors_on_the_suites_database(database_url):
    with gunicorn(database_url, workers=1) as server:
        base = "http://{}:{}".format(*server.address)
        paths = ("/book", "/__bench/sql-alone/book/time")
        answers = {path: requests.get(base + path, timeout=30).status_code for path in paths}

    # Until a worker has served a read page, its floors have nothing to replay: 204.
    assert answers == {"/book": 200, "/__bench/sql-alone/book/time": 204}
