"""The patient's manage link: see the booking, cancel it or move it, and nobody else's."""

import logging
import re
from datetime import UTC, datetime, time, timedelta
from urllib.parse import parse_qs, quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from clinic.booking.calendar import form_value
from clinic.extensions import db
from clinic.links import manage_url
from clinic.models import Consultation, ConsultationStatus, OutboxMessage, utcnow
from clinic.scheduling.availability import is_free
from clinic.scheduling.timezones import format_local, zone
from clinic.scheduling.tokens import LinkKeys, letter_code

from . import factories
from .browser_forms import form_values
from .conftest import build_app
from .test_booking_pages import next_week_at, text, time_label

DEPARTMENT_PHONE = "+44 20 7946 0000"  # the factories' default


@pytest.fixture
def service(session):
    service = factories.service(session, name="Skin check review")
    factories.clinician(session, [service], display_name="Dr Tom Whitfield")
    session.commit()
    return service


def book(session, service, start, **fields):
    """A booking made through the real service, for a patient reading times in New York."""
    patient = factories.patient_details(time_zone="America/New_York")
    return factories.booking(session, service, start, now=utcnow(), patient=patient, **fields)


def follow(client, url: str):
    """Follow a link from a mail as a browser does: the part after "#" never leaves the browser, and
    open_link.js posts its token with the form the page shows (unless the session holds it already)."""
    path, _, fragment = url.removeprefix("http://localhost").partition("#")
    page = client.get(path)
    if "data-link-form" not in text(page):
        return page
    return client.post(path, data={"code": parse_qs(fragment)["t"][0]})


def open_link(client, booked):
    """Follow the link from the e-mail, as the patient does: the worker builds it with manage_url."""
    return follow(client, manage_url("http://localhost", booked.consultation.reference, booked.manage_token))


def asked_for_its_link(response, reference: str) -> bool:
    """Whether a page or form of a booking this browser has not opened led to the booking's page, which
    asks for its link or code, showing nothing of it."""
    return (response.status_code, response.location) == (303, f"/c/{reference}")


def reloaded(session, booked) -> Consultation:
    session.expire_all()
    return session.get(Consultation, booked.consultation.id)


def test_the_link_shows_the_booking_in_the_patients_zone_and_drops_the_token_from_the_address(
    client, session, service
):
    start = next_week_at(10)
    booked = book(session, service, start)
    reference = booked.consultation.reference

    landing = open_link(client, booked)
    page = client.get(landing.location)

    assert landing.status_code == 303 and landing.location == f"/c/{reference}"
    assert page.status_code == 200
    html = text(page)
    assert format_local(start, zone("America/New_York")) in html
    assert "Dr Tom Whitfield" in html and "Skin check review" in html and "Booked" in html
    assert booked.manage_token not in html


def test_a_booking_made_in_another_zone_also_says_the_time_at_the_hospital(client, app, session, service):
    """A carer in New York books for her father in London: he opens the link and reads his own time too.
    A booking in the hospital's zone says it once."""
    start = next_week_at(10)
    abroad = book(session, service, start)
    at_home = factories.booking(
        session, service, start + timedelta(hours=1), now=utcnow(), patient=factories.patient_details()
    )
    hospital = zone(app.config["DEFAULT_TIME_ZONE"])

    open_link(client, abroad)
    carers = text(client.get(f"/c/{abroad.consultation.reference}"))
    open_link(client, at_home)
    own = text(client.get(f"/c/{at_home.consultation.reference}"))

    assert f"That is {format_local(start, hospital)} at the hospital." in carers
    assert format_local(start + timedelta(hours=1), hospital) in own and "at the hospital." not in own


def test_cancelling_asks_first_then_frees_the_time(client, session, service):
    start = next_week_at(10)
    booked = book(session, service, start)
    reference = booked.consultation.reference
    open_link(client, booked)

    asked = client.get(f"/c/{reference}/cancel")
    done = client.post(f"/c/{reference}/cancel", data={"reason": "Feeling better"})
    after = client.get(done.location)

    assert "Cancel your consultation?" in text(asked) and 'method="post"' in text(asked)
    assert done.status_code == 303
    assert "Your consultation is cancelled." in text(after) and "Cancelled" in text(after)
    consultation = reloaded(session, booked)
    assert consultation.status is ConsultationStatus.CANCELLED
    assert consultation.cancel_reason_text == "Feeling better"
    assert is_free(session, service, start, utcnow())


