"""The outbox under chaos: a provider failing half its calls, SMTP refusing mail for the first 30 s.

    python -m bench.outbox_chaos [--bookings 200] [--database-url URL] [--workers N]

Books, moves and cancels consultations through the booking service while real worker processes
drain the outbox, then checks every mailbox at the SMTP sink and every meeting at the provider
(tests/fakes/chaos_checks.py) and prints the figures. Exits 1 if any check fails. A PostgreSQL
database is wiped first, so its name must contain "bench" (e.g. clinic_chaos_bench).
"""

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.fakes.chaos import ChaosPlan, run_chaos

from .figures import emit
from .fixtures import bench_engine

BENCH = "outbox_chaos"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the plan the arguments describe; print the figures; 0 if every check passed."""
    args = _arguments(argv)
    on_postgres = bool(args.database_url) and make_url(args.database_url).get_backend_name() == "postgresql"
    plan = ChaosPlan(
        bookings=args.bookings,
        provider=args.provider,
        smtp_outage_seconds=args.smtp_outage,
        spread_seconds=args.spread,
        workers=args.workers or (2 if on_postgres else 1),  # SQLite allows one worker
        seed=args.seed,
    )
    with bench_engine(args.database_url) as engine, tempfile.TemporaryDirectory() as folder:
        url = engine.url.render_as_string(hide_password=False)
        print(f"outbox chaos on {engine.dialect.name}: {plan}", flush=True)
        findings = run_chaos(engine, url, plan, Path(folder))
    print(findings.report())
    for figure, value in findings.figures.items():
        if isinstance(value, int | float):  # counts of what happened and of each check's failures
            emit(BENCH, f"{engine.dialect.name}: {figure}", value, None, "count", None)
    emit(BENCH, f"{engine.dialect.name}: problems found", len(findings.problems), None, "count", None)
    return 0 if findings.ok else 1


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a loopback PostgreSQL URL (its database is wiped)")
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--provider", choices=("teams", "zoom"), default="teams")
    parser.add_argument("--smtp-outage", type=float, default=30.0, help="seconds SMTP refuses mail")
    parser.add_argument("--spread", type=float, default=45.0, help="seconds over which changes are made")
    parser.add_argument(
        "--workers", type=int, help="worker processes (default: 1 on SQLite, 2 on PostgreSQL)"
    )
    parser.add_argument("--seed", type=int, default=2026)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
