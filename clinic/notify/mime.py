"""Building a mail: text, HTML and an optional iMIP invite as one MIME message, its headers (the To
header's name made safe, a Message-ID stable per idempotency key) and the policies that write it, with
header objects that recur from mail to mail parsed and folded once.
"""

import hashlib
from datetime import datetime
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import Policy, default
from typing import Any

from .ics import Invite


class _FoldedOnce(BaseHeader):
    """A header that folds itself once per kind of output: a header object met again (see
    `_HeaderClasses`) is written again for free."""

    def fold(self, *, policy: Policy) -> str:
        key = (policy.linesep, policy.max_line_length, policy.utf8)
        folded = self.__dict__.setdefault("_folded", {})
        if key not in folded:
            folded[key] = super().fold(policy=policy)
        return folded[key]


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, making each header class once instead of once per header, and
    each header that recurs from mail to mail once (its parse and its folding are most of the time
    spent building and sending a mail). Header objects are immutable, so one may serve every mail."""

    # Headers whose values repeat across mails: the sender, the subjects and the MIME parts' headers.
    RECURRING = frozenset(
        {"from", "subject", "auto-submitted", "mime-version"}
        | {"content-type", "content-transfer-encoding", "content-disposition"}
    )
    MAX_RECURRING = 1024  # enough for every wording and part; a clinician's subject names a reference

    def __init__(self) -> None:
        super().__init__(base_class=_FoldedOnce)
        self._made: dict[str, type] = {}
        self._recurring: dict[tuple[str, str], BaseHeader] = {}

    def __getitem__(self, name: str) -> type:
        # The stock registry builds a new class with type() for every header set or read: a third of
        # the time spent building a message. The classes it builds for one name are all alike.
        key = name.lower()
        if key not in self._made:
            self._made[key] = super().__getitem__(name)
        return self._made[key]

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if not isinstance(value, str) or name.lower() not in self.RECURRING:
            return super().__call__(name, value)
        key = (name, value)
        header = self._recurring.get(key)
        if header is None:
            if len(self._recurring) >= self.MAX_RECURRING:
                self._recurring.clear()
            header = self._recurring[key] = super().__call__(name, value)
        return header


# email.policy.default with that registry: the same headers and the same bytes on the wire.
POLICY = default.clone(header_factory=_HeaderClasses())
# For a recipient whose address is not ASCII (RFC 6531): headers in UTF-8, not encoded words, which
# cannot carry an address.
POLICY_UTF8 = POLICY.clone(utf8=True)
# The same boundaries in every mail: the generator would otherwise draw one per mail, check it against the
# whole text with a regular expression compiled for it, and rewrite the Content-Type header to hold it.
# Every part is quoted-printable or base64, neither of which can hold "==" after a line's "--", so these
# lines never occur inside a part; the two differ before either ends, as nested boundaries must.
ALTERNATIVE_BOUNDARY = "===============clinic-alternative=="
MIXED_BOUNDARY = "===============clinic-mixed=="


def make_message_id(key: str, domain: str) -> str:
    """A Message-ID that is the same for every send of the message with this idempotency key."""
    # Hashed because a key may hold characters a Message-ID cannot.
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def needs_smtputf8(address: str) -> bool:
    """Whether mail to `address` can only travel with SMTPUTF8: its local part or domain is not ASCII."""
    return not address.isascii()


# The characters that make a display name a quoted string (RFC 5322's specials). Python's email folds a
# long quoted name without its quotes (CPython gh-80222, fixed only in later patch releases), so commas and
# @ in a patient's name wrote extra addresses into the To header; as spaces, the name needs no quotes, and
# the mail's text still greets them by their name.
_QUOTED_SPECIALS = str.maketrans(dict.fromkeys('()<>@,:;."[]\\', " "))


def recipient_address(name: str, email: str) -> Address:
    """The To header's value: the name as a display name that needs no quotes, and the address; built
    from its parts because Address(addr_spec=...) refuses a local part that is not ASCII (RFC 6531)."""
    username, _, domain = email.rpartition("@")
    return Address(
        display_name=" ".join(name.translate(_QUOTED_SPECIALS).split()), username=username, domain=domain
    )


def build_message(
    *,
    sender: str,
    to: str | Address,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    date: datetime,
    invite: Invite | None = None,
) -> EmailMessage:
    """A multipart/alternative message: text/plain, text/html and, with an invite, text/calendar; an
    invite is also attached as invite.ics, the whole then wrapped in multipart/mixed."""
    address = to.addr_spec if isinstance(to, Address) else to
    message = EmailMessage(policy=POLICY_UTF8 if needs_smtputf8(address) else POLICY)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = date
    message["Message-ID"] = message_id
    # RFC 3834: keeps out-of-office robots from answering.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, cte="quoted-printable")
    message.make_alternative(boundary=ALTERNATIVE_BOUNDARY)
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    if invite is not None:
        # RFC 6047: the part's method must equal the METHOD inside, or clients show plain text only.
        # base64 keeps the invite's CRLF line folding byte for byte.
        message.add_alternative(
            invite.data,
            maintype="text",
            subtype="calendar",
            params={"method": str(invite.method), "charset": "utf-8"},
        )
        # For web mail that ignores the inline part; application/ics (as Google Calendar sends it), so a
        # client that reads both does not take it for a second invite.
        message.make_mixed(boundary=MIXED_BOUNDARY)
        message.add_attachment(invite.data, maintype="application", subtype="ics", filename="invite.ics")
    return message
