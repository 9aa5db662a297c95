"""Housekeeping the worker runs on the clock: marking no-shows; ending the waitlist's past entries, those of
what is no longer offered, and its offers unanswered or whose time is no longer free; the walk-in queue's
rules for callers who do not answer or are left waiting at closing time (see walkin.rounds); and erasing
personal data past its retention period (see privacy.retention)."""

import logging
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ..privacy.retention import RetentionPeriods, apply_retention
from ..scheduling.lifecycle import mark_no_shows
from ..scheduling.offers import end_offers_no_longer_free, expire_offers
from ..scheduling.waitlist import close_unoffered_entries, expire_entries
from ..staff.sessions import SessionRules
from ..walkin.rounds import walk_in_round

log = logging.getLogger(__name__)


def housekeep(
    session: Session,
    now: datetime,
    *,
    noshow_after: timedelta,
    retention: RetentionPeriods,
    walk_in_answer_within: timedelta,
    staff_sessions: SessionRules,
) -> None:
    """One round of housekeeping; safe to run from several workers at once (rows are locked or skipped)."""
    marked = mark_no_shows(session, now=now, after=noshow_after)
    if marked:
        log.info("housekeeping: %d consultations marked no-show", marked)
    # Places closed first: their offers end with them, unmailed, before any is found no longer free.
    closed, entries = close_unoffered_entries(session, now=now), expire_entries(session, now=now)
    offers = expire_offers(session, now=now) + end_offers_no_longer_free(session, now=now)
    if offers or entries or closed:
        log.info(
            "housekeeping: %d waitlist offers and %d waitlist entries ended, %d closed (no longer offered)",
            offers,
            entries,
            closed,
        )
    moved = asdict(walk_in_round(session, now, answer_within=walk_in_answer_within, sessions=staff_sessions))
    if any(moved.values()):
        log.info("housekeeping: walk-in callers %s", ", ".join(f"{n} {what}" for what, n in moved.items()))
    erased = apply_retention(session, retention, now=now)
    if any(erased.values()):
        log.info("housekeeping: retention %s", ", ".join(f"{count} {kind}" for kind, count in erased.items()))
