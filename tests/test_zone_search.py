"""The zone search finds a country's zones by the name people type: the country as tzdata's iso3166.tab
writes it, in any case, spacing or punctuation, and the few common forms that table words otherwise."""

import unicodedata
from datetime import UTC, datetime
from importlib.resources import files

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic.scheduling import zone_picker

from .test_booking_pages import clinic, text  # noqa: F401 (clinic: a fixture)

AT = datetime(2026, 12, 1, 12, tzinfo=UTC)


def table(name: str) -> list[list[str]]:
    """The rows of one of tzdata's tables (the package requirements.txt installs)."""
    text = (files("tzdata") / "zoneinfo" / name).read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


COUNTRIES = {code: name for code, name in table("iso3166.tab")}
ZONES_IN = {}
for codes, _, name, *_ in table("zone.tab"):
    ZONES_IN.setdefault(codes, set()).add(name)
WITH_A_ZONE = sorted(code for code in COUNTRIES if code in ZONES_IN)


def found(search: str) -> list[str]:
    return [choice.name for choice in zone_picker.offer([], AT, search).choices]


@pytest.mark.parametrize(
    ("search", "zone"),
    [
        ("Nepal", "Asia/Kathmandu"),
        ("Iran", "Asia/Tehran"),
        ("Sri Lanka", "Asia/Colombo"),
        ("Korea", "Asia/Seoul"),
        ("South Korea", "Asia/Seoul"),
        ("Vietnam", "Asia/Ho_Chi_Minh"),
        ("Indonesia", "Asia/Jakarta"),
        ("Afghanistan", "Asia/Kabul"),
        ("Myanmar", "Asia/Yangon"),
        ("Venezuela", "America/Caracas"),
        ("Mongolia", "Asia/Ulaanbaatar"),
    ],
)
def test_the_countries_the_review_found_nothing_for_find_their_zones(search, zone):
    assert zone in found(search)


@pytest.mark.parametrize(
    ("search", "zone"),
    [
        ("Viet Nam", "Asia/Ho_Chi_Minh"),
        ("Burma", "Asia/Yangon"),
        ("UK", "Europe/London"),
        ("USA", "America/Detroit"),
        ("United States", "America/Detroit"),
        ("Czechia", "Europe/Prague"),
        ("Ivory Coast", "Africa/Abidjan"),
        ("Cote d'Ivoire", "Africa/Abidjan"),
        ("Timor-Leste", "Asia/Dili"),
        ("Bosnia and Herzegovina", "Europe/Sarajevo"),
        ("Democratic Republic of the Congo", "Africa/Kinshasa"),
        ("Central African Republic", "Africa/Bangui"),
        ("Saint Lucia", "America/St_Lucia"),
        ("St. Lucia", "America/St_Lucia"),
        ("The Gambia", "Africa/Banjul"),
    ],
)
def test_a_country_is_found_by_the_english_forms_people_type_besides_the_tables(search, zone):
    assert zone in found(search)


def test_south_korea_finds_seoul_not_pyongyang():
    assert "Asia/Seoul" in found("South Korea")
    assert "Asia/Pyongyang" not in found("South Korea")


def test_every_country_with_a_zone_finds_one_of_its_zones_by_its_name():
    missed = {COUNTRIES[code] for code in WITH_A_ZONE if not ZONES_IN[code] & set(found(COUNTRIES[code]))}

    assert not missed
    assert len(WITH_A_ZONE) > 240


def without_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


TYPINGS = {
    "as written": lambda name: name,
    "in lower case": str.lower,
    "in capitals": str.upper,
    "without accents": without_accents,
    "with & spelled out": lambda name: name.replace("&", "and"),
    "without punctuation": lambda name: "".join(c if c.isalnum() else " " for c in name),
    "with extra spaces": lambda name: f"  {name.replace(' ', '   ')} ",
}


@given(code=st.sampled_from(WITH_A_ZONE), typing=st.sampled_from(sorted(TYPINGS)))
def test_a_country_is_found_however_its_name_is_typed(code, typing):
    typed = TYPINGS[typing](COUNTRIES[code])

    assert ZONES_IN[code] & set(found(typed)), f"{typed!r} ({typing})"


def test_the_page_the_review_searched_for_nepal_on_lists_kathmandu(client, clinic):  # noqa: F811
    service, _ = clinic
    query = {"service": service.id, "clinician": "any", "time_zone": "UTC", "time_zone_search": "Nepal"}

    page = text(client.get("/book/time", query_string=query))

    assert "No time zone matches" not in page
    assert "1 time zone matches “Nepal”." in page
    assert '<option value="Asia/Kathmandu">Kathmandu (GMT+5:45)</option>' in page
