"""The walk-in queue's public pages: joining at /walk-in/<queue>, and the caller's own page, opened by
their secret link, which shows their place and wait (kept current by walk_in.js, or by the page
refreshing itself without JavaScript), lets them leave, and turns into a join button when they are taken.
"""

import secrets
from datetime import timedelta

from flask import current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from ..errors import drawn_again_when_expired, expired, status_for
from ..extensions import db
from ..form_errors import show_beside
from ..links import WALK_IN_ENTRY_PATH, booking_url
from ..models import EntryStatus, WalkInEntry, WalkInQueue, utcnow
from ..scheduling.errors import IdempotencyConflict, NotNow
from ..scheduling.tokens import LinkKeys, walk_in_link
from ..walkin.errors import AlreadyInQueue, QueueNotOpen
from ..walkin.queue import (
    CallerView,
    Joined,
    answer,
    caller_view,
    check_open,
    held_place,
    join,
    leave,
    queue_by_slug,
)
from ..walkin.waits import WaitRules, outlook
from .access import link_keys, patient_actor, walk_in_entry
from .arrival import arriving, entered, entered_again
from .countdown import duration_words
from .link_tokens import WALK_IN
from .views import bp
from .walk_in_form import JoinQueueForm

WHAT = "place in the queue"
BROWSER = "browser"  # the session's key for this browser's random name (see _this_browser)


@bp.app_template_global()
def on_walk_in_page() -> bool:
    """Whether this request is for one of the walk-in queue's pages, whose every answer, a refusal too
    (rate_limited.html), says what to do in an emergency instead of waiting."""
    view = current_app.view_functions.get(request.endpoint or "")
    return view is not None and view.__module__ == __name__


@bp.get("/walk-in/<slug>")
def walk_in_queue(slug: str) -> ResponseReturnValue:
    """The join form; or, to a browser that already holds a place in the queue (waiting, or called: their
    turn first), that place, unless it asks to join for someone else (a carer with one tablet for several
    people)."""
    queue, form = queue_by_slug(db.session, slug), JoinQueueForm(request.args)
    held = _held_unless_for_someone_else(form)
    if kept := held_place(db.session, queue.id, held, keys=link_keys(), now=utcnow(), called=True):
        return _to_place(kept)
    _this_browser()  # named before the form is sent, so the form's two posts of a double click carry it
    return _join_page(queue, JoinQueueForm(formdata=None, someone_else=form.someone_else.data))


def _join_walk_in_again(slug: str) -> ResponseReturnValue:
    """The form again as sent from a page that expired, joining nothing (errors.drawn_again_when_expired)."""
    return _join_page(queue_by_slug(db.session, slug), expired(JoinQueueForm()))


@bp.post("/walk-in/<slug>")
@drawn_again_when_expired(_join_walk_in_again)
def join_walk_in(slug: str) -> ResponseReturnValue:
    queue, form = queue_by_slug(db.session, slug), JoinQueueForm()
    if (checked := form.checked()) is None:
        return _join_page(queue, form), 422
    try:
        joined = join(
            db.session,
            queue.id,
            *checked,
            now=utcnow(),
            keys=link_keys(),
            actor=patient_actor(),
            held=_held_unless_for_someone_else(form),
            join_key=form.join_key.data,
            browser=_this_browser(),
        )
    except QueueNotOpen as closed:
        return _join_page(queue, form, closed=str(closed)), status_for(closed)
    except IdempotencyConflict as used:  # the form's key, sent from another browser or with other details
        form.join_key.renew()
        show_beside(form.name, str(used))
        return _join_page(queue, form), status_for(used)
    except AlreadyInQueue as already:  # the same person from another browser: not given that place
        show_beside(form.name, str(already))
        return _join_page(queue, form, already=True), status_for(already)
    return _to_place(joined)


def _this_browser() -> str:
    """A random name for this browser session: the join form's key sent again from it, with the same
    details, is the same join; from any other browser, a key copied out of the page."""
    return session.setdefault(BROWSER, secrets.token_urlsafe(16))


def _held_unless_for_someone_else(form: JoinQueueForm) -> dict[str, str] | None:
    """The places this browser holds, which it is taken back to instead of joining again; none when
    it joins for someone else, whose place is their own (the form's key still stops a double click)."""
    return None if form.someone_else.data else WALK_IN.held()


def _to_place(joined: Joined) -> ResponseReturnValue:
    """On to the caller's page, their token kept in this browser; told so if the place was theirs before."""
    if joined.already:
        flash(
            "You already have a place in this queue: here it is. You do not need to join again.",
            "Already in the queue",
        )
    WALK_IN.remember(joined.entry.reference, joined.entry.link_seed)
    return redirect(url_for(".walk_in_place", reference=joined.entry.reference), 303)


