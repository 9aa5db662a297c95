"""The zone search finds a country's zones by the name people type: the country as tzdata's iso3166.tab
writes it, in any case, spacing or punctuation, and the few common forms that table words otherwise."""

import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from importlib.resources import files
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from clinic.booking.forms import ChoiceForm
from clinic.models import StaffRole, utcnow
from clinic.scheduling import zone_picker
from clinic.scheduling.timezones import utc_offset

from . import factories
from .test_booking_pages import clinic, next_week_at, text, time_label  # noqa: F401 (clinic: a fixture)
from .test_manage_link import book, open_link
from .test_schedule import login

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
    return [choice.name for choice in zone_picker.offer([], AT.date(), search).choices]


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
    assert '<option selected value="Asia/Kathmandu">Kathmandu (GMT+5:45)</option>' in page


MADRID = ZoneInfo("Europe/Madrid")


def chosen_zones(page: str) -> list[str]:
    return re.findall(r'<option selected value="([^"]+)"', page)


def zone_form_fields(page: str) -> dict[str, str]:
    """What the form around the zone list sends besides the zone chosen in it: its hidden inputs."""
    form = re.search(r'<form [^>]*class="zone-form">(.*?)</form>', page, re.S).group(1)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))


def searched(service, start: datetime, search: str) -> dict:
    """The time step from `start`'s day, its times in UK time, as Find sends it with `search` typed."""
    return {
        "service": service.id,
        "clinician": "any",
        "time_zone": "Europe/London",
        "day": start.date().isoformat(),
        "time_zone_search": search,
    }


def test_a_search_that_finds_one_zone_shows_the_times_in_it(client, clinic):  # noqa: F811
    """The review: "1 time zone matches 'Lisbon'. Times are shown in this time zone." while the list still
    showed UK time and the times stayed in it."""
    service, _ = clinic
    start = next_week_at(10)  # a free time, 11:00 in Madrid

    page = text(client.get("/book/time", query_string=searched(service, start, "Madrid")))

    assert chosen_zones(page) == ["Europe/Madrid"]
    assert time_label(start, MADRID, "11:00") in page
    assert "1 time zone matches “Madrid”. Times are shown in this time zone." in page


@pytest.mark.parametrize("search", ["Lisbon", "Paris", "Madrid"])
def test_each_city_the_review_searched_for_is_chosen(client, clinic, search):  # noqa: F811
    service, _ = clinic

    page = text(client.get("/book/time", query_string=searched(service, next_week_at(10), search)))

    assert [found.rsplit("/")[-1] for found in chosen_zones(page)] == [search]


def test_after_a_search_chose_a_zone_another_can_be_chosen_from_the_list(client, clinic):  # noqa: F811
    """The search is done once its zone is chosen: the list's form no longer sends it (it would choose the
    same zone again), nor does the search box keep it."""
    service, _ = clinic
    start = next_week_at(10)
    found = text(client.get("/book/time", query_string=searched(service, start, "Madrid")))

    again = text(
        client.get("/book/time", query_string={**zone_form_fields(found), "time_zone": "Europe/London"})
    )

    assert chosen_zones(again) == ["Europe/London"]
    assert time_label(start, ZoneInfo("Europe/London"), "10:00") in again
    assert '<input type="search" id="time_zone_search" name="time_zone_search" value=""' in found


def test_a_search_that_finds_several_zones_asks_for_one_and_says_where_the_times_still_are(
    client,
    clinic,  # noqa: F811
):
    service, _ = clinic
    start = next_week_at(10)

    page = text(client.get("/book/time", query_string=searched(service, start, "Australia")))

    assert chosen_zones(page) == ["Europe/London"]
    assert time_label(start, ZoneInfo("Europe/London"), "10:00") in page
    assert re.search(
        r'<p class="hint" id="time_zone-hint">\d+ time zones match “Australia”\. Choose one from the list: '
        r"until then, times are shown in UK time \(GMT\+\d\)\.</p>",
        page,
    )
    assert "Times are shown in this time zone" not in page
    assert zone_form_fields(page)["time_zone_search"] == "Australia"  # the list stays narrowed


