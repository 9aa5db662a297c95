"""Where a page's time goes: cProfile of the load run's requests, in-process through Flask's test client.

    python -m bench.page_profile --database-url postgresql+psycopg://postgres@127.0.0.1/clinic_bench_load
        [--requests 50] [--top 25]

For each page of bench/load.py: the CPU per request, the share of it spent in each part of the code
(the slot engine, the booking transaction, template rendering, the rest), and the functions that cost
most. Shares are of cProfile's own total, so they are proportions, not timings to quote.

After the profile, each page's CPU per request back to back, after `--away` seconds of a busy loop
before each request, and after as long asleep: a gunicorn worker under the load run serves a page after a
pause, and the same page then costs far more (bench/idle_worker.py). The loop keeps the core awake, and
the page costs most of what it costs after the sleep (5.3-5.5 against 5.9 ms for /book/time, 3.1 back to
back, on 2026-12-04): mostly caches gone cold, which a page pays for by how much code and data it touches,
and the rest the core's own sleep. The medians, with one JSON line per page and pause (`--away 0` leaves
this out).
"""

import argparse
import cProfile
import io
import pstats
import random
import re
import statistics
import time as clock
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from clinic import create_app
from clinic.booking.calendar import form_value

from .figures import emit
from .fixtures import bench_engine
from .load import ROOT, SERVER_SETTINGS, STAFF_PASSWORD, LoadPlan, load_hospital, patient_form

# Parts of a request, by the function that enters each: its cumulative time (calls inside it included).
PARTS = {
    "slot search, find_slots (slots-perf)": ("clinic/scheduling/availability.py", "find_slots"),
    "distinct starts, find_starts (slots-perf)": ("clinic/scheduling/availability.py", "find_starts"),
    "is_free (slots-perf)": ("clinic/scheduling/availability.py", "is_free"),
    "booking transaction, book (booking-perf)": ("clinic/scheduling/booking.py", "book"),
    "rendering, render_template": ("flask/templating.py", "render_template"),
    "zone picker, offer": ("clinic/scheduling/zone_picker.py", "offer"),
    "JSON encoding": ("flask/json/provider.py", "response"),
}


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    with bench_engine(args.database_url) as engine:
        plan = load_hospital(engine).plan(("127.0.0.1", 0), 0, 0)
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": str(engine.url.render_as_string(hide_password=False)),
                "SECRET_KEY": SERVER_SETTINGS["CLINIC_SECRET_KEY"],
                "RATELIMIT_ENABLED": False,
                "WTF_CSRF_ENABLED": False,
                "DEBUG": False,  # as production: compact JSON, templates not re-checked on disk
                "TESTING": True,  # not refused for the production keys it lacks
            }
        )
        for name, request in _requests(app, plan).items():
            _profile(name, request, args.requests, args.top)
            if args.away:
                _after_away(name, request, args.requests, args.away)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a loopback PostgreSQL URL (wiped)")
    parser.add_argument("--requests", type=int, default=50, help="requests profiled per page")
    parser.add_argument("--top", type=int, default=25, help="functions listed per page")
    parser.add_argument(
        "--away", type=float, default=0.25, help="seconds of a busy loop before each request of the cold run"
    )
    return parser.parse_args(argv)


