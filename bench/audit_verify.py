"""How long `flask clinic audit verify` takes on a long chain.

    python -m bench.audit_verify [--database-url URL] [--events N] [--repeats N]

The chain is bulk-loaded (hashed as `record` hashes it, inserted in batches) with its anchor, then
verified `--repeats` times; verify streams the rows in id order, so memory stays flat.
"""

import argparse
import time as clock
from collections.abc import Sequence
from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from clinic import audit
from clinic.models import AuditEvent

from .databases import databases
from .fixtures import NOW, bench_engine

BATCH = 5000


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    for name, url in databases(args.database_url, "clinic_bench").items():
        with bench_engine(url) as engine:
            load_chain(engine, args.events)
            seconds = []
            for _ in range(args.repeats):
                with Session(engine) as session:
                    started = clock.perf_counter()
                    result = audit.verify(session)
                    seconds.append(clock.perf_counter() - started)
            assert isinstance(result, audit.Verified), str(result)
            best = min(seconds)
            print(
                f"audit verify on {name}: {result.count} events in {best:.2f} s best of {args.repeats} "
                f"({result.count / best:,.0f} events/s)"
            )


def load_chain(engine: Engine, count: int) -> None:
    """`count` keyed events chained from genesis, and the anchor on the last one."""
    with Session(engine) as session:
        settings = audit.settings_for(session)
        key = settings.key
        prev, rows = audit.GENESIS, []
        for seq in range(1, count + 1):
            row = SimpleNamespace(
                id=seq,
                seq=seq,
                occurred_at=NOW + timedelta(seconds=seq),
                actor=f"staff:{seq % 40}",
                action="consultation.booked",
                entity_type="consultation",
                entity_id=str(seq),
                remote_addr="10.0.0.9",
                details={"clinician_id": seq % 50, "service_id": 1},
                prev_hash=prev,
                hash_version=audit.KEYED,
                key_id=settings.key_id,
            )
            row.hash = prev = audit.event_hash(row, key)
            rows.append(vars(row))
        for start in range(0, count, BATCH):
            session.execute(insert(AuditEvent), rows[start : start + BATCH])
        session.commit()
        head = audit.Anchor(count, count, prev).signed(key)
        audit.write_anchor(settings.anchor_path, head)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", help="a PostgreSQL URL (its database is wiped); default: temp SQLite only"
    )
    parser.add_argument("--events", type=int, default=100_000, help="events in the chain")
    parser.add_argument("--repeats", type=int, default=3, help="verifications measured")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
