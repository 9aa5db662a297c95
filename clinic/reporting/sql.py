"""SQL the reports compute with on both databases."""

from sqlalchemy import BigInteger
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class unix_seconds(FunctionElement):
    """An instant column as whole Unix seconds (truncated), for durations and lead times in SQL."""

    type = BigInteger()
    name = "unix_seconds"
    inherit_cache = True


@compiles(unix_seconds, "sqlite")
def _unix_seconds_sqlite(element, compiler, **kw) -> str:
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC. SQLite rounds a fraction to milliseconds, so
    # cut it off first; julianday arithmetic is the cheapest exact conversion it has (round()
    # removes the float error, which is far below half a second).
    column = compiler.process(element.clauses, **kw)
    return f"CAST(round((julianday(substr({column}, 1, 19)) - 2440587.5) * 86400) AS INTEGER)"


@compiles(unix_seconds, "postgresql")
def _unix_seconds_postgresql(element, compiler, **kw) -> str:
    return f"CAST(floor(extract(epoch FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"
