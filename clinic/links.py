"""The addresses people are sent, built here alone so pages, mails and routes cannot drift apart; the
`id` converter every route uses for a record's id; and the layout's fixed links."""

from collections.abc import Callable
from urllib.parse import quote, urlencode

from flask import Flask, request, url_for
from werkzeug.routing import IntegerConverter

from .models import MAX_ID

# The patient's booking page and waiting room; its token arrives once, after "#" (see booking.arrival).
MANAGE_PATH = "/c/<reference>"
# A companion's waiting room: their own token, which opens nothing under MANAGE_PATH.
COMPANION_PATH = "/g/<reference>"
# A waitlist entry's page, where the patient leaves the list; and an offer's, where they book the time.
WAITLIST_PATH = "/w/<reference>"
OFFER_PATH = "/o/<reference>"
# A walk-in caller's place in the queue: their own token, which opens nothing else.
WALK_IN_ENTRY_PATH = "/walk-in/e/<reference>"
# The privacy notice patients agree to when they book, join a waitlist or a walk-in queue.
PRIVACY_PATH = "/privacy"
# The staff schedule, and one consultation's page in it (where its clinician starts the call).
SCHEDULE_PREFIX = "/schedule"
CONSULTATION_PAGE_PATH = "/consultations/<id:consultation_id>"  # under SCHEDULE_PREFIX
# Where a staff member chooses a password with an admin's one-time link; its token after "#" too.
PASSWORD_LINK_PATH = "/account/password-link"


def manage_url(base_url: str, reference: str, token: str) -> str:
    """The absolute manage link of booking `reference`, carrying its secret token."""
    return _with_token(base_url, MANAGE_PATH, reference, token)


def manage_address(base_url: str, reference: str) -> str:
    """The booking's page without its token, short enough to type from a letter: it asks for the link
    or the booking's letter code."""
    return f"{base_url.rstrip('/')}{MANAGE_PATH.replace('<reference>', quote(reference, safe=''))}"


def companion_url(base_url: str, reference: str, token: str) -> str:
    """The absolute join link of the companion invited to consultation `reference`, carrying their token."""
    return _with_token(base_url, COMPANION_PATH, reference, token)


def waitlist_url(base_url: str, reference: str, token: str) -> str:
    """The absolute link of waitlist entry `reference`, from which the patient leaves the list."""
    return _with_token(base_url, WAITLIST_PATH, reference, token)


def offer_url(base_url: str, reference: str, token: str) -> str:
    """The absolute link of waitlist offer `reference`, which books the time offered in one step."""
    return _with_token(base_url, OFFER_PATH, reference, token)


def walk_in_url(base_url: str, reference: str, token: str) -> str:
    """The absolute secret link to a walk-in caller's place in the queue, carrying its token."""
    return _with_token(base_url, WALK_IN_ENTRY_PATH, reference, token)


def password_link_url(base_url: str, token: str) -> str:
    """The absolute one-time password link an admin hands to a staff member."""
    return _with_token(base_url, PASSWORD_LINK_PATH, "", token)


def privacy_url(base_url: str) -> str:
    """The absolute address of the privacy notice, for an app to show the patient before they agree."""
    return f"{base_url.rstrip('/')}{PRIVACY_PATH}"


def booking_start_url(base_url: str) -> str:
    """The absolute address of the first booking page, where a patient chooses among the services offered."""
    return f"{base_url.rstrip('/')}/book"


def booking_url(base_url: str, service_id: int) -> str:
    """The absolute address of the booking pages for one service: where a patient books again."""
    return f"{base_url.rstrip('/')}/book/clinician?{urlencode({'service': service_id})}"


def consultation_page_url(base_url: str, consultation_id: int) -> str:
    """The absolute address of a consultation's page on the staff schedule (a staff sign-in opens it)."""
    path = CONSULTATION_PAGE_PATH.replace("<id:consultation_id>", str(consultation_id))
    return f"{base_url.rstrip('/')}{SCHEDULE_PREFIX}{path}"


def _with_token(base_url: str, route: str, reference: str, token: str) -> str:
    # After "#": browsers never send the fragment, so the token reaches no server's or proxy's log.
    path = route.replace("<reference>", quote(reference, safe=""))
    return f"{base_url.rstrip('/')}{path}#{urlencode({'t': token})}"


class IdConverter(IntegerConverter):
    """`<id:name>` in a route: a record id, 1 to 2**31 - 1 (ids are 32-bit in the database), so a larger
    number is simply not found instead of overflowing the query."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)


def init_app(app: Flask) -> None:
    """Give `app` the `id` converter, and `fixed_url` to its templates."""
    app.url_map.converters["id"] = IdConverter
    app.add_template_global(_fixed_urls(), "fixed_url")


def _fixed_urls() -> Callable[..., str]:
    built: dict[tuple[str, str, str | None], str] = {}

    def fixed_url(endpoint: str, filename: str | None = None) -> str:
        """url_for(endpoint), or a static file's with `filename`, built once per script root: every page's
        layout links to the same few routes, whose paths nothing else changes (no URL defaults or
        subdomains here)."""
        key = (request.script_root, endpoint, filename)
        if key not in built:
            built[key] = url_for(endpoint, filename=filename) if filename else url_for(endpoint)
        return built[key]

    return fixed_url