@pytest.mark.parametrize(
    ("search", "listed"),
    [("EST", "Tallinn"), ("AST", "Astrakhan"), ("ET", "Addis Ababa")],  # Estonia, Astrakhan, Ethiopia
)
def test_a_search_that_only_begins_a_places_name_lists_it_but_leaves_the_times_where_they_were(
    client,
    clinic,  # noqa: F811
    search,
    listed,
):
    """A patient in New York who typed "EST" had the times shown, and booked, in Tallinn's time, seven hours
    ahead: the one zone whose words begin so (Estonia) was chosen as if it had been named."""
    service, _ = clinic
    start = next_week_at(10)

    page = text(client.get("/book/time", query_string=searched(service, start, search)))

    assert chosen_zones(page) == ["Europe/London"]
    assert time_label(start, ZoneInfo("Europe/London"), "10:00") in page
    assert re.search(rf'<option value="[^"]+">{listed} \(GMT', page)
    assert (
        f'<p class="hint" id="time_zone-hint">1 time zone matches “{search}”. Choose one from the list: '
        "until then, times are shown in UK time (GMT+0).</p>"
    ) in page
    assert zone_form_fields(page)["time_zone_search"] == search  # the list stays narrowed


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the app only reads its config
@given(typed=st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=12))
def test_a_search_chooses_a_zone_only_when_it_names_it_in_whole_words(app, typed):
    with app.test_request_context():
        form = ChoiceForm(MultiDict({"time_zone": "UTC", "time_zone_search": typed}))

    chosen = form.time_zone.data
    assert chosen == "UTC" or set(typed.split()) - {"and", "of", "the"} <= zone_picker._haystacks()[chosen]


@pytest.mark.parametrize("picker", ["reschedule", "staff move", "staff booking desk"])
def test_every_picker_shows_the_times_in_the_one_zone_a_search_finds(client, session, clinic, picker):  # noqa: F811
    service, clinician = clinic
    start = next_week_at(10)
    query = searched(service, start, "Madrid")
    if picker == "reschedule":
        booked = book(session, service, next_week_at(14))
        open_link(client, booked)
        address = f"/c/{booked.consultation.reference}/reschedule"
    elif picker == "staff move":
        consultation = factories.consultation(session, service, clinician, next_week_at(14))
        login(session, client, StaffRole.RECEPTION, department_id=service.department_id)
        address = f"/schedule/consultations/{consultation.id}/move"
    else:
        login(session, client, StaffRole.RECEPTION, department_id=service.department_id)
        address = "/schedule/book"

    page = text(client.get(address, query_string=query))

    assert chosen_zones(page) == ["Europe/Madrid"]
    assert time_label(start, MADRID, "11:00") in page
    assert "1 time zone matches “Madrid”." in page
    assert '<input type="search" id="time_zone_search" name="time_zone_search" value=""' in page


def first_clock_change(tz: ZoneInfo, after: date) -> date:
    """The first day after `after` on which `tz`'s offset at noon differs from the day before's."""
    day = after
    while utc_offset(tz, datetime.combine(day + timedelta(days=1), time(12), tzinfo=tz)) == utc_offset(
        tz, datetime.combine(day, time(12), tzinfo=tz)
    ):
        day += timedelta(days=1)
    return day + timedelta(days=1)


def test_the_zones_offsets_are_those_of_the_first_day_shown_after_a_clock_change(client, session):
    """The review: /book/time?...&time_zone=America/New_York&day=2027-03-22 listed "New York (GMT-5)",
    today's offset, while the times shown were GMT-4 (as the review page then said)."""
    service = factories.service(session, horizon_days=400)
    factories.clinician(session, [service])
    session.commit()
    new_york = ZoneInfo("America/New_York")
    changed = first_clock_change(new_york, utcnow().date())
    noon = datetime.combine(changed, time(12), tzinfo=new_york)
    query = {"service": service.id, "clinician": "any", "time_zone": "America/New_York", "day": changed}

    page = text(client.get("/book/time", query_string=query))

    assert f"<h2>{changed:%A} {changed.day} {changed:%B}</h2>" in page  # the first day shown
    assert (
        f'<option selected value="America/New_York">New York ({utc_offset(new_york, noon)})</option>' in page
    )
    assert utc_offset(new_york, noon) != utc_offset(new_york, utcnow())


WINTER_AND_SUMMER = (date(2027, 3, 13), date(2027, 3, 14))  # New York's clocks go forward on the 14th


def test_a_zone_is_labelled_with_its_offset_on_the_day_asked_for():
    assert [zone_picker.offer(["America/New_York"], day).choices[0].label for day in WINTER_AND_SUMMER] == [
        "New York (GMT-5)",
        "New York (GMT-4)",
    ]