def test_rescheduling_moves_the_time_and_frees_the_old_one(client, session, service):
    old, new = next_week_at(10), next_week_at(14)
    booked = book(session, service, old)
    reference = booked.consultation.reference
    open_link(client, booked)

    picker = client.get(f"/c/{reference}/reschedule", query_string={"day": new.date().isoformat()})
    moved = client.post(f"/c/{reference}/reschedule", data={"start": form_value(new)})

    new_york = zone("America/New_York")
    assert time_label(new, new_york, f"{new.astimezone(new_york):%H:%M}") in text(picker)
    assert moved.status_code == 303
    assert "Your consultation has moved." in text(client.get(moved.location))
    assert reloaded(session, booked).starts_at == new
    assert is_free(session, service, old, utcnow())
    assert not is_free(session, service, new, utcnow())


@pytest.mark.parametrize(
    ("rules", "later"),
    [({"slot_interval_minutes": 15}, 15), ({"buffer_after_minutes": 15}, 30)],
    ids=["a quarter of an hour later, on a 15-minute grid", "the next start, after the buffer"],
)
def test_the_new_times_offered_include_those_next_to_the_bookings_own_which_it_alone_kept_busy(
    client, session, rules, later
):
    """The move itself sets the booking's own time aside (a patient may move 10:00 to 10:15, or past its
    buffer to 10:30), but the page of new times counted it as busy and offered neither. Its own time is
    not offered: moving there changes nothing."""
    service = factories.service(session, **rules)
    factories.clinician(session, [service])
    session.commit()
    start = next_week_at(10)
    booked = book(session, service, start)
    open_link(client, booked)
    new_york = zone("America/New_York")
    wanted = start + timedelta(minutes=later)

    picker = text(
        client.get(f"/c/{booked.consultation.reference}/reschedule", query_string={"day": start.date()})
    )
    moved = client.post(f"/c/{booked.consultation.reference}/reschedule", data={"start": form_value(wanted)})

    assert time_label(wanted, new_york, f"{wanted.astimezone(new_york):%H:%M}") in picker
    assert f'name="start" value="{form_value(start)}"' not in picker
    assert moved.status_code == 303 and reloaded(session, booked).starts_at == wanted


@pytest.mark.parametrize("how", ["deactivated", "removed from the service"])
def test_a_booking_whose_clinician_no_longer_gives_its_service_moves_to_one_who_does(client, session, how):
    """The move page answered 404 "We could not find that page or booking" once an admin took the
    service from the booking's clinician (or deactivated them), and offered no way to move. It now offers
    the times of those who give the service, as "any clinician" would, and says why the clinician changes;
    the booking's page and the cancel page open as before."""
    service = factories.service(session, name="Skin check review")
    gone = factories.clinician(session, [service], display_name="Dr Tom Whitfield")
    factories.clinician(session, [service], display_name="Dr Ann Okafor", hours=[(time(13, 30), time(17))])
    session.commit()
    start, morning, afternoon = next_week_at(10), next_week_at(11), next_week_at(14)
    booked = book(session, service, start)
    reference = booked.consultation.reference
    open_link(client, booked)
    if how == "deactivated":
        gone.active = False
    else:
        gone.services = []
    session.commit()

    own_page = client.get(f"/c/{reference}")
    cancel_page = client.get(f"/c/{reference}/cancel")
    picker = client.get(f"/c/{reference}/reschedule", query_string={"day": start.date().isoformat()})
    moved = client.post(f"/c/{reference}/reschedule", data={"start": form_value(afternoon)})

    assert (own_page.status_code, cancel_page.status_code, picker.status_code) == (200, 200, 200)
    assert "Dr Tom Whitfield no longer gives this service" in text(picker)
    assert f'value="{form_value(afternoon)}"' in text(picker)
    assert f'value="{form_value(morning)}"' not in text(picker)  # only Dr Tom Whitfield's hours
    assert moved.status_code == 303
    consultation = reloaded(session, booked)
    assert consultation.starts_at == afternoon and consultation.clinician.display_name == "Dr Ann Okafor"
    assert "Your consultation has moved." in text(client.get(moved.location))


