"""The pgbench booking script run by Python client processes through psycopg, with nothing else.

It sends the same statements as pgbench, as text and in the same order, so the gap between it and
pgbench is the cost of a Python client as such (the interpreter, psycopg, process switches on shared
cores): the floor that no booking service written in Python can go below.
"""

import random
import re
import time as clock
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from .processes import run_together

_VARIABLE = re.compile(r"(?<![:\w]):(\w+)")
_RANDOM = re.compile(r"random\((\d+), (\d+)\)")
_ARITHMETIC = re.compile(r"[\d\s+*()-]+")


@dataclass(frozen=True)
class Step:
    """One line of the script: `\\set name expression`, or SQL whose row (or rows) may set variables."""

    sql: str
    sets: str = ""  # a variable name for \set; a prefix for \gset and \aset
    kind: str = "sql"  # "set", "sql", "gset" or "aset"


def parse(script: str) -> list[Step]:
    """The script's lines as steps (the grammar that `pgbench_script.script` writes, nothing more)."""
    steps = []
    for line in script.splitlines():
        if line.startswith("\\set "):
            _, name, expression = line.split(" ", 2)
            steps.append(Step(expression, name, "set"))
        elif match := re.search(r" \\([ag]set) (\w+)$", line):
            steps.append(Step(line[: match.start()], match.group(2), match.group(1)))
        elif line:
            steps.append(Step(line))
    # pgbench's "\;" joins statements into one command; psycopg sends such text as one simple query.
    return [replace(step, sql=step.sql.replace(" \\; ", "; ")) for step in steps]


@dataclass(frozen=True)
class Replayed:
    rate: float  # transactions per second
    cpu_ms: float  # of the client processes, per transaction


def run_clients(url: str, script: str, seconds: float, clients: int, round_number: int) -> Replayed:
    """`clients` processes, each running the script in a loop for `seconds`.

    Their `client_id`s start after pgbench's, so their hours never meet pgbench's in the same round.
    """
    steps = parse(script)
    outcomes = run_together(
        _client, [(url, steps, seconds, {"client_id": 32 + i, "round": round_number}) for i in range(clients)]
    )
    errors = [outcome["error"] for outcome in outcomes if outcome["error"]]
    if errors:
        raise SystemExit(f"the Python replay failed: {errors[0]}")
    done = sum(outcome["done"] for outcome in outcomes)
    seconds = max(o["ended"] for o in outcomes) - min(o["started"] for o in outcomes)
    return Replayed(done / seconds, 1000 * sum(outcome["cpu"] for outcome in outcomes) / max(done, 1))


def _client(url: str, steps: list[Step], seconds: float, variables: dict, ready: Any, results: Any) -> None:
    connection = connect(url)
    variables = {"n": 0, **variables}
    done, error = 0, ""
    ready.wait()
    started, cpu = clock.monotonic(), clock.process_time()
    deadline = started + seconds
    with connection, connection.cursor() as cursor:
        while clock.monotonic() < deadline:
            try:
                run_transaction(cursor, steps, variables)
                done += 1
            except psycopg.Error as failure:
                error = f"{type(failure).__name__}: {failure}"
                break
    ended, used = clock.monotonic(), clock.process_time() - cpu
    results.put({"done": done, "started": started, "ended": ended, "cpu": used, "error": error})


def connect(url: str) -> psycopg.Connection:
    """A connection of its own to the database the SQLAlchemy `url` names, in autocommit: the script says
    BEGIN and COMMIT itself, as pgbench sends them."""
    target = make_url(url)
    return psycopg.connect(
        host=target.host or "127.0.0.1",
        port=target.port or 5432,
        user=target.username or "postgres",
        password=target.password,
        dbname=target.database,
        autocommit=True,
    )


def run_transaction(cursor: psycopg.Cursor, steps: list[Step], variables: dict) -> None:
    """One run of the script's steps, its variables set as pgbench sets them (`n` counted by the script)."""
    for step in steps:
        if step.kind == "set":
            variables[step.sets] = _evaluate(_substitute(step.sql, variables))
            continue
        cursor.execute(_substitute(step.sql, variables).encode())
        if step.kind == "gset":
            _keep(cursor, step.sets, variables)
        elif step.kind == "aset":  # every result of the round trip; the last row of each sets
            while True:
                if cursor.description:
                    _keep(cursor, step.sets, variables)
                if not cursor.nextset():
                    break


def _keep(cursor: psycopg.Cursor, prefix: str, variables: dict) -> None:
    row = cursor.fetchone()
    if row is not None:
        for column, value in zip(cursor.description, row, strict=True):
            variables[prefix + column.name] = value


def _substitute(text: str, variables: dict) -> str:
    return _VARIABLE.sub(
        lambda m: str(variables[m.group(1)]) if m.group(1) in variables else m.group(0), text
    )


def _evaluate(expression: str) -> int:
    """pgbench's integer expressions as the script uses them: random(a, b), or + - * and brackets."""
    if match := _RANDOM.fullmatch(expression):
        return random.randint(int(match.group(1)), int(match.group(2)))
    if not _ARITHMETIC.fullmatch(expression):
        raise ValueError(f"not an expression the replay knows: {expression}")
    evaluate: Callable[[str], int] = eval  # digits and operators only, checked above
    return evaluate(expression)