@bp.get(WALK_IN_ENTRY_PATH)
def walk_in_place(reference: str) -> ResponseReturnValue:
    if landing := arriving(reference, WALK_IN, walk_in_entry, ".walk_in_place", WHAT):
        return landing
    entry = walk_in_entry(reference)
    config = current_app.config
    answer_within = timedelta(minutes=config["WALK_IN_ANSWER_MINUTES"])
    return render_template(
        "booking/walk_in_place.html",
        entry=entry,
        view=_view(entry),
        refresh_seconds=config["WALK_IN_REFRESH_SECONDS"],
        no_script_refresh_seconds=_no_script_refresh(config["WALK_IN_REFRESH_SECONDS"], answer_within),
        answer_within=answer_within,
        own_link=walk_in_link(entry, base_url=config["PUBLIC_BASE_URL"], keys=LinkKeys.from_config(config)),
        book_url=_book_url(entry.queue),
        reopening=_why_closed(entry.queue) if entry.status is EntryStatus.CLOSED else None,
    )


@bp.post(WALK_IN_ENTRY_PATH)
@drawn_again_when_expired(entered_again(WALK_IN, WHAT))
def open_walk_in_place(reference: str) -> ResponseReturnValue:
    return entered(reference, WALK_IN, walk_in_entry, ".walk_in_place", WHAT)


@bp.get(f"{WALK_IN_ENTRY_PATH}/status")
def walk_in_status(reference: str) -> ResponseReturnValue:
    """The caller's place as JSON, for walk_in.js to keep their page current without a reload."""
    view = _view(walk_in_entry(reference))
    place = view.place
    wait = place.wait if place else None  # None too while nobody on duty is signed in
    return jsonify(
        status=view.status.value,
        place=place.number if place else None,
        wait_minutes=wait // timedelta(minutes=1) if wait else None,
        wait_words=duration_words(wait) if wait else None,
        past_closing=place.past_closing if place else False,
        meeting_ready=view.meeting_ready,
    )


@bp.get(f"{WALK_IN_ENTRY_PATH}/leave")
def confirm_leaving_walk_in(reference: str) -> ResponseReturnValue:
    """Leaving asks once more: a place lost by a slip of the finger cannot be given back."""
    return render_template("booking/walk_in_leave.html", entry=walk_in_entry(reference))


@bp.post(f"{WALK_IN_ENTRY_PATH}/leave")
def leave_walk_in(reference: str) -> ResponseReturnValue:
    entry = walk_in_entry(reference)
    leave(db.session, entry.id, now=utcnow(), actor=patient_actor())
    return redirect(url_for(".walk_in_place", reference=entry.reference), 303)


@bp.post(f"{WALK_IN_ENTRY_PATH}/join")
def join_walk_in_call(reference: str) -> ResponseReturnValue:
    entry = walk_in_entry(reference)
    try:
        return redirect(answer(db.session, entry.id, now=utcnow(), actor=patient_actor()), 303)
    except (
        NotNow
    ) as not_yet:  # called off meanwhile, or the link still being made: their page says where they are
        flash(str(not_yet), "Not joined yet")
        return redirect(url_for(".walk_in_place", reference=entry.reference), 303)


def _no_script_refresh(refresh_seconds: int, answer_within: timedelta) -> int:
    """How often the caller's page reloads itself without JavaScript: each reload sends a screen reader
    back to the top (WCAG F41), so a quarter of the time to answer a call (45 s of 3 minutes), which still
    shows the join button with most of that time left, even after a second reload for the link being
    made; never more often than the page with JavaScript asks."""
    return max(refresh_seconds, int(answer_within.total_seconds() // 4))


def _view(entry: WalkInEntry) -> CallerView:
    return caller_view(db.session, entry, utcnow(), WaitRules.from_config(current_app.config))


def _join_page(
    queue: WalkInQueue, form: JoinQueueForm, closed: str | None = None, already: bool = False
) -> str:
    return render_template(
        "booking/walk_in_join.html",
        queue=queue,
        form=form,
        closed=closed or _why_closed(queue),
        already=already,
        outlook=outlook(db.session, queue, utcnow(), WaitRules.from_config(current_app.config)),
        book_url=_book_url(queue),
    )


def _why_closed(queue: WalkInQueue) -> str | None:
    """Why nobody may join the queue now, and when it opens next if its hours say; None while it is open."""
    try:
        check_open(db.session, queue, utcnow())
    except QueueNotOpen as not_open:
        return str(not_open)
    return None


def _book_url(queue: WalkInQueue) -> str:
    """Where a caller the queue could not take may book a consultation instead."""
    if queue.service is not None and queue.service.active:
        return booking_url(current_app.config["PUBLIC_BASE_URL"], queue.service_id)
    return url_for(".choose_service")