@pytest.mark.parametrize("how", ["deactivated", "removed from the service"])
@pytest.mark.parametrize("cutoff_days", [0, 60])
def test_the_bookings_page_says_when_its_clinician_no_longer_gives_its_service_and_the_way_on(
    client, session, how, cutoff_days
):
    """Only the move page said so (7116068): the booking's own page showed the clinician as before, so a
    patient who never opened the move page learnt it at the call, or not at all. It now says so, with the
    way to move it to one who does; past the online cut-off, the number to call."""
    service = factories.service(
        session, name="Skin check review", cancel_cutoff_minutes=cutoff_days * 24 * 60
    )
    gone = factories.clinician(session, [service], display_name="Dr Tom Whitfield")
    factories.clinician(session, [service], display_name="Dr Ann Okafor")
    session.commit()
    booked = book(session, service, next_week_at(10))
    reference = booked.consultation.reference
    open_link(client, booked)
    before = text(client.get(f"/c/{reference}"))
    if how == "deactivated":
        gone.active = False
    else:
        gone.services = []
    session.commit()

    page = text(client.get(f"/c/{reference}"))

    said = "Dr Tom Whitfield no longer gives this service"
    assert said not in before and said in page
    notice = re.search(
        rf'<div class="notice notice-warning"[^>]*>\s*<h2>[^<]+</h2>\s*<p>{said}.*?</div>', page, re.S
    )
    assert notice is not None
    if cutoff_days:
        assert DEPARTMENT_PHONE in notice.group(0) and f"/c/{reference}/reschedule" not in page
    else:
        assert f'href="/c/{reference}/reschedule"' in notice.group(0)


def test_rescheduling_to_a_time_just_taken_explains_and_changes_nothing(client, session, service):
    old, taken = next_week_at(10), next_week_at(14)
    booked = book(session, service, old)
    book(session, service, taken)
    open_link(client, booked)

    response = client.post(
        f"/c/{booked.consultation.reference}/reschedule", data={"start": form_value(taken)}
    )

    assert response.status_code == 422
    assert "That time was just taken" in text(response)
    assert 'aria-describedby="start-error"' in text(response)
    assert reloaded(session, booked).starts_at == old


def test_rescheduling_to_the_bookings_own_time_says_it_is_already_its_time_and_changes_nothing(
    client, session, service
):
    start = next_week_at(10)
    booked = book(session, service, start)
    sequence, messages = (
        booked.consultation.invite_sequence,
        session.scalar(select(func.count(OutboxMessage.id))),
    )
    open_link(client, booked)

    response = client.post(
        f"/c/{booked.consultation.reference}/reschedule", data={"start": form_value(start)}
    )

    page = text(response)
    assert response.status_code == 422
    assert re.search(r'id="start-error">.*This is already the consultation&#39;s time', page, re.DOTALL)
    assert "has moved" not in page
    consultation = reloaded(session, booked)
    assert (consultation.starts_at, consultation.invite_sequence) == (start, sequence)
    assert session.scalar(select(func.count(OutboxMessage.id))) == messages


@pytest.mark.parametrize(
    "second_sent", ["after the first's answer", "before the first's answer"], ids=["after", "before"]
)
def test_a_move_sent_twice_by_a_double_click_is_one_move_and_says_so_once(
    client, session, service, second_sent
):
    """The second click sends the same form: the move it asks for, from the time its page showed, is made.
    Sent before the first's answer came, its cookie does not carry the first's "moved" either."""
    old, new = next_week_at(10), next_week_at(14)
    booked = book(session, service, old)
    open_link(client, booked)
    address = f"/c/{booked.consultation.reference}/reschedule"
    picker = text(client.get(address, query_string={"day": new.date().isoformat()}))
    sent = {**form_values(picker, address, "post"), "start": form_value(new)}
    cookie_before = client.get_cookie("session").value
    sequence = booked.consultation.invite_sequence
    messages = session.scalar(select(func.count(OutboxMessage.id)))

    first = client.post(address, data=sent)
    if second_sent == "before the first's answer":
        client.set_cookie("session", cookie_before)
    second = client.post(address, data=sent)
    page = text(client.get(second.location) if second.location else second)  # what the patient sees

    assert "already the consultation" not in page and page.count("Your consultation has moved.") == 1
    assert first.status_code == second.status_code == 303
    consultation = reloaded(session, booked)
    assert (consultation.starts_at, consultation.invite_sequence) == (new, sequence + 1)
    moved_once = session.scalar(select(func.count(OutboxMessage.id)))
    client.post(address, data={**sent, "start": form_value(next_week_at(15))})
    assert session.scalar(select(func.count(OutboxMessage.id))) > moved_once > messages


