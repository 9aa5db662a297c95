"""SQL the reports compute with on both databases."""

from collections.abc import Sequence
from fractions import Fraction

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

# The shares of a nearest-rank percentile: the median, and the 90th and 95th percentiles.
MEDIAN, P90, P95 = Fraction(1, 2), Fraction(9, 10), Fraction(19, 20)


def nearest_rank(count, share: Fraction):
    """The rank ⌈share × count⌉ of the nearest-rank percentile among `count` sorted values: the same
    integer arithmetic on a Python int or an SQL expression."""
    return (share.numerator * count + share.denominator - 1) // share.denominator


def ranked_at(group: Sequence[ColumnElement], value: ColumnElement, shares: Sequence[Fraction]) -> Select:
    """Per `group` (columns of one subquery, as is `value`), the values at the nearest ranks of `shares`,
    as rows (*group, rank, count, value). Ranked in SQL with window functions (row_number, count), which
    both databases have (percentile_disc is PostgreSQL's only), so only those rows leave the database."""
    ranked = select(
        *group,
        func.row_number().over(partition_by=group, order_by=value).label("rank"),
        func.count().over(partition_by=group).label("n"),
        value.label("value"),
    ).subquery()
    at_ranks = [ranked.c.rank == nearest_rank(ranked.c.n, share) for share in shares]
    groups = [ranked.c[column.name] for column in group]
    return select(*groups, ranked.c.rank, ranked.c.n, ranked.c.value).where(or_(*at_ranks))


def percentiles(
    session: Session, group: Sequence[ColumnElement], value: ColumnElement, shares: Sequence[Fraction]
) -> dict[tuple, dict[Fraction, int]]:
    """Per group (as a tuple of its values), the value at each share's nearest rank; groups without a
    value are absent."""
    found: dict[tuple, dict[Fraction, int]] = {}
    for *key, rank, count, value_at in session.execute(ranked_at(group, value, shares)):
        for share in shares:
            if rank == nearest_rank(count, share):
                found.setdefault(tuple(key), {})[share] = value_at
    return found
