"""The SQL of one real booking, captured from SQLAlchemy and turned into a pgbench script.

Every statement is kept as the driver received it; its parameters become SQL literals,
except the values that must differ between bookings, which become pgbench variables:
the clinician (random), the start (a distinct hour per client and transaction, so the
exclusion constraint never fires, in any round), the audit event's place in the chain, and
the unique strings: the reference from that same hour's number, the others (uuid, e-mail,
idempotency key, audit hash) derived with md5 from a random number.
"""

import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Engine

# pgbench's clients book hours from here on: far from the service run's slots. Each client of each
# round (pgbench's `-D round=N`) has a range of hours of its own.
PGBENCH_EPOCH = int(datetime(2040, 1, 1, tzinfo=UTC).timestamp())
HOURS_PER_CLIENT = 100_000
CLIENTS_PER_ROUND = 64
_PARAMETER = re.compile(r"%\((\w+)\)s")
# The audit chain's head, read in the same round trip as its lock (clinic/audit/chain.py).
_AUDIT_HEAD = re.compile(
    r"^SELECT audit_event\.seq, audit_event\.hash, audit_event\.key_id FROM audit_event "
    r"ORDER BY audit_event\.id DESC LIMIT "
)
# Where the head's row goes: pgbench's \aset, at the end of the command that reads it, sets a variable
# from each column of the last row of each of its statements (head_seq, the head's seq).
_ASET_HEAD = " \\aset head_"


@dataclass
class Captured:
    """What one booking sent: statements with their parameters, and BEGIN/COMMIT/ROLLBACK. Statements
    the app sent together in one round trip (psycopg's pipeline: `clinic.models.driver.driver_batch`)
    are one step, a list of them."""

    steps: list[str | tuple[str, Any] | list[tuple[str, Any]]]
    batch: object = None  # the pipeline of the last step, while it is a batch

    def add(self, step: str | tuple[str, Any], pipeline: object) -> None:
        """Record a step; a statement sent in `pipeline` joins the last step if that was sent in it too."""
        if pipeline is None:
            self.steps.append(step)
        elif pipeline is self.batch:
            self.steps[-1].append(step)
        else:
            self.steps.append([step])
        self.batch = pipeline


@dataclass(frozen=True)
class Varying:
    """The captured values that pgbench must vary, so its bookings do not collide."""

    clinician_id: int
    start: datetime
    patient_id: int
    consultation_id: int
    strings: dict[str, str]  # captured value -> SQL expression


@contextmanager
def capture(engine: Engine) -> Iterator[Captured]:
    """Record every statement and transaction boundary the engine's transactions send inside the block.

    Statements are recorded at psycopg's cursors, so those the app runs on the DB-API cursor itself
    (clinic.models.driver) are among them.
    """
    captured = Captured([])

    class Recording(psycopg.Cursor):
        def execute(self, query, params=None, **options):
            captured.add((query, params), self.connection._pipeline)  # None outside a pipeline
            return super().execute(query, params, **options)

        def executemany(self, query, params_seq, **options):
            rows = list(params_seq)
            captured.add((query, rows), None)  # a pipeline of its own, of one statement
            return super().executemany(query, rows, **options)

    def begin(conn) -> None:
        captured.add("BEGIN", None)
        conn.connection.driver_connection.cursor_factory = Recording

    def end(step: str) -> Callable:
        def ended(conn) -> None:
            captured.add(step, None)
            conn.connection.driver_connection.cursor_factory = psycopg.Cursor

        return ended

    listeners: list[tuple[str, Callable]] = [
        ("begin", begin),
        ("commit", end("COMMIT")),
        ("rollback", end("ROLLBACK")),
    ]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        yield captured
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)


def script(captured: Captured, varying: Varying, clinicians: range) -> str:
    """The pgbench script: variables first, then each captured step with its literals."""
    lines = [
        f"\\set cid random({clinicians.start}, {clinicians.stop - 1})",
        "\\set n :n + 1",
        f"\\set h (:round * {CLIENTS_PER_ROUND} + :client_id) * {HOURS_PER_CLIENT} + :n",
        f"\\set t0 {PGBENCH_EPOCH} + 3600 * :h",
        "\\set r random(1, 1000000000000000)",
    ]
    for step in captured.steps:
        if isinstance(step, str):
            lines.append(f"{step};")
        elif isinstance(step, list):
            lines.append(_batch([_statement(*statement, varying) for statement in step]))
        else:
            lines.append(_statement(*step, varying))
    return "\n".join(lines) + "\n"