@pytest.mark.parametrize(
    ("start", "message"),
    [("soon please", "Choose a time from the list."), ("", "Choose a time.")],
)
def test_a_bad_new_time_is_explained_and_changes_nothing(client, session, service, start, message):
    old = next_week_at(10)
    booked = book(session, service, old)
    open_link(client, booked)

    response = client.post(f"/c/{booked.consultation.reference}/reschedule", data={"start": start})

    assert response.status_code == 422 and message in text(response)
    assert reloaded(session, booked).starts_at == old


def test_a_reason_for_cancelling_that_is_too_long_is_explained_and_changes_nothing(client, session, service):
    booked = book(session, service, next_week_at(10))
    open_link(client, booked)

    response = client.post(f"/c/{booked.consultation.reference}/cancel", data={"reason": "x" * 3000})

    assert response.status_code == 422
    assert "Keep the reason under 2000 characters." in text(response)
    assert reloaded(session, booked).status is ConsultationStatus.BOOKED


@pytest.mark.parametrize(
    "link", ["wrong token", "unknown reference", "another booking's token", "token not in ASCII"]
)
@pytest.mark.parametrize("sent", ["now, after #", "before, in the query string"])
def test_a_link_that_does_not_match_a_booking_is_not_found(client, session, service, link, sent):
    mine = book(session, service, next_week_at(10))
    theirs = book(session, service, next_week_at(11))
    reference, token = mine.consultation.reference, mine.manage_token
    path, wrong = {
        "wrong token": (f"/c/{reference}", token[:-2] + "xx"),
        "unknown reference": ("/c/ZZZ-ZZZZ", token),
        "another booking's token": (f"/c/{reference}", theirs.manage_token),
        "token not in ASCII": (f"/c/{reference}", token[:-1] + "é"),  # once a 500
    }[link]

    if sent == "now, after #":
        response = follow(client, f"{path}#t={wrong}")
    else:
        response = client.get(path, query_string={"t": wrong})

    assert response.status_code == 404
    if sent == "now, after #":  # said beside the field, to try again
        assert 'id="code-error"' in text(
            response
        ) and "This link or code does not open your booking." in text(response)
    assert reference not in text(response) and theirs.consultation.reference not in text(response)
    assert asked_for_its_link(client.get(f"/c/{reference}/cancel"), reference)


def test_without_its_token_the_page_asks_for_the_link_and_shows_nothing_of_the_booking(
    client, session, service
):
    booked = book(session, service, next_week_at(10))

    page = client.get(f"/c/{booked.consultation.reference}")

    html = text(page)
    assert page.status_code == 200
    assert "Open your booking" in html and 'name="code"' in html
    assert re.findall(r"<script[^>]*>", html) == [  # no inline script: the CSP allows none
        '<script src="/static/timezone.js" defer>',
        '<script src="/static/open_link.js" defer>',
    ]
    assert "Skin check review" not in html and "Dr Tom Whitfield" not in html


@pytest.mark.parametrize(
    "entered",
    ["the whole link", "the link sent before", "the code alone"],
)
def test_without_javascript_the_patient_opens_the_booking_by_pasting_the_link(
    client, session, service, entered
):
    booked = book(session, service, next_week_at(10))
    reference, token = booked.consultation.reference, booked.manage_token
    code = {
        "the whole link": manage_url("https://book.example", reference, token),
        "the link sent before": f"https://book.example/c/{reference}?t={token}",
        "the code alone": f"  {token} ",
    }[entered]

    opened = client.post(f"/c/{reference}", data={"code": code})

    assert opened.status_code == 303 and opened.location == f"/c/{reference}"
    assert "Skin check review" in text(client.get(opened.location))


