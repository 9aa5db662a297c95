"""The names people know time zones by: "UK time", "New York", "Knox, Indiana" (the IANA name stays what
is stored), and the countries each zone is in, by the names people type for them."""

import re
from functools import cache
from importlib.resources import files

# Common zones, by the name people know them by, and other words they may search for.
COMMON: dict[str, tuple[str, str]] = {
    "Europe/London": ("UK time", "United Kingdom Britain England Scotland Wales Northern Ireland GB"),
    "Europe/Dublin": ("Ireland", ""),
    "Europe/Lisbon": ("Portugal", ""),
    "Europe/Madrid": ("Spain", ""),
    "Europe/Paris": ("France", ""),
    "Europe/Brussels": ("Belgium", ""),
    "Europe/Amsterdam": ("Netherlands", "Holland"),
    "Europe/Berlin": ("Germany", "Deutschland"),
    "Europe/Zurich": ("Switzerland", ""),
    "Europe/Rome": ("Italy", ""),
    "Europe/Copenhagen": ("Denmark", ""),
    "Europe/Oslo": ("Norway", ""),
    "Europe/Stockholm": ("Sweden", ""),
    "Europe/Warsaw": ("Poland", ""),
    "Europe/Helsinki": ("Finland", ""),
    "Europe/Bucharest": ("Romania", ""),
    "Europe/Athens": ("Greece", ""),
    "Europe/Kyiv": ("Ukraine", "Kiev"),
    "Europe/Istanbul": ("Turkey", "Türkiye"),
    "Europe/Moscow": ("Moscow", "Russia"),
    "Africa/Accra": ("Ghana", ""),
    "Africa/Lagos": ("Nigeria", ""),
    "Africa/Cairo": ("Egypt", ""),
    "Africa/Johannesburg": ("South Africa", ""),
    "Africa/Nairobi": ("Kenya", ""),
    "Asia/Jerusalem": ("Israel", ""),
    "Asia/Riyadh": ("Saudi Arabia", ""),
    "Asia/Dubai": ("United Arab Emirates", "UAE"),
    "Asia/Karachi": ("Pakistan", ""),
    "Asia/Kolkata": ("India", "Calcutta Delhi Mumbai"),
    "Asia/Dhaka": ("Bangladesh", ""),
    "Asia/Bangkok": ("Thailand", ""),
    "Asia/Singapore": ("Singapore", ""),
    "Asia/Hong_Kong": ("Hong Kong", ""),
    "Asia/Shanghai": ("China", "Beijing"),
    "Asia/Manila": ("Philippines", ""),
    "Asia/Tokyo": ("Japan", ""),
    "Australia/Perth": ("Perth", "Australia Western"),
    "Australia/Sydney": ("Sydney", "Australia Melbourne Canberra"),
    "Pacific/Auckland": ("New Zealand", ""),
    "Pacific/Honolulu": ("Honolulu", "Hawaii United States USA"),
    "America/Anchorage": ("Anchorage", "Alaska United States USA"),
    "America/Los_Angeles": ("Los Angeles", "United States USA Pacific California"),
    "America/Phoenix": ("Phoenix", "United States USA Arizona"),
    "America/Denver": ("Denver", "United States USA Mountain"),
    "America/Chicago": ("Chicago", "United States USA Central"),
    "America/Mexico_City": ("Mexico City", "Mexico"),
    "America/New_York": ("New York", "United States USA Eastern"),
    "America/Toronto": ("Toronto", "Canada Ontario"),
    "America/Halifax": ("Halifax", "Canada Atlantic"),
    "America/Jamaica": ("Jamaica", ""),
    "America/Sao_Paulo": ("São Paulo", "Brazil"),
    "America/Argentina/Buenos_Aires": ("Buenos Aires", "Argentina"),
    "UTC": ("UTC", "Universal Coordinated GMT"),
}

# What people type for a country where tzdata's name for it (iso3166.tab) has no such word: a word of
# the table's name finds it already ("South Korea" finds "Korea (South)", "UK" finds "Britain (UK)").
COUNTRY_ALIASES: dict[str, str] = {
    "US": "USA",  # the table: United States
    "VN": "Viet Nam",  # ISO's and the UN's spelling; the table: Vietnam
    "CZ": "Czechia",  # ISO's short name since 2016; the table keeps Czech Republic
    "CI": "Ivory Coast",  # the English name; the table: Côte d'Ivoire
    "TL": "Timor-Leste",  # ISO's name; the table: East Timor
    "CV": "Cabo Verde",  # ISO's name since 2013; the table: Cape Verde
    "MO": "Macao",  # ISO's spelling; the table: Macau
}
# The table's abbreviations, spelled out beside them: St Lucia is found as Saint Lucia, "Congo (Dem. Rep.)"
# as Democratic Republic of the Congo, "Turks & Caicos Is" as Turks and Caicos Islands.
_SPELLED_OUT = {
    "St": "Saint",
    "Dem": "Democratic",
    "Rep": "Republic",
    "Is": "Islands",
    "S": "Southern",
    "Terr": "Territories",
    "NL": "Netherlands",
}
_ABBREVIATION = re.compile(rf"\b({'|'.join(_SPELLED_OUT)})\b")