def unique_strings(uuid: str, reference: str, email: str, key: str, audit_hash: str) -> dict[str, str]:
    """SQL expressions for the captured unique strings, different in every pgbench transaction.

    The reference is the hour's number in hex, unique by construction: 8 random hex digits (32 bits)
    collided by chance in a run's tens of thousands of transactions. It has no hyphen, so it is never
    one of the app's (see `clinic.scheduling.tokens.new_reference`).
    """
    return {
        uuid: "md5('u' || :r)",
        reference: "upper(lpad(to_hex(:h), 8, '0'))",
        email: "('p' || :r || '@example.org')",
        key: "('k' || :r)",
        audit_hash: "(md5('h' || :r) || md5('a' || :r))",
    }


def _statement(sql: str, parameters: Any, varying: Varying) -> str:
    if isinstance(parameters, list):
        return _rows_statement(sql, parameters, varying)
    parameters = parameters or {}  # none, for a statement without any
    if not isinstance(parameters, dict):
        raise ValueError("expected psycopg's named parameters")
    text = " ".join(_filled(sql, parameters, varying).split())
    returning = re.search(r"RETURNING (patient|consultation)\.id\b", text)
    if returning:  # keep the new row's id (and columns) for the statements that refer to it
        return f"{text} \\gset {returning.group(1)}_"
    return f"{text};"


def _batch(statements: list[str]) -> str:
    """Statements the app sent in one round trip, as one pgbench command, which keeps the row of the audit
    chain's head if it reads it (`_ASET_HEAD`): the audit event's place follows the head."""
    joined = _compound(statement.removesuffix(";") for statement in statements)
    return joined + (_ASET_HEAD if any(_AUDIT_HEAD.search(s) for s in statements) else ";")


def _compound(statements: Iterable[str]) -> str:
    """Statements as one pgbench command: sent in one round trip, each still a statement of its own (a
    plain ";" would make each a command and a round trip)."""
    return " \\; ".join(statements)


def _rows_statement(sql: str, rows: list[dict], varying: Varying) -> str:
    """An INSERT of several rows, which psycopg pipelines in one round trip (executemany), as one
    INSERT of all the rows: the nearest that pgbench's simple protocol comes to it."""
    head, values = sql.split(" VALUES ", 1)
    if not head.lstrip().upper().startswith("INSERT") or " RETURNING " in values.upper():
        raise ValueError(f"expected an INSERT without RETURNING for several rows: {sql[:80]}")
    filled = ", ".join(_filled(values, row, varying) for row in rows)
    return " ".join(f"{head} VALUES {filled};".split())


def _filled(sql: str, parameters: dict, varying: Varying) -> str:
    return _PARAMETER.sub(lambda m: _parameter(m.group(1), parameters, varying), sql).replace("%%", "%")


def _parameter(name: str, parameters: dict, varying: Varying) -> str:
    if name == "seq":  # the audit event's place in the chain: after the head read under the lock
        return "(:head_seq + 1)"
    return _literal(parameters[name], varying)


def _literal(value: Any, varying: Varying) -> str:
    """A parameter as SQL: a pgbench expression for a varying value, else a plain literal."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "NULL"}[value]
    if isinstance(value, int):
        return _int_literal(value, varying)
    if isinstance(value, datetime):
        return _instant_literal(value, varying)
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, date | time):
        value = value.isoformat()
    if hasattr(value, "obj"):  # psycopg's Json wrapper
        value = json.dumps(value.obj)
    if isinstance(value, str):
        return _string_literal(value, varying)
    raise TypeError(f"no literal for {type(value).__name__}")


def _int_literal(value: int, varying: Varying) -> str:
    names = {
        varying.clinician_id: ":cid",
        varying.patient_id: ":patient_id",
        varying.consultation_id: ":consultation_id",
    }
    return f"({names[value]})" if value in names else str(value)


def _instant_literal(value: datetime, varying: Varying) -> str:
    """Times near the booked start (its window, its blocked time) move with pgbench's start."""
    offset = value - varying.start
    if abs(offset) <= timedelta(days=3):
        return f"to_timestamp(:t0 + {offset.total_seconds()!r})"
    return _quote(value.isoformat())


def _string_literal(value: str, varying: Varying) -> str:
    if value == str(varying.consultation_id):  # the audit event's entity id
        return "(:consultation_id)::text"
    parts = re.split(f"({'|'.join(map(re.escape, varying.strings))})", value) if varying.strings else [value]
    pieces = [varying.strings.get(part) or _quote(part) for part in parts if part]
    return f"({' || '.join(pieces)})" if len(pieces) > 1 else (pieces[0] if pieces else "''")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
