"""Reading back mails: those the file backend wrote, for the development mail page."""

import email
import email.policy
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from itertools import takewhile
from pathlib import Path

# Exactly the names FileBackend gives, so a request can never reach outside the folder.
_NAME = re.compile(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}\.eml")


@dataclass(frozen=True)
class StoredMail:
    name: str
    written_at: datetime
    to: str
    subject: str
    # The invite's METHOD (REQUEST, CANCEL) if the mail carries one.
    method: str | None


@dataclass(frozen=True)
class MailPage:
    """One page of the stored mails, newest first, and how many match in all."""

    mails: list[StoredMail]
    total: int
    number: int  # 1 is the newest page
    pages: int
    first: int  # the position of the page's first mail among all that match, from 1


def mail_page(folder: Path, *, to: str = "", number: int = 1, per_page: int = 50) -> MailPage:
    """Page `number` (clamped to those there are) of the mails whose To header contains `to`, any case."""
    names = _names(folder)
    if to:
        wanted = to.casefold()
        names = [name for name in names if wanted in _recipients(folder / name).casefold()]
    pages = max(1, -(-len(names) // per_page))
    number = min(max(number, 1), pages)
    start = (number - 1) * per_page
    shown = [_summary(name, parse_mail((folder / name).read_bytes())) for name in names[start:][:per_page]]
    return MailPage(shown, len(names), number, pages, start + 1)


def stored_mail(folder: Path, name: str) -> EmailMessage | None:
    """One mail by its file name, or None if there is no such mail."""
    path = folder / name
    return parse_mail(path.read_bytes()) if _NAME.fullmatch(name) and path.is_file() else None


def raw_mail(folder: Path, name: str) -> bytes | None:
    """The .eml file's bytes, or None if there is no such mail."""
    path = folder / name
    return path.read_bytes() if _NAME.fullmatch(name) and path.is_file() else None


def calendar_method(message: EmailMessage) -> str | None:
    part = message.get_body(("calendar",)) if message.is_multipart() else None
    return part.get_param("method") if part is not None else None


def _summary(name: str, message: EmailMessage) -> StoredMail:
    stamp = datetime.strptime(name[:23], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
    return StoredMail(name, stamp, str(message["To"]), str(message["Subject"]), calendar_method(message))


def parse_mail(data: bytes) -> EmailMessage:
    """A mail as written or sent, headers in UTF-8 included (RFC 6532, to an address that is not ASCII).

    Parsed from text: the bytes parser would read such headers as undecodable bytes. Every body part
    is 7-bit (quoted-printable or base64), so decoding the whole changes nothing else.
    """
    return email.message_from_string(data.decode("utf-8", "surrogateescape"), policy=email.policy.default)


def _names(folder: Path) -> list[str]:
    """The mails' file names, newest first (the names sort by writing time)."""
    if not folder.is_dir():
        return []
    return sorted((p.name for p in folder.iterdir() if _NAME.fullmatch(p.name)), reverse=True)


def _recipients(path: Path) -> str:
    with path.open("rb") as file:  # the headers only, up to the first empty line: the whole folder is read
        head = b"".join(takewhile(bytes.strip, file))
    return str(parse_mail(head).get("To", ""))
