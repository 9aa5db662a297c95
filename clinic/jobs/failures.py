"""What the outbox keeps of a failed attempt, and what the log says of it.

The message's `last_error`, which only admins see on the outbox page, has the failure's kind and what the
far end said: an SMTP server's reply code and words, a provider's HTTP status; an SMTP reply may echo the
recipient's address, which is masked, as the page names each message's consultation by its reference
only. A log line has the kind and the code, never the words. A failure of another kind (a bug, the
database) is recorded by its kind alone: its text may hold anything.
"""

import re

from ..meetings import ProviderError
from ..models import OutboxMessage
from ..notify.mail import MailError

# Anything with an @ between characters that do not end an address in a reply (<a@b>, "a@b", a@b:).
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"@]+@[^\s<>()\[\],;:\"'@]+")
MASKED_ADDRESS = "…@…"
_MOST = OutboxMessage.__table__.c.last_error.type.length


def recorded_error(error: Exception) -> str:
    """The failure as the outbox row keeps it: "MailPermanentError: 550 5.1.1 <…@…>: User unknown"."""
    said = _what_was_said(error)
    text = f"{type(error).__name__}: {said}" if said else type(error).__name__
    return text if len(text) <= _MOST else text[: _MOST - 1] + "…"


def logged_error(error: Exception) -> str:
    """The failure as a log line names it: "MailPermanentError 550", "ProviderUnavailable 503"."""
    code = _code(error)
    return f"{type(error).__name__} {code}" if code is not None else type(error).__name__


def _what_was_said(error: Exception) -> str:
    if isinstance(error, MailError):
        words = _ADDRESS.sub(MASKED_ADDRESS, " ".join(error.reply.split()))  # a reply of several lines: one
        return f"{error.code} {words}" if error.code is not None else words
    if isinstance(error, ProviderError) and error.status is not None:
        return f"HTTP {error.status}"
    return ""


def _code(error: Exception) -> int | None:
    if isinstance(error, MailError):
        return error.code
    return error.status if isinstance(error, ProviderError) else None