_CONTINENTS = frozenset(
    {
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    }
)


def friendly_name(name: str) -> str:
    """A zone as people know it, by whichever of its names: UK time, New York (US/Eastern too, as a booking
    may have stored it), "Knox, Indiana", GMT-5 for Etc/GMT+5."""
    name = aliases().get(name, name)
    if name in COMMON:
        return COMMON[name][0]
    if name.startswith("Etc/"):
        return _fixed_offset_name(name)
    area, _, city = name.replace("_", " ").rpartition("/")
    top, _, region = area.partition("/")
    if region:
        return f"{city}, {region}"
    return city if not area or top in _CONTINENTS else f"{top} {city}"


def _fixed_offset_name(name: str) -> str:
    """An Etc zone by its offset as people write it: Etc/GMT+5 is GMT-5, as POSIX signs run west-positive;
    Etc/UTC, Etc/Zulu and the like are UTC, Etc/GMT and Etc/Greenwich GMT+0."""
    fixed = _POSIX_OFFSET.fullmatch(name)
    if fixed and int(fixed["hours"]):
        return f"GMT{'-' if fixed['sign'] == '+' else '+'}{int(fixed['hours'])}"
    return "GMT+0" if fixed or name in ("Etc/GMT", "Etc/GMT0", "Etc/Greenwich") else "UTC"


_POSIX_OFFSET = re.compile(r"Etc/GMT(?P<sign>[+-])(?P<hours>\d+)")


@cache
def countries() -> dict[str, str]:
    """Each zone's country, by its name in tzdata and the names people type for it: "Asia/Seoul": "Korea
    (South)", "Africa/Kinshasa": "Congo (Dem. Rep.) Democratic Republic", "America/Detroit": "United
    States USA".

    zone.tab names a country's own zones (Europe/Oslo for Norway); zone1970.tab also lists zones that have
    kept the same clocks since 1970, which would offer Dubai to a search for Oman and Tokyo for Australia.
    """
    country_names = {code: name for code, name in _tzdata_table("iso3166.tab")}
    in_zone: dict[str, list[str]] = {}
    for code, _, name, *_ in _tzdata_table("zone.tab"):
        country = country_names.get(code, "")
        spelled_out = " ".join(_SPELLED_OUT[abbreviation] for abbreviation in _ABBREVIATION.findall(country))
        in_zone.setdefault(name, []).append(f"{country} {spelled_out} {COUNTRY_ALIASES.get(code, '')}")
    return {name: " ".join(" ".join(texts).split()) for name, texts in in_zone.items()}


# Etc/UTC is offered as UTC: the Etc/ names are not offered (zone_picker), and UTC stands for them.
_OFFERED_AS = {"Etc/UTC": "UTC"}


@cache
def aliases() -> dict[str, str]:
    """Each other name of a zone, with the name the zone is listed by: US/Eastern, America/New_York;
    Europe/Kiev, Europe/Kyiv; Asia/Calcutta, Asia/Kolkata; Etc/Zulu, UTC (tzdata.zi's links). A link that
    zone.tab lists as a country's own zone is a zone of its own, by the name its people know: Europe/Oslo
    keeps Berlin's rules, and its name."""
    own = {name for _, _, name, *_ in _tzdata_table("zone.tab")}
    links = (line.split() for line in _tzdata_text("tzdata.zi").splitlines() if line.startswith("L "))
    named = {link: _OFFERED_AS.get(target, target) for _, target, link in links if link not in own}
    return {name: listed for name, listed in {**named, **_OFFERED_AS}.items() if name != listed}


def _tzdata_table(name: str) -> list[list[str]]:
    """The rows of one of the tables the tzdata package ships (pinned in requirements.txt): tab-separated,
    UTF-8, '#' starting a comment line."""
    text = _tzdata_text(name)
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


def _tzdata_text(name: str) -> str:
    return (files("tzdata.zoneinfo") / name).read_text(encoding="utf-8")
