"""The same requests to one gunicorn worker, back to back and with the worker idle between them.

    python -m bench.idle_worker --database-url postgresql+psycopg://postgres@127.0.0.1/clinic_bench_idle
        [--requests 60] [--gap 0.25] [--rounds 2]

The load bench's people pause between pages (bench/load.py, --think), so most requests reach a worker
that has slept since its last one, on a core that ran something else meanwhile. This measures what that
alone costs: each route's client latency (p50) and the worker's CPU for it (median, bench/served.py's
timings), asked `--requests` times in a row with no pause and then with `--gap` seconds between requests,
rounds interleaved. Nothing else runs. The ratio of a page to hello is printed for both, as the pages'
target reads (DESIGN.md, Performance targets): it depends on which of the two the run measures. Beside the
pages, a route of pure Python (bench/served.py) doing what 4 ms of a busy core's CPU does: how much of a
page's rise after idling is the core's own, with no code, cache or connection of Clinic's in it.
"""

import argparse
import statistics
import time as clock
from collections.abc import Sequence
from datetime import timedelta
from urllib.parse import urlencode

from .figures import emit
from .fixtures import bench_engine
from .load import SPIN, Browser, Outcome, Server, gunicorn, load_hospital
from .served import HELLO_PATH, SPIN_PATH

BENCH = "idle_worker"
WARM_UP = 50  # requests per route before the first round: code, templates and caches loaded


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    with bench_engine(args.database_url) as engine:
        plan = load_hospital(engine).plan(("127.0.0.1", 0), 0, 0)
        url = engine.url.render_as_string(hide_password=False)
    week = {"service": plan.service_id, "tz": "Europe/London", "start": plan.first_day}
    day = {"service": plan.service_id, "clinician": "any", "time_zone": "Europe/London"}
    routes = {
        "hello": HELLO_PATH,
        "/healthz": "/healthz",
        "/api/v1/slots": "/api/v1/slots?" + urlencode(week | {"end": plan.first_day + timedelta(6)}),
        "/book/time": "/book/time?" + urlencode(day | {"day": plan.first_day.isoformat()}),
        SPIN[4]: f"{SPIN_PATH}/4",  # no code of Clinic's: what idling costs on the core alone
    }
    gaps = {"back to back": 0.0, f"{args.gap:g} s idle between": args.gap}
    with gunicorn(url, workers=1) as server:
        for path in routes.values():
            for _ in range(WARM_UP):
                _get(server, path)
        runs = {(regime, route): [] for regime in gaps for route in routes}
        for _ in range(args.rounds):
            for regime, gap in gaps.items():
                for route, path in routes.items():
                    runs[regime, route].append(_run(server, route, path, args.requests, gap))
    _report({key: min(rounds) for key, rounds in runs.items()}, gaps, routes)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a loopback PostgreSQL URL (wiped)")
    parser.add_argument("--requests", type=int, default=60, help="requests per route and round")
    parser.add_argument("--gap", type=float, default=0.25, help="seconds the worker idles between requests")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, interleaved; the best is reported")
    return parser.parse_args(argv)


def _run(server: Server, route: str, path: str, requests: int, gap: float) -> tuple[float, float]:
    """p50 of the client's latency and median of the worker's CPU, in ms (CPU 0 for hello: no timings)."""
    server.clear_timings()
    latencies = []
    for _ in range(requests):
        latencies.append(_get(server, path))
        clock.sleep(gap)
    cpu = [seconds for _, seconds in server.worker_timings().get(route, [])]
    return statistics.median(latencies) * 1000, statistics.median(cpu) * 1000 if cpu else 0.0


def _get(server: Server, path: str) -> float:
    """Seconds the load bench's client took for one GET of `path`."""
    browser = Browser(server.address, Outcome())
    browser.get("", path)
    ((_, took, status),) = browser.out.samples
    if status != 200:
        raise RuntimeError(f"{path} answered {status}")
    return took


def _report(best: dict, gaps: dict[str, float], routes: dict[str, str]) -> None:
    (hot, _), (idle, gap) = gaps.items()
    print(f"\none gunicorn worker, requests back to back (hot) and with {gap:g} s idle between (best round)")
    print(
        f"  {'route':<15} {'p50 ms, hot':>12} {'idle':>7} {'idle/hot':>9}   {'CPU ms, hot':>11} {'idle':>6}",
        end="",
    )
    print(f"   {'p50/hello, hot':>14} {'idle':>6}")
    for route in routes:
        (hot_p50, hot_cpu), (idle_p50, idle_cpu) = best[hot, route], best[idle, route]
        hello_hot, hello_idle = best[hot, "hello"][0], best[idle, "hello"][0]
        print(
            f"  {route:<15} {hot_p50:12.2f} {idle_p50:7.2f} {idle_p50 / hot_p50:8.2f}×   {hot_cpu:11.2f}"
            f" {idle_cpu:6.2f}   {hot_p50 / hello_hot:13.2f}× {idle_p50 / hello_idle:5.2f}×"
        )
        emit(BENCH, f"{route} p50, worker idle between requests", idle_p50, hot_p50, "ms", None)
        if route != "hello":
            emit(BENCH, f"{route} p50 against hello, back to back", hot_p50, hello_hot, "ms", None)
            emit(BENCH, f"{route} p50 against hello, worker idle between", idle_p50, hello_idle, "ms", None)
            emit(BENCH, f"{route} worker CPU, idle between", idle_cpu, hot_cpu, "ms", None)


if __name__ == "__main__":
    main()
