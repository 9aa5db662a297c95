"""Note text encrypted at rest: Fernet tokens under keys that live outside the database.

CLINIC_NOTES_KEY lists Fernet keys, comma separated. The first encrypts, every one decrypts
(MultiFernet), so a key is replaced by putting the new one first, running `flask clinic notes
rotate`, then removing the old one. Each token also names its consultation and version, so a token
copied into another note's row is refused rather than shown as that note.

The same keys seal the patient's free text kept beside the notes (clinic.models.sealed_text): each
token names its row and field, and "" is stored as "". Values stored before that sealing are read as
they are until `flask clinic notes rotate` seals them.
"""

import json
import logging
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from setting_kinds import comma_separated

from ..keys import derived_fernet_key
from ..models import ConsultationNote
from .content import FIELDS, SoapNote

log = logging.getLogger(__name__)

# What staff do about a version that no configured key opens: the key may well be found again.
ASK_IT = (
    "Nothing has been changed; ask your IT team "
    "(CLINIC_NOTES_KEY, see 'Rotating keys' in docs/operations.md)."
)
# Said in place of such a version's text, wherever notes are read.
UNREADABLE_VERSION = f"This version cannot be read with the notes keys this server has. {ASK_IT}"


class NotesKeyError(ValueError):
    """CLINIC_NOTES_KEY holds something that is not a list of Fernet keys."""


class UnreadableNote(RuntimeError):
    """A stored token that no configured key opens, or that belongs to another note."""


class NoteCipher:
    """Seals a SoapNote into a Fernet token bound to its note, and opens it again."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise NotesKeyError("CLINIC_NOTES_KEY lists no key")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, note: SoapNote, *, consultation_id: int, version: int) -> str:
        """The note as a token under the first key."""
        payload = {"consultation": consultation_id, "version": version, "soap": note.as_dict()}
        return self._fernet.encrypt(json.dumps(payload, separators=(",", ":")).encode()).decode("ascii")

    def open(self, token: str, *, consultation_id: int, version: int) -> SoapNote:
        """The note a token holds; UnreadableNote if no key opens it or it belongs elsewhere."""
        try:
            payload = json.loads(self._fernet.decrypt(token.encode("ascii")))
        except InvalidToken:
            raise UnreadableNote(
                f"no CLINIC_NOTES_KEY opens version {version} of consultation {consultation_id}'s note"
            ) from None
        if (payload["consultation"], payload["version"]) != (consultation_id, version):
            raise UnreadableNote(
                f"version {version} of consultation {consultation_id}'s note holds a token sealed for another"
            )
        return SoapNote(**{name: payload["soap"][name] for name in FIELDS})

    def read(self, note: ConsultationNote) -> SoapNote:
        """The text of a stored note version."""
        return self.open(note.encrypted_content, consultation_id=note.consultation_id, version=note.version)

    def read_if_readable(self, note: ConsultationNote) -> SoapNote | None:
        """The text of a stored note version; None, logged by consultation and version (never any text), if
        it cannot be read: the pages and exports say so in its place rather than failing."""
        try:
            return self.read(note)
        except UnreadableNote as unreadable:
            log.warning("%s: the pages say it cannot be read", unreadable)
            return None

    def write(self, note: ConsultationNote, content: SoapNote) -> None:
        """Store `content` in a note version, sealed to that version."""
        note.encrypted_content = self.seal(
            content, consultation_id=note.consultation_id, version=note.version
        )

    def seal_text(self, text: str, *, row: str, field: str) -> str:
        """`text` as a token bound to `field` of `row`; "" (nothing given) as ""."""
        if not text:
            return ""
        payload = {"row": row, "field": field, "text": text}
        return self._fernet.encrypt(json.dumps(payload, separators=(",", ":")).encode()).decode("ascii")

    def open_text(self, stored: str, *, row: str, field: str) -> str | None:
        """The text `stored` holds; None if no key opens it or it was sealed for another row or field."""
        if not is_token(stored):
            return stored  # "", or a value from before the sealing, until rotation seals it
        try:
            payload = json.loads(self._fernet.decrypt(stored.encode("ascii")))
        except InvalidToken:
            return None
        return payload["text"] if (payload.get("row"), payload.get("field")) == (row, field) else None

    def reseal_text(self, stored: str, *, row: str, field: str) -> str:
        """A stored text under the first key: a token rotated, a value from before the sealing sealed."""
        return self.rotate(stored) if is_token(stored) else self.seal_text(stored, row=row, field=field)

    def rotate(self, token: str) -> str:
        """The same note re-encrypted under the first key (its original timestamp kept)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise UnreadableNote("no CLINIC_NOTES_KEY opens this token") from None


def is_token(stored: str) -> bool:
    """Whether a stored value is a Fernet token: its version byte and a timestamp's zero high bytes
    always encode as this prefix, which no sentence a patient writes starts with."""
    return stored.startswith("gAAAAA")


def cipher_from_settings(notes_key: str | None, secret_key: str) -> NoteCipher:
    """The cipher for CLINIC_NOTES_KEY; without one (development and testing only: production refuses
    to start), a development key derived from SECRET_KEY, so `make run` works out of the box."""
    keys = comma_separated(notes_key)  # checked at start-up
    return NoteCipher(keys or [development_key(secret_key)])


def development_key(secret_key: str) -> str:
    """A Fernet key derived from SECRET_KEY: for development and tests only."""
    return derived_fernet_key(secret_key, "development notes key")
