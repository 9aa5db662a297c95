"""Arriving at a room from a link: taking the link's token into the session without it reaching a log.

Links carry their token after "#" (see `links`), which browsers never send: open_link.js reads it
and posts it with the form below, so it travels in a request body, which no access log records.
Without JavaScript the same form asks for the link, pasted whole. Links sent before the token moved
out of the query string still work: they are kept and redirected at once to the clean address.
"""

import re
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import unquote

from flask import flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from ..errors import expired
from ..extensions import db
from ..form_errors import show_beside
from ..hospital.catalogue import contact_numbers
from ..models import utcnow
from ..scheduling.errors import NotFound
from ..scheduling.holders import LINK_RESEND_INTERVAL, resend_link_of
from ..session_cookie import forgotten_as_idle
from .access import patient_actor
from .link_tokens import MANAGE, WALK_IN, TokenJar

# A token inside a pasted link: after "#t=" (links now) or "?t=" / "&t=" (links sent before). Tokens are
# base64url, so what a mail or a copy puts after one (">", ")", a full stop) is not part of it.
_LINK_TOKEN = re.compile(r"[#?&]t=([A-Za-z0-9_-]+)")
RESEND = "resend"  # the button that asks for a booking's link again, on the page its link did not open


# Said on a link's page asking for it again, to one whose session was closed as idle: the page itself
# reloaded (see arriving), or another of its pages or forms (views.link_closed). By the link's page.
LINK_CLOSED = (
    "For your safety, your booking was closed in this browser after a time without use, and nothing was "
    "changed. Open it again with your link or code to carry on."
)
INVITATION_CLOSED = (
    "For your safety, this invitation was closed in this browser after a time without use. Open it again "
    "with the link in your e-mail to join the call."
)
# An offer lasts longer than the session does when left alone.
OFFER_CLOSED = (
    "For your safety, this offer was closed in this browser after a time without use, and nothing was "
    "booked. Open it again with the link in your e-mail: if the time is still free, you can book it then."
)
PLACE_CLOSED = (
    "For your safety, your place on the waitlist was closed in this browser after a time without use, and "
    "nothing was changed: you are still on the waitlist. Open it again with the link in your e-mail."
)
# Each link's page (its endpoint), with its title's outcome and its words.
CLOSED_SAYS = {
    "booking.manage": ("Warning: Booking closed", LINK_CLOSED),
    "booking.companion_room": ("Warning: Invitation closed", INVITATION_CLOSED),
    "booking.offer": ("Warning: Offer closed", OFFER_CLOSED),
    "booking.waitlist_entry": ("Warning: Place closed", PLACE_CLOSED),
}


def say_closed(page: str) -> None:
    """Say on the link's page `page` (an endpoint) that it asks for the link again because this browser's
    session was closed, if it is a page that says so."""
    if page in CLOSED_SAYS:
        outcome, said = CLOSED_SAYS[page]
        flash(said, outcome)


class Linked(Protocol):
    """What a link opens (a booking, a companion, a waitlist entry or offer, a walk-in place): the seed its
    token is derived from is what the session's pass is minted for."""

    link_seed: str


class LinkCodeForm(FlaskForm):
    """The link (or the code in it) that opens a room; filled in by open_link.js or by the visitor."""

    code = StringField(
        "Your link",
        validators=[
            InputRequired("Paste the link from your e-mail."),
            Length(max=2000, message="Keep it under 2000 characters."),
        ],
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"},
    )

    def __init__(self, *args: Any, given_in: str = "your e-mail", **kwargs: Any) -> None:
        """`given_in`: where the visitor was given the link (`_given_in`), as the empty field's error says."""
        super().__init__(*args, **kwargs)
        _required, *others = self.code.validators
        self.code.validators = [InputRequired(f"Paste the link from {given_in}."), *others]

    def token(self) -> str:
        """The token in what was entered: the whole link (escaped too, as a link checker's wrapper or a mail
        program's copy has it), or the code alone."""
        match = _LINK_TOKEN.search(unquote(self.code.data))
        return match.group(1) if match else self.code.data.strip()


