"""Which time zones a patient is offered, and how they read: "UK time (GMT+0)", "New York (GMT-5)".

The stored value is always the IANA name; a short list of common zones is offered, with a search
by city or country, so no page lists all ~550 names unless the patient asks for every one.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache, lru_cache

from ..plain_text import folded
from .timezones import utc_offset, zone, zone_names
from .zone_names import COMMON, aliases, countries, friendly_name

MAX_FOUND = 30  # a search that matches more asks for a longer word, not a longer list
# Words that name no place, not searched for: "Bosnia and Herzegovina", "The Gambia", "Isle of Man".
_FILLER = frozenset({"and", "of", "the"})


@dataclass(frozen=True)
class ZoneChoice:
    name: str  # the IANA name, as stored
    label: str  # e.g. New York (GMT-5)


@dataclass(frozen=True, eq=False)  # one object per list (see offer), so it hashes by identity, cheaply
class ZoneOffer:
    choices: tuple[ZoneChoice, ...]
    search: str = ""  # as typed, spaces tidied
    found: int = 0  # zones matching `search`: 0 says nothing matched
    chose: bool = False  # `search` names one zone (see named), which is then the one chosen

    @property
    def truncated(self) -> bool:
        """More zones match than are listed."""
        return self.found > MAX_FOUND


def offer(first: list[str], on: date, search: str = "", everything: bool = False) -> ZoneOffer:
    """The zones to offer: `first` (the patient's, then the hospital's), then those matching
    `search`, or every zone, or the common ones; each named with its offset on the day `on` (the first
    day whose times a page shows: a clock change may come between today and then).

    The same list (the same object) for the same arguments: most patients get the hospital's list from
    today, so it is sorted, labelled and drawn (forms.ZoneSelect) once a day, not per page.
    """
    return _offer(tuple(first), on, search, everything)


@lru_cache(maxsize=64)  # bounded: a search is whatever the patient typed (forms cut it at 60 characters)
def _offer(first: tuple[str, ...], on: date, search: str, everything: bool) -> ZoneOffer:
    found = matches(search)
    if _words(search):
        rest = found[:MAX_FOUND]
    else:
        rest = _offered_names() if everything else tuple(COMMON)
    names = dict.fromkeys((*first, *sorted(rest, key=lambda name: _label_on(name, on))))
    typed = " ".join(search.split())
    choices = tuple(ZoneChoice(name, _label_on(name, on)) for name in names)
    return ZoneOffer(choices, typed, len(found), named(search) is not None)


@lru_cache(maxsize=64)
def matches(search: str) -> tuple[str, ...]:
    """The zones a search by city or country finds (none for a blank one): `search` is as typed. Those
    with every word typed among their words; failing that, with words that begin so (lon: London)."""
    words = _searched(search)
    return _whole(words) or _begun(words)


def named(search: str) -> str | None:
    """The one zone the search names in whole words, to show the times in; else None. One found only by
    words that begin so is a guess, listed but not chosen: EST begins Estonia, and whoever types it means
    New York's time, not Tallinn's."""
    found = _whole(_searched(search))
    return found[0] if len(found) == 1 else None


def _searched(search: str) -> tuple[str, ...]:
    typed_words = _words(search)
    return tuple([word for word in typed_words if word not in _FILLER] or typed_words)


@lru_cache(maxsize=64)
def _whole(words: tuple[str, ...]) -> tuple[str, ...]:
    if not words:
        return ()
    return tuple(name for name, own in _haystacks().items() if all(w in own for w in words))


def _begun(words: tuple[str, ...]) -> tuple[str, ...]:
    if not words:
        return ()
    return tuple(
        name for name, own in _haystacks().items() if all(any(o.startswith(w) for o in own) for w in words)
    )


@lru_cache(maxsize=2048)
def _label_on(name: str, day: date) -> str:
    tz = zone(name)
    # At noon, as the pages' other zone names (booking.calendar.zone_on): the clocks change at night.
    friendly, offset = friendly_name(name), utc_offset(tz, datetime.combine(day, time(12), tzinfo=tz))
    return friendly if friendly == offset else f"{friendly} ({offset})"  # GMT-5, not GMT-5 (GMT-5)


@cache
def _offered_names() -> tuple[str, ...]:
    # Etc/GMT+5 means GMT-5 (POSIX signs): offering it would mislead; UTC stands for them all. A zone's
    # other names (US/Hawaii is Pacific/Honolulu) are not zones of their own: "Hawaii" found it twice.
    return tuple(name for name in zone_names() if not name.startswith("Etc/") and name not in aliases())


@cache
def _haystacks() -> dict[str, frozenset[str]]:
    """Each offered zone's searchable words: its friendly name, IANA names (Asia/Saigon's too), other names
    and country."""
    in_country, former = countries(), _former_names()
    return {
        name: frozenset(
            _words(
                f"{friendly_name(name)} {name} {former.get(name, '')} {COMMON.get(name, ('', ''))[1]} "
                f"{in_country.get(name, '')}"
            )
        )
        for name in _offered_names()
    }


def _former_names() -> dict[str, str]:
    """Each zone's other IANA names, which pages may have offered (not GB or EST: EST is Panama's)."""
    offered = set(zone_names())
    former: dict[str, str] = {}
    for name, listed in aliases().items():
        if name in offered and not name.startswith("Etc/"):
            former[listed] = f"{former.get(listed, '')} {name}"
    return former


def _words(text: str) -> list[str]:
    """The words of `text`, folded; any other character parts them: Côte d’Ivoire is cote d ivoire."""
    return _WORD.findall(folded(text))


_WORD = re.compile(r"[^\W_]+")  # letters and digits: _ and / part an IANA name's words too
