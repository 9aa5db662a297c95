"""Request limits per client address (Flask-Limiter): which requests each limit counts, and start-up checks.

Each guard's limit string is a setting read on every request, so each app keeps its own; a guard whose
setting is empty counts nothing. The answer to a refused request (429) is in clinic/errors.py.
"""

from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Flask, current_app, request
from limits.storage import RedisStorage

from setting_kinds import REDIS_SCHEMES

from . import api, auth, booking
from .extensions import limiter


@dataclass(frozen=True)
class Guard:
    setting: str  # the config key holding its limit string, e.g. "10 per minute;100 per hour"
    scope: str  # the name of its counter
    blueprints: tuple[Blueprint, ...]  # where the requests it counts are served
    counts: Callable[[], bool]  # whether it counts the current request (one of its blueprints')
    shared: bool = True  # one counter for every request it counts; else one per endpoint


def _posts_to(*endpoints: str) -> Callable[[], bool]:
    return lambda: request.method == "POST" and request.endpoint in endpoints


# A walk-in caller's page asks for its status every few seconds: counted apart, and more generously,
# so callers sharing one address (a care home's network) are not refused for their pages' polling.
_WALK_IN_POLL = "booking.walk_in_status"
# So is a waiting room's countdown, asking every minute for days, maybe: a page left open must not use up
# its address's count of links and be refused when it opens. The polls take no token, only the pass this
# browser was given by a link its count let through, so they try no link.
_ROOM_POLLS = ("booking.patient_room_status", "booking.companion_room_status")
# So is a room's page asked for again without a token: by waiting_room.js every 30 seconds while the room
# is open (a ward's tablets behind one address, their rooms open at once), or reloaded. It opens with this
# browser's pass or shows the link's form, and so tries no link; one carrying a token (?t=) does.
_ROOM_PAGES = ("booking.manage", "booking.companion_room")


def _polls_a_walk_in_place() -> bool:
    return request.endpoint == _WALK_IN_POLL


def _polls_a_room() -> bool:
    return request.endpoint in _ROOM_POLLS or (
        request.endpoint in _ROOM_PAGES and request.method == "GET" and "t" not in request.args
    )


def _opens_a_booking() -> bool:
    # Every route that takes a booking's reference (and so its token): the manage and companion links,
    # walk-in callers' places, the confirmation page, the API's booking; one added later is counted
    # without being listed here. And the API's free times to move a booking to, which take it in the query.
    in_path = "reference" in (request.view_args or {})
    in_query = request.endpoint == "api.slots" and "moving" in request.args
    return (in_path or in_query) and not (_polls_a_walk_in_place() or _polls_a_room())


GUARDS = (
    Guard(
        "RATELIMIT_BOOKING",
        "booking",
        (booking.bp, api.bp),
        _posts_to(
            "booking.review",
            "booking.confirm",
            "booking.resend_link",
            "booking.join",
            "booking.take",
            "api.create_booking",
        ),
        shared=False,
    ),
    Guard(
        "RATELIMIT_SLOT_SEARCH",
        "slot-search",
        (booking.bp, api.bp),
        lambda: request.endpoint in ("booking.choose_time", "api.slots"),
    ),
    Guard("RATELIMIT_WALK_IN", "walk-in", (booking.bp,), _posts_to("booking.join_walk_in")),
    Guard("RATELIMIT_MANAGE_LINK", "manage-link", (booking.bp, api.bp), _opens_a_booking),
    Guard("RATELIMIT_WALK_IN_STATUS", "walk-in-status", (booking.bp,), _polls_a_walk_in_place),
    Guard("RATELIMIT_ROOM_STATUS", "room-status", (booking.bp,), _polls_a_room),
    Guard("RATELIMIT_API", "api", (api.bp,), lambda: True),
    Guard("RATELIMIT_STAFF_LOGIN", "staff-login", (auth.bp,), _posts_to("auth.login", "auth.code")),
)