def arriving(
    reference: str, jar: TokenJar, lookup: Callable[[str, str], Linked], endpoint: str, what: str
) -> ResponseReturnValue | None:
    """Before a room's page (GET): a link of the old kind is kept and redirected; a visitor whose session
    holds no token gets the form; None once the session holds one."""
    if (token := request.args.get("t")) is not None:
        return _kept(reference, token, jar, lookup, endpoint)  # NotFound for a wrong token
    if not jar.holds(reference):
        if forgotten_as_idle(session):
            say_closed(request.blueprint + endpoint)
        return _form_page(LinkCodeForm(formdata=None, given_in=_given_in(jar)), what, jar, reference)
    return None


def entered(
    reference: str, jar: TokenJar, lookup: Callable[[str, str], Linked], endpoint: str, what: str
) -> ResponseReturnValue:
    """The form posted (by open_link.js or by hand): keep the token and open the room, or say it does not;
    or, after a booking's link did not open it, that link mailed again."""
    if jar is MANAGE and RESEND in request.form:
        resend_link_of(db.session, reference, now=utcnow(), actor=patient_actor())
        return link_resent(contact_numbers(db.session), reference.upper())  # which department's: not said
    form = LinkCodeForm(given_in=_given_in(jar))
    if not form.validate_on_submit():
        return _form_page(form, what, jar, reference), 422
    try:
        return _kept(reference, form.token(), jar, lookup, endpoint)
    except NotFound:
        tried, letter = (
            ("link or code", " or type the code from your letter") if jar is MANAGE else ("link", "")
        )
        show_beside(
            form.code,
            f"This {tried} does not open your {what}. Copy the whole link from {_given_in(jar)}{letter}.",
        )
        return _form_page(form, what, jar, reference), 404


def entered_again(jar: TokenJar, what: str) -> Callable[[str], ResponseReturnValue]:
    """What draws a link's form sent from a page that expired (errors.drawn_again_when_expired): the form
    again, the link as pasted kept, a fresh token; nothing is opened or mailed (the token is not trusted:
    another site could make a browser open a link of its own)."""

    def draw(reference: str) -> ResponseReturnValue:
        return _form_page(expired(LinkCodeForm(given_in=_given_in(jar))), what, jar, reference)

    return draw


def _kept(
    reference: str, token: str, jar: TokenJar, lookup: Callable[[str, str], Linked], endpoint: str
) -> ResponseReturnValue:
    opened = lookup(reference, token)  # NotFound for a wrong token: nothing is kept
    jar.remember(reference.upper(), opened.link_seed)
    return redirect(url_for(endpoint, reference=reference.upper()), 303)


def _form_page(form: LinkCodeForm, what: str, jar: TokenJar, reference: str) -> str:
    letter = jar is MANAGE  # a booking's letter code (scheduling.tokens.letter_code) opens it too
    if letter:
        form.code.label.text = "Your link or code"
    # A booking's link cut short or mistyped: it can be mailed again (RESEND), or the department called.
    phones = contact_numbers(db.session) if letter and form.errors else []
    return render_template(
        "booking/open_link.html",
        form=form,
        what=what,
        given_in=_given_in(jar),
        letter=letter,
        resend=RESEND,
        phones=phones,
    )


def _given_in(jar: TokenJar) -> str:
    """Where the visitor was given the link: a walk-in caller's is shown on their place's page, never
    mailed (many give a phone number); every other link is mailed."""
    return "the page of your place (under “Come back to your place”)" if jar is WALK_IN else "your e-mail"


def link_resent(phones: list[tuple[str, str]], reference: str = "") -> str:
    """The page after a booking's link was asked for again: the same whether or not one was mailed."""
    minutes = int(LINK_RESEND_INTERVAL.total_seconds() // 60)
    return render_template("booking/link_resent.html", phones=phones, minutes=minutes, reference=reference)
