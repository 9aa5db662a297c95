"""The zone search finds a country's zones by the name people type: the country as tzdata's iso3166.tab
writes it, in any case, spacing or punctuation, and the few common forms that table words otherwise."""

import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from importlib.resources import files
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from clinic.booking.calendar import form_value
from clinic.booking.forms import ChoiceForm
from clinic.models import StaffRole, utcnow
from clinic.scheduling import zone_picker
from clinic.scheduling.timezones import utc_offset, zone_names_set

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


def zone_file(name: str) -> bytes:
    """The zone's compiled rules as tzdata ships them: a link's (US/Eastern's) are its zone's."""
    return (files("tzdata") / "zoneinfo").joinpath(*name.split("/")).read_bytes()


COUNTRY_ZONES = set().union(*ZONES_IN.values())  # a country's own zone, though it shares another's rules
EVERY_ZONE = [choice.name for choice in zone_picker.offer([], AT.date(), everything=True).choices]


def one_per_zone(names: list[str]) -> bool:
    """Whether no two of `names` are one zone by two names (a link: US/Hawaii, Pacific/Honolulu), save
    countries' own zones (Europe/Oslo keeps Berlin's rules, and Norway its name)."""
    by_rules: dict[bytes, list[str]] = {}
    for name in names:
        by_rules.setdefault(zone_file(name), []).append(name)
    return all(len(same) == 1 or set(same) <= COUNTRY_ZONES for same in by_rules.values())


def test_every_zone_is_listed_once_by_its_own_name():
    assert one_per_zone(EVERY_ZONE)
    assert not {"US/Eastern", "US/Hawaii", "Europe/Kiev", "Asia/Calcutta", "Canada/Eastern"} & set(EVERY_ZONE)
    assert {"Europe/Kyiv", "Asia/Kolkata", "Europe/Oslo", "Europe/Berlin", "UTC"} <= set(EVERY_ZONE)
    assert len(EVERY_ZONE) > 400


# Every word of every zone name, the old ones too: what a patient may type after reading one anywhere.
NAME_WORDS = sorted({word for name in zone_names_set() for word in re.split(r"[/_-]", name) if word})


@given(search=st.lists(st.sampled_from(NAME_WORDS), min_size=1, max_size=2).map(" ".join))
def test_a_search_never_finds_one_zone_twice(search):
    assert one_per_zone(found(search)), search


@pytest.mark.parametrize(
    ("search", "zone"),
    [
        ("Hawaii", "Pacific/Honolulu"),  # and US/Hawaii, the same
        ("Kiev", "Europe/Kyiv"),  # and Europe/Kiev
        ("Calcutta", "Asia/Kolkata"),  # and Asia/Calcutta
        ("Saigon", "Asia/Ho_Chi_Minh"),  # Asia/Saigon's words find its zone
    ],
)
def test_a_search_for_a_zones_old_name_chooses_the_zone(client, clinic, search, zone):  # noqa: F811
    service, _ = clinic

    page = text(client.get("/book/time", query_string=searched(service, next_week_at(10), search)))

    assert chosen_zones(page) == [zone]
    assert f"1 time zone matches “{search}”. Times are shown in this time zone." in page


# Every name no country's zone has (Etc/GMT+5 and the like are offsets, listed only when chosen).
OLD_NAMES = sorted(
    name for name in zone_names_set() if name not in COUNTRY_ZONES and not name.startswith("Etc/")
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the app only reads its config
@given(old=st.sampled_from(OLD_NAMES))
@example(old="Europe/Kiev")
@example(old="Asia/Calcutta")
@example(old="US/Eastern")
@example(old="Etc/UTC")
def test_a_zone_given_by_an_old_name_is_chosen_by_the_name_it_is_listed_by(app, old):
    """A browser may report Europe/Kiev or Asia/Calcutta (Chrome does): the times are in that zone, chosen
    in the list by its own name, and a booking keeps that name."""
    with app.test_request_context():
        form = ChoiceForm(MultiDict({"time_zone": old}))
        form.time_zone.chosen(form, "Europe/London")
        listed = [choice.name for choice in form.time_zone.offer.choices]

    assert form.time_zone.data in EVERY_ZONE and form.time_zone.data in listed
    assert zone_file(form.time_zone.data) == zone_file(old)
    assert one_per_zone(listed)


def test_a_booking_whose_zone_was_stored_by_an_old_name_keeps_it_and_reads_its_times_in_it(
    client,
    session,
    clinic,  # noqa: F811
):
    service, _ = clinic
    start, new = next_week_at(10), next_week_at(14)
    booked = factories.booking(
        session, service, start, now=utcnow(), patient=factories.patient_details(time_zone="US/Eastern")
    )
    open_link(client, booked)
    address = f"/c/{booked.consultation.reference}/reschedule"

    picker = text(client.get(address, query_string={"day": new.date().isoformat()}))
    client.post(address, data={"start": form_value(new)})

    assert chosen_zones(picker) == ["America/New_York"] and "US Eastern" not in picker
    assert (
        time_label(new, ZoneInfo("America/New_York"), f"{new.astimezone(ZoneInfo('America/New_York')):%H:%M}")
        in picker
    )
    session.expire_all()
    assert (booked.consultation.starts_at, booked.consultation.patient_time_zone) == (new, "US/Eastern")