@pytest.mark.parametrize(
    "pasted",
    [
        "<{link}>",  # as a plain-text mail shows a link
        "({link})",
        '"{link}"',
        "{link}.",  # the end of a sentence, copied with it
        "{link}\n",
        "https://eur01.safelinks.protection.outlook.com/?url={quoted}&data=05%7C01%7C&reserved=0",
        "{half_quoted}",  # a mail program's copy of it, its "#" and "=" escaped
    ],
    ids=[
        "in angle brackets",
        "in brackets",
        "in quotes",
        "with a full stop",
        "with a new line",
        "wrapped by a link checker",
        "escaped",
    ],
)
def test_without_javascript_a_link_pasted_with_what_a_mail_puts_around_it_opens_the_booking(
    client, session, service, pasted
):
    booked = book(session, service, next_week_at(10))
    reference = booked.consultation.reference
    link = manage_url("https://book.example", reference, booked.manage_token)
    code = pasted.format(link=link, quoted=quote(link, safe=""), half_quoted=quote(link, safe=":/"))

    opened = client.post(f"/c/{reference}", data={"code": code})

    assert opened.status_code == 303 and opened.location == f"/c/{reference}"
    assert "Skin check review" in text(client.get(opened.location))


def read_as_typed(code: str, how: str) -> str:
    """The letter's code as a patient may type it, or a member of staff read it out."""
    return {
        "as printed": code,
        "small letters": code.lower(),
        "no spaces": code.replace(" ", ""),
        "with dashes": code.replace(" ", "-"),
        "O for 0, l for 1": code.replace("0", "O").replace("1", "l"),
    }[how]


@pytest.mark.parametrize(
    "how", ["as printed", "small letters", "no spaces", "with dashes", "O for 0, l for 1"]
)
def test_the_code_from_the_letter_opens_the_booking_at_its_short_address(app, client, session, service, how):
    booked = book(session, service, next_week_at(10))
    reference = booked.consultation.reference
    code = letter_code(LinkKeys.from_config(app.config), booked.consultation)

    page = text(client.get(f"/c/{reference}"))
    opened = client.post(f"/c/{reference}", data={"code": read_as_typed(code, how)})

    assert "Your link or code" in page and "type the code printed on it" in page
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}( [0-9A-HJKMNP-TV-Z]{4}){2}", code)
    assert opened.status_code == 303 and opened.location == f"/c/{reference}"
    assert "Skin check review" in text(client.get(opened.location))