def _requests(app, plan: LoadPlan) -> dict[str, Callable[[], int]]:
    """One callable per page of the load run, each making one request as a load client does."""
    patient, staff = app.test_client(), app.test_client()
    signed_in = staff.post("/login", data={"email": plan.staff_email, "password": STAFF_PASSWORD})
    if signed_in.status_code != 303:
        raise RuntimeError(f"staff sign-in answered {signed_in.status_code}")
    rng = random.Random(0)
    bookings = iter(range(10**6))

    def slots() -> int:
        return patient.get("/api/v1/slots", query_string=_week(plan, rng.randrange(8))).status_code

    def book_time() -> int:
        query = {"service": plan.service_id, "clinician": "any", "time_zone": "Europe/London"}
        day = plan.first_day + timedelta(days=rng.randrange(8))
        return patient.get("/book/time", query_string={**query, "day": day.isoformat()}).status_code

    def schedule() -> int:
        return staff.get("/schedule/", query_string={"date": plan.schedule_day.isoformat()}).status_code

    free = [
        slot["start"]
        for offset in (0, 7)
        for slot in patient.get("/api/v1/slots", query_string=_week(plan, offset)).get_json()["slots"]
    ]
    rng.shuffle(free)  # each booked once, fetched before the profile so it holds the POST alone

    def booking() -> int:
        start = form_value(datetime.fromisoformat(free.pop()))
        form = {"service": plan.service_id, "clinician": "any", "time_zone": "Europe/London", "start": start}
        form |= patient_form(f"profile{next(bookings)}@example.org")
        return patient.post("/book/confirm", data=form).status_code

    return {"/book/time": book_time, "/api/v1/slots": slots, "/schedule": schedule, "booking POST": booking}


def _week(plan: LoadPlan, offset: int) -> dict:
    """The API's query for the 7 days from `offset` days into the booked days."""
    first = plan.first_day + timedelta(days=offset)
    return {"service": plan.service_id, "tz": "Europe/London", "start": first, "end": first + timedelta(6)}


def _profile(name: str, request: Callable[[], int], count: int, top: int) -> None:
    for _ in range(3):
        request()  # templates compiled, caches filled
    started, cpu = clock.perf_counter(), clock.process_time()
    statuses = [request() for _ in range(count)]
    wall, cpu = (clock.perf_counter() - started) / count, (clock.process_time() - cpu) / count
    # CPU time, as the figure above: the wall clock would count waiting for the database and other processes.
    profile = cProfile.Profile(clock.process_time)
    profile.enable()
    statuses += [request() for _ in range(count)]
    profile.disable()
    stats = pstats.Stats(profile)
    total = sum(tottime for _, _, tottime, _, _ in stats.stats.values())
    print(f"\n{name}: {cpu * 1000:.1f} ms CPU, {wall * 1000:.1f} ms wall per request (not profiled)", end="")
    print(f"; answers {sorted(set(statuses))}")
    print("  share of the request inside (calls within included; is_free runs inside book):")
    for part, (file, function) in PARTS.items():
        inside = sum(
            cumtime
            for (path, _, called), (_, _, _, cumtime, _) in stats.stats.items()
            if path.endswith(file) and called == function
        )
        if inside:
            print(f"    {part:<42} {inside / total:6.1%}")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(top)
    listing = out.getvalue().split("ncalls", 1)[-1]
    print("  ncalls" + re.sub(r"/[^ ]*?site-packages/", "", listing).replace(f"{ROOT}/", ""))


def _after_away(name: str, request: Callable[[], int], count: int, away: float) -> None:
    """Median CPU per request back to back, after `away` seconds of a busy loop and after as long asleep,
    runs interleaved."""
    pauses = {
        "back to back": lambda: None,
        f"{away:g} s of a busy loop": lambda: _busy(away),
        f"{away:g} s asleep": lambda: clock.sleep(away),
    }
    runs: dict[str, list[float]] = {pause: [] for pause in pauses}
    for _ in range(count):
        for pause, cpu in runs.items():
            pauses[pause]()
            started = clock.process_time()
            request()
            cpu.append(clock.process_time() - started)
    hot, *after = (statistics.median(cpu) * 1000 for cpu in runs.values())
    paused = list(zip(list(pauses)[1:], after, strict=True))
    line = "".join(f", {cold:.2f} ms after {pause} ({cold / hot:.2f}×)" for pause, cold in paused)
    print(f"  CPU per request, median: {hot:.2f} ms back to back{line}")
    for pause, cold in paused:
        emit("page_profile", f"{name} CPU per request after {pause}", cold, hot, "ms", None)


def _busy(seconds: float) -> None:
    """Keep this core busy for `seconds` with a loop that touches almost no memory."""
    until = clock.perf_counter() + seconds
    while clock.perf_counter() < until:
        pass


if __name__ == "__main__":
    main()
