"""Housekeeping the worker runs on the clock: marking no-shows (and, later, purging old data)."""

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ..scheduling.lifecycle import mark_no_shows

log = logging.getLogger(__name__)


def housekeep(session: Session, now: datetime, *, noshow_after: timedelta) -> None:
    """One round of housekeeping; safe to run from several workers at once (rows are locked or skipped)."""
    marked = mark_no_shows(session, now=now, after=noshow_after)
    if marked:
        log.info("housekeeping: %d consultations marked no-show", marked)