def _limit_of(guard: Guard) -> Callable[[], str]:
    return lambda: current_app.config[guard.setting]


def _register(guard: Guard) -> None:
    declare = limiter.shared_limit if guard.shared else limiter.limit
    counted = declare(_limit_of(guard), scope=guard.scope, exempt_when=lambda: not guard.counts())
    for blueprint in guard.blueprints:
        counted(blueprint)


# Once per process: the limiter keeps limits by blueprint name, for every app it is set up on.
for _guard in GUARDS:
    _register(_guard)

# Flask-Limiter's limits over every request: _counted_by_no_guard would skip them on most pages, so a
# start with either set is refused rather than left to count less than it says.
_UNGUARDED_SETTINGS = ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION")
# Redis storages that take redis-py's socket options, and the seconds each connect or answer may take:
# Redis near the app answers in a millisecond.
_REDIS_SCHEMES = REDIS_SCHEMES
STORAGE_TIMEOUT = 1.0

# Each blueprint's name, with the guards that may count its requests.
_GUARDS_OF = {bp.name: tuple(g for g in GUARDS if bp in g.blueprints) for g in GUARDS for bp in g.blueprints}


@limiter.request_filter
def _counted_by_no_guard() -> bool:
    # The guards are the only limits (no default or application-wide ones), so a request none of them
    # counts (most pages, /healthz) skips the limiter's search through every blueprint's limits.
    return not any(guard.counts() for guard in _GUARDS_OF.get(request.blueprint or "", ()))


class CountingRedis(RedisStorage):
    """Redis, taken for sound only while it counts. Redis at its memory limit answers PING and refuses
    every count: Flask-Limiter, checking with PING, took Redis for back about once a second, failed the
    next count and fell back to the process again, with a WARNING each time, and /readyz said ok. This
    storage checks by counting, on a key of its own that expires. Its schemes are Redis's with "clinic+"
    before them, which `init_app` adds to a Redis URL."""

    STORAGE_SCHEME = tuple(f"clinic+{scheme.removesuffix('://')}" for scheme in _REDIS_SCHEMES)

    def __init__(self, uri: str, **options) -> None:
        super().__init__(uri.removeprefix("clinic+"), **options)

    def check(self) -> bool:
        try:
            self.incr(_CHECKED_BY, expiry=60)
        except self.base_exceptions:
            return False
        return True


_CHECKED_BY = "clinic-storage-check"


def init_app(app: Flask) -> None:
    """Set the limiter up on `app` (config.py read its limit strings); production warns at start of limits
    off or counted per process (clinic.production.warnings)."""
    for setting in _UNGUARDED_SETTINGS:
        if app.config.get(setting):
            raise RuntimeError(
                f"{setting} is not applied: Clinic limits requests only through its own settings "
                "(CLINIC_RATELIMIT_BOOKING and the others, clinic/limits.py); remove it"
            )
    storage = app.config["RATELIMIT_STORAGE_URL"]
    app.config.update(
        RATELIMIT_STORAGE_URI=f"clinic+{storage}" if storage.startswith(_REDIS_SCHEMES) else storage,
        # If Redis goes away, count in this process until it is back rather than refuse every request.
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
    )
    if storage.startswith(_REDIS_SCHEMES):
        # redis-py waits for an answer without end: Redis gone from the network would hold every limited
        # request until gunicorn killed its worker, where a refusal hands the count to the process.
        timeouts = {"socket_connect_timeout": STORAGE_TIMEOUT, "socket_timeout": STORAGE_TIMEOUT}
        app.config["RATELIMIT_STORAGE_OPTIONS"] = {
            **timeouts,
            **app.config.get("RATELIMIT_STORAGE_OPTIONS", {}),
        }
    limiter.init_app(app)


def counted_together() -> bool:
    """Whether the limits' storage answers (Redis when configured; memory always does). While it does
    not, each process counts for itself, and a client gets each limit once per process."""
    return not current_app.config["RATELIMIT_ENABLED"] or limiter.storage.check()