@pytest.mark.parametrize("email", [None, "ada@example.org"], ids=["without e-mail", "with e-mail"])
@pytest.mark.parametrize("change", ["cancel", "reschedule"])
def test_a_patient_who_changes_their_booking_from_the_letter_is_promised_a_mail_only_with_an_address(
    app, client, session, service, change, email
):
    """Booked by phone without an e-mail address, the patient opens the booking with their letter's code
    and cancels or moves it: the page said "We will e-mail you", and no mail goes to anyone without an
    address."""
    patient = factories.patient_details(email=email, time_zone="America/New_York")
    booked = factories.booking(session, service, next_week_at(10), now=utcnow(), patient=patient)
    reference = booked.consultation.reference
    code = letter_code(LinkKeys.from_config(app.config), booked.consultation)
    client.post(f"/c/{reference}", data={"code": code})

    if change == "cancel":
        done = client.post(f"/c/{reference}/cancel", data={"reason": ""})
    else:
        done = client.post(f"/c/{reference}/reschedule", data={"start": form_value(next_week_at(14))})
    page = text(client.get(done.location))

    assert done.status_code == 303
    said = {"cancel": "Your consultation is cancelled.", "reschedule": "Your consultation has moved."}[change]
    assert said in page
    assert ("We will e-mail you" in page) is (email is not None)


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(typed=st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ -", min_size=12, max_size=20))
def test_no_code_but_the_bookings_own_opens_it(app, client, session, service, typed):
    booked = session.scalar(select(Consultation)) or book(session, service, next_week_at(10)).consultation
    own = letter_code(LinkKeys.from_config(app.config), booked).replace(" ", "")

    opened = client.post(f"/c/{booked.reference}", data={"code": typed})

    assert (opened.status_code == 303) == (typed.replace(" ", "").replace("-", "") == own)


def test_one_bookings_code_opens_no_other_booking_nor_a_companions_room(app, client, session, service):
    mine = book(session, service, next_week_at(10))
    theirs = book(session, service, next_week_at(11))
    code = letter_code(LinkKeys.from_config(app.config), mine.consultation)

    other = client.post(f"/c/{theirs.consultation.reference}", data={"code": code})
    companion = client.post(f"/g/{mine.consultation.reference}", data={"code": code})

    assert other.status_code == 404 and "or type the code from your letter" in text(other)
    assert companion.status_code == 404 and "code from your letter" not in text(companion)


def test_an_empty_link_is_asked_for_again_beside_the_field(client, session, service):
    booked = book(session, service, next_week_at(10))

    response = client.post(f"/c/{booked.consultation.reference}", data={"code": ""})

    assert response.status_code == 422
    assert 'id="code-error"' in text(response) and "Paste the link from your e-mail." in text(response)


def test_a_link_sent_before_the_token_moved_still_opens_and_leaves_the_address_at_once(
    client, session, service
):
    booked = book(session, service, next_week_at(10))
    reference = booked.consultation.reference

    landing = client.get(f"/c/{reference}", query_string={"t": booked.manage_token})

    assert landing.status_code == 303 and landing.location == f"/c/{reference}"
    assert "Skin check review" in text(client.get(landing.location))


def test_opening_one_booking_does_not_open_another(client, session, service):
    mine = book(session, service, next_week_at(10))
    theirs = book(session, service, next_week_at(11))
    open_link(client, mine)

    assert "Open your booking" in text(client.get(f"/c/{theirs.consultation.reference}"))
    other = theirs.consultation.reference
    assert asked_for_its_link(client.post(f"/c/{other}/cancel"), other)
    assert reloaded(session, theirs).status is ConsultationStatus.BOOKED


def test_a_link_stops_working_some_days_after_the_consultation(app, client, session, service):
    today = utcnow().date()
    monday = today - timedelta(days=today.weekday() + 7 * (app.config["MANAGE_LINK_GRACE_DAYS"] // 7 + 2))
    start = datetime.combine(monday, time(10), tzinfo=zone("Europe/London")).astimezone(UTC)
    booked = factories.booking(session, service, start, now=start - timedelta(days=1))

    assert open_link(client, booked).status_code == 404


def test_after_the_cutoff_the_page_says_to_call_and_nothing_changes(client, session):
    service = factories.service(session, cancel_cutoff_minutes=60 * 24 * 60)  # 60 days' notice
    factories.clinician(session, [service])
    session.commit()
    start = next_week_at(10)
    booked = book(session, service, start)
    reference = booked.consultation.reference
    open_link(client, booked)

    page = text(client.get(f"/c/{reference}"))
    cancelled = client.post(f"/c/{reference}/cancel", data={"reason": ""})
    moved = client.post(f"/c/{reference}/reschedule", data={"start": form_value(next_week_at(14))})

    assert "It is too late to change this booking online" in page and DEPARTMENT_PHONE in page
    assert f"/c/{reference}/cancel" not in page
    for refused in (cancelled, moved):
        assert refused.status_code == 409
        assert "too late" in text(refused) and DEPARTMENT_PHONE in text(refused)
    consultation = reloaded(session, booked)
    assert consultation.status is ConsultationStatus.BOOKED and consultation.starts_at == start


def test_the_token_never_reaches_the_logs(client, session, service, caplog):
    booked = book(session, service, next_week_at(10))
    caplog.set_level(logging.DEBUG)

    open_link(client, booked)
    client.get(f"/c/{booked.consultation.reference}")
    client.post(f"/c/{booked.consultation.reference}/cancel", data={"reason": ""})

    assert all(booked.manage_token not in record.getMessage() for record in caplog.records)


def test_with_csrf_on_a_cancel_without_its_token_is_refused(database_url, tmp_path):
    app = build_app(database_url, str(tmp_path / "instance"))
    with app.app_context():
        service = factories.service(db.session)
        factories.clinician(db.session, [service])
        db.session.commit()
        booked = book(db.session, service, next_week_at(10))
        client = app.test_client()
        open_link(client, booked)  # its form's token is not what this test is about
        app.config["WTF_CSRF_ENABLED"] = True

        refused = client.post(f"/c/{booked.consultation.reference}/cancel", data={"reason": ""})

        assert refused.status_code == 400
        assert reloaded(db.session, booked).status is ConsultationStatus.BOOKED
        db.session.remove()
        db.engine.dispose()


# Each way into changing a booking: the cancel and reschedule pages, asked for and submitted.
CHANGE_REQUESTS = [
    ("get", "cancel", None),
    ("post", "cancel", {"reason": ""}),
    ("get", "reschedule", None),
    ("post", "reschedule", {"start": form_value(next_week_at(14))}),
]


def cancelled(client, session, booked):
    """The booking, cancelled by the patient through the manage link."""
    client.post(f"/c/{booked.consultation.reference}/cancel", data={"reason": ""})
    assert reloaded(session, booked).status is ConsultationStatus.CANCELLED


@pytest.mark.parametrize(("method", "action", "data"), CHANGE_REQUESTS)
def test_changing_a_cancelled_booking_says_it_is_cancelled_and_offers_to_book_that_service_again(
    client, session, service, method, action, data
):
    booked = book(session, service, next_week_at(10))
    open_link(client, booked)
    cancelled(client, session, booked)

    response = getattr(client, method)(f"/c/{booked.consultation.reference}/{action}", data=data)

    html = text(response)
    assert response.status_code == 409
    assert "This consultation is cancelled" in html
    assert f'href="/book/clinician?service={service.id}"' in html
    for offered in ('name="start"', 'name="reason"', "too late", "cannot become"):
        assert offered not in html
    assert reloaded(session, booked).starts_at == next_week_at(10)


@pytest.mark.parametrize(("method", "action", "data"), CHANGE_REQUESTS)
@pytest.mark.parametrize("when", ["past the cut-off", "over"])
def test_changing_a_booking_past_its_deadline_says_so_up_front_with_the_phone(
    client, session, service, method, action, data, when
):
    booked = book(session, service, next_week_at(10))
    consultation = booked.consultation
    if when == "past the cut-off":
        service.cancel_cutoff_minutes = 60 * 24 * 60  # 60 days' notice
    else:
        consultation.starts_at = utcnow() - timedelta(hours=2)
        consultation.ends_at = consultation.starts_at + timedelta(minutes=30)
        consultation.blocked_from, consultation.blocked_until = consultation.starts_at, consultation.ends_at
    session.commit()
    open_link(client, booked)

    response = getattr(client, method)(f"/c/{consultation.reference}/{action}", data=data)

    html = text(response)
    assert response.status_code == 409
    assert DEPARTMENT_PHONE in html
    assert ("too late to change" if when == "past the cut-off" else "This consultation is over") in html
    for offered in ('name="start"', 'name="reason"'):
        assert offered not in html
    assert reloaded(session, booked).status is ConsultationStatus.BOOKED


def test_a_booking_keeps_its_own_length_on_the_patients_pages_after_the_service_changes_its(
    client, session, service
):
    """An admin makes the service 45 minutes long: a booking made at 30 keeps its 30 (its mails and invite
    say so), and its pages said 45."""
    booked = book(session, service, next_week_at(10))
    service.duration_minutes = 45
    session.commit()

    landing = open_link(client, booked)
    reference = booked.consultation.reference
    pages = {path: text(client.get(path)) for path in (landing.location, f"/c/{reference}/cancel")}
    pages["reschedule"] = text(client.get(f"/c/{reference}/reschedule"))

    for path, html in pages.items():
        assert "Skin check review" in html, path
        assert "30 minutes, by video" in html and "45 minutes" not in html, path


@pytest.mark.parametrize("how", ["service", "department"])
def test_a_cancelled_bookings_pages_lead_to_a_booking_page_that_opens_once_its_service_is_not_offered(
    client, session, service, how
):
    """ "Book this service again" on a cancelled booking's change pages led to the first booking page
    saying "There is a problem: No such service is offered" (422) once an admin made the service, or its
    department, inactive. They now lead to the choice of services, as the booking's own page does."""
    booked = book(session, service, next_week_at(10))
    reference = booked.consultation.reference
    open_link(client, booked)
    client.post(f"/c/{reference}/cancel", data={"reason": ""})
    if how == "service":
        service.active = False
    else:
        service.department.active = False
    session.commit()

    page = client.get(f"/c/{reference}/cancel")

    assert page.status_code == 409 and "This consultation is cancelled" in text(page)
    assert "Book this service again" not in text(page)
    booking = re.search(r'<a class="button" href="([^"]+)">Book a new consultation</a>', text(page))
    assert booking is not None and client.get(booking.group(1)).status_code == 200


def test_a_cancelled_bookings_pages_offer_its_service_again_while_it_is_offered(client, session, service):
    booked = book(session, service, next_week_at(10))
    reference = booked.consultation.reference
    open_link(client, booked)
    client.post(f"/c/{reference}/cancel", data={"reason": ""})

    page = text(client.get(f"/c/{reference}/reschedule"))

    again = re.search(r'<a class="button" href="([^"]+)">Book this service again</a>', page)
    assert again is not None and client.get(again.group(1).replace("&amp;", "&")).status_code == 200
