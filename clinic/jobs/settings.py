"""The worker's settings, parsed once from the app config so that a bad value stops it at start-up."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from setting_kinds import parse_duration, parse_durations

from ..notify.mail import MailBackend, mail_backends
from ..privacy.retention import RetentionPeriods
from ..scheduling.offer_hold import OfferDay
from ..scheduling.offers import OfferRules
from ..scheduling.timezones import zone
from ..scheduling.tokens import LinkKeys
from ..staff.sessions import SessionRules


@dataclass(frozen=True)
class WorkerSettings:
    """What the outbox worker needs from the config; `config` is the whole mapping, for providers and mail."""

    config: Mapping[str, Any] = field(repr=False)
    instance_path: str
    link_keys: LinkKeys
    batch_size: int
    lease: timedelta
    max_attempts: int
    retry_base: timedelta
    retry_cap: timedelta
    tick_seconds: float
    reminder_offsets: tuple[timedelta, ...]
    meeting_provider: str
    fallback_provider: str | None
    fallback_after: timedelta
    mail_from: str
    invite_domain: str
    hospital_name: str
    public_base_url: str
    noshow_after: timedelta
    walk_in_answer_within: timedelta
    staff_sessions: SessionRules  # by which a walk-in call's clinician is signed in or gone from it
    retention: RetentionPeriods
    waitlist: OfferRules
    new_mail: Callable[[], MailBackend] = field(repr=False)  # a backend for a tick, as read at the start

    @classmethod
    def from_config(cls, config: Mapping[str, Any], instance_path: str) -> "WorkerSettings":
        """Read the OUTBOX_*, REMINDER_*, MEETING_* and mail settings; raises ValueError naming a bad one."""
        return cls(
            config=config,
            instance_path=instance_path,
            link_keys=LinkKeys.from_config(config),
            batch_size=int(config["OUTBOX_BATCH_SIZE"]),
            lease=timedelta(seconds=float(config["OUTBOX_LEASE_SECONDS"])),
            max_attempts=int(config["OUTBOX_MAX_ATTEMPTS"]),
            retry_base=timedelta(seconds=float(config["OUTBOX_RETRY_BASE_SECONDS"])),
            retry_cap=timedelta(seconds=float(config["OUTBOX_RETRY_MAX_SECONDS"])),
            tick_seconds=float(config["OUTBOX_TICK_SECONDS"]),
            reminder_offsets=parse_durations(config["REMINDER_OFFSETS"] or ""),
            meeting_provider=config["MEETING_PROVIDER"],
            fallback_provider=config.get("MEETING_FALLBACK_PROVIDER") or None,
            fallback_after=parse_duration(config["MEETING_FALLBACK_AFTER"]),
            mail_from=config["MAIL_FROM"],
            invite_domain=config["INVITE_DOMAIN"],
            hospital_name=config["HOSPITAL_NAME"],
            public_base_url=config["PUBLIC_BASE_URL"].rstrip("/"),
            noshow_after=timedelta(minutes=int(config["NOSHOW_AFTER_MINUTES"])),
            walk_in_answer_within=timedelta(minutes=float(config["WALK_IN_ANSWER_MINUTES"])),
            staff_sessions=SessionRules.from_config(config),
            retention=RetentionPeriods.from_config(config),
            waitlist=OfferRules(
                per_time=int(config["WAITLIST_OFFERS_PER_TIME"]),
                lifetime=parse_duration(config["WAITLIST_OFFER_LIFETIME"]),
                day=OfferDay(
                    zone(config["DEFAULT_TIME_ZONE"]),
                    int(config["WAITLIST_OFFER_DAY_STARTS"]),
                    int(config["WAITLIST_OFFER_DAY_ENDS"]),
                ),
            ),
            new_mail=mail_backends(config, instance_path),
        )
