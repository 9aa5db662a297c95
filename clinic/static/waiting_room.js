// Progressive enhancement for the waiting room, before and after it opens: the one script that follows the
// room's phase on the page, in both directions. Without JavaScript the page says when to come back and
// offers a reload link.
//
// Before the room opens it keeps "Starts in …" current, and once the room opens puts it in the countdown's
// place, so the join button appears by itself. The page is not reloaded: that ended a running camera check
// and sent a screen reader back to the top. The room goes into the page's live region (data-room), which
// reads it out.
//
// Staff may move or cancel the booking while the page is open, for days maybe: before the room opens the
// page asks the room's status (data-poll) every minute; once it is open, staff may also hand it to another
// clinician or move it to a later time, so the room's page is asked for again every 30 seconds. Both are
// asked at once when the tab is shown again or the window regains focus (timers sleep with the device).
// Once the room's phase, start or words differ from the page's, the page's parts that say them
// (data-redrawn, the countdown, the live region) are drawn again from the server's page, in place: an open
// room moved later counts down again. A status line says the time has changed; a cancellation, or a room
// now open, is read out from the live region.
//
// Time is counted from the server's clock as the page gives it (data-now), so a device whose clock
// is wrong neither shows a wrong wait nor asks too early (and again and again).
//
// A device asleep past the patient session's idle time comes back without its pass to the booking: the
// status is refused (404) and the server's page is the link's form. The page then says so, in the room's
// region, and stops following the room: what it shows may be out of date, and only the link opens it again.
(function () {
  "use strict";

  var TICK = 15000; // the countdown's words, and the room asked for again while it has not opened
  var ASK_EVERY = 60000; // the room's status, before it opens
  var REFRESH_EVERY = 30000; // the room's page, while it is open
  var ASK_GAP = 5000; // at least this long between two asks: a tab shown also gets the focus
  var MOVED = "This consultation has been moved to a new time.";
  var CHANGING = ["early", "open"]; // the phases a room leaves again; cancelled and over stay so
  var LAPSED = {
    title: "This page has stopped updating",
    text: "It was left for a while, so your booking was closed on this device to keep it private. To see " +
      "the latest and join the call, open the link in your e-mail again.",
    link: "Open this page again"
  };

  // The same words as clinic/booking/countdown.py: the two largest units, to the minute.
  function plural(count, unit) {
    return count + " " + unit + (count === 1 ? "" : "s");
  }

  function words(milliseconds) {
    var minutes = Math.floor(milliseconds / 60000);
    if (minutes < 1) {
      return "less than a minute";
    }
    var days = Math.floor(minutes / 1440);
    var hours = Math.floor((minutes % 1440) / 60);
    var rest = minutes % 60;
    var parts = days ? [[days, "day"], [hours, "hour"]] : hours ? [[hours, "hour"], [rest, "minute"]] : [[rest, "minute"]];
    var shown = [];
    for (var i = 0; i < parts.length; i += 1) {
      if (parts[i][0]) {
        shown.push(plural(parts[i][0], parts[i][1]));
      }
    }
    return shown.join(" ");
  }

  function text(element) {
    return element ? element.textContent.replace(/\s+/g, " ").trim() : "";
  }

  // The countdown's times as the section gives them, counted from the moment it was drawn; null if unread.
  function clockOf(section) {
    var clock = {
      opensAt: Date.parse(section.getAttribute("data-opens-at")),
      serverNow: Date.parse(section.getAttribute("data-now")),
      drawnAt: Date.now(),
      poll: section.getAttribute("data-poll")
    };
    return isNaN(clock.opensAt) || isNaN(clock.serverNow) || !section.querySelector("[data-countdown-value]")
      ? null
      : clock;
  }

  // A camera check left running would keep the camera on after its part of the page has gone.
  function stopCameraCheck(part) {
    var stop = part.querySelector("[data-media-stop]");
    if (stop && !stop.hidden) {
      stop.click();
    }
  }

  // Each part of the page the server draws differently now, drawn again; one it no longer draws, emptied.
  // The camera check's part is only ever taken away: its words change as it runs.
  function redrawParts(page) {
    var parts = document.querySelectorAll("[data-redrawn]");
    for (var i = 0; i < parts.length; i += 1) {
      var part = parts[i];
      var fresh = page.querySelector('[data-redrawn="' + part.getAttribute("data-redrawn") + '"]');
      var gone = !fresh || !fresh.children.length;
      if (part.querySelector("[data-media-check]")) {
        if (gone) {
          stopCameraCheck(part);
          part.innerHTML = "";
        }
      } else if (text(part) !== text(fresh)) {
        part.innerHTML = fresh ? fresh.innerHTML : "";
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    // The room's state (its phase and start, data-phase and data-starts-at): the open room, a cancellation
    // or the end in it; empty before the room opens, when the countdown (data-countdown) follows it.
    var region = document.querySelector("[data-room]");
    if (!region || !window.fetchPage) {
      return;
    }
    var section = document.querySelector("[data-countdown]");
    var clock = section && clockOf(section);
    if (section && !clock) {
      return;
    }
    var askedAt = Date.now();
    var busy = false;
    var lapsed = false; // the pass to the booking is gone: nothing is asked any more
    // Says the time has changed: a status region from the start, so that what it says is read out.
    var news = document.createElement("div");
    news.setAttribute("role", "status");
    region.parentNode.insertBefore(news, region);

    function phase() {
      return region.getAttribute("data-phase");
    }

    function startsAt() {
      return Date.parse(region.getAttribute("data-starts-at"));
    }

    function now() {
      return clock.serverNow + (Date.now() - clock.drawnAt);
    }

    function due() {
      return now() >= clock.opensAt + 1000;
    }

    // The countdown, as the server's page draws it, in this page's: put after the room's region (where the
    // pages draw it) if the page had none, the open room having been moved later.
    function countDown(freshSection) {
      if (!section) {
        section = document.importNode(freshSection, true);
        region.parentNode.insertBefore(section, region.nextSibling);
      } else {
        section.innerHTML = freshSection.innerHTML;
        ["data-starts-at", "data-opens-at", "data-now", "data-poll"].forEach(function (name) {
          section.setAttribute(name, freshSection.getAttribute(name));
        });
      }
      clock = clockOf(section) || clock;
    }

    // The server's page in place of this one's parts: the room (open, cancelled or over) in its region, the
    // countdown gone; or the countdown to the booking's time, the region emptied. False when the page says
    // what the server's still does (the room not open yet by its clock, or the open room unchanged).
    function apply(page) {
      if (page && page.querySelector("[data-link-form]")) {
        return stopUpdating();
      }
      var freshRegion = page && page.querySelector("[data-room]");
      var freshSection = page && page.querySelector("[data-countdown]");
      var freshPhase = freshRegion && freshRegion.getAttribute("data-phase");
      var whole = freshRegion && (freshPhase === "early") === !!freshSection &&
        (freshSection || freshRegion.children.length);
      if (!whole) {
        throw new Error("not the room's page"); // the link's form, an error: asked again later
      }
      var moved = CHANGING.indexOf(freshPhase) !== -1 &&
        Date.parse(freshRegion.getAttribute("data-starts-at")) !== startsAt();
      if (!moved && freshPhase === phase() && text(freshRegion) === text(region)) {
        return false;
      }
      var focused = document.activeElement;
      redrawParts(page);
      if (moved) {
        news.className = "notice";
        news.textContent = MOVED;
      }
      region.innerHTML = freshRegion.innerHTML;
      region.setAttribute("data-phase", freshPhase);
      region.setAttribute("data-starts-at", freshRegion.getAttribute("data-starts-at"));
      if (freshSection) {
        countDown(freshSection);
        tick();
      } else if (section) {
        section.remove();
        section = null;
        clock = null;
      }
      // The focus, if it was on what was drawn again (the reload link, "Choose another time", the join
      // button), goes to the first button or link of the room or countdown.
      var next = focused && focused !== document.body && !focused.isConnected &&
        (region.querySelector("a, button") || (section && section.querySelector("a, button")));
      if (next) {
        next.focus();
      }
      return true;
    }

    // The pass has lapsed: the room's region says so, with the way back (this page's address, which asks
    // for the link), and the countdown goes; the focus, if it was in what went, goes to that way back.
    function stopUpdating() {
      lapsed = true;
      var focused = document.activeElement;
      var notice = document.createElement("div");
      var title = document.createElement("h2");
      var text = document.createElement("p");
      var back = document.createElement("a");
      notice.className = "notice notice-warning";
      title.textContent = LAPSED.title;
      text.textContent = LAPSED.text;
      back.className = "standalone-link";
      back.href = window.location.pathname;
      back.textContent = LAPSED.link;
      notice.appendChild(title);
      notice.appendChild(text);
      notice.appendChild(document.createElement("p")).appendChild(back);
      region.innerHTML = "";
      region.appendChild(notice);
      region.setAttribute("data-phase", "lapsed");
      if (section) {
        section.remove();
        section = null;
        clock = null;
      }
      if (focused && focused !== document.body && !focused.isConnected) {
        back.focus();
      }
      return true;
    }

    // The server's page, put in place of this one's parts where they differ; asked again at the next turn
    // when it could not be had (the connection dropped).
    function fetchAndApply() {
      busy = true;
      window
        .fetchPage()
        .then(apply)
        .catch(function () {})
        .then(function () {
          busy = false;
        });
    }

    // The countdown's words; at the opening, the room as the server now draws it, asked for again at every
    // turn while the server's page still has it shut (not open yet by its clock).
    function tick() {
      if (lapsed || !section || !clock) {
        return;
      }
      if (due()) {
        if (!busy) {
          fetchAndApply();
        }
        return;
      }
      section.querySelector("[data-countdown-value]").textContent = words(startsAt() - now());
    }

    // Before the room opens: whether the booking was moved or cancelled, by its status (the server's page,
    // drawn again, if so).
    function ask() {
      if (lapsed || busy || !section || !clock || !clock.poll || due() || Date.now() - askedAt < ASK_GAP) {
        return;
      }
      busy = true;
      askedAt = Date.now();
      window
        .fetch(clock.poll, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          // Refused as a booking with no pass is (404): the page tells whether the pass is gone.
          return response.status === 404 ? { lapsed: true } : response.ok ? response.json() : null;
        })
        .then(function (state) {
          var moved = state && Date.parse(state.starts_at) !== startsAt();
          if (state && (state.lapsed || moved || CHANGING.indexOf(state.phase) === -1)) {
            return window.fetchPage().then(apply);
          }
        })
        .catch(function () {}) // asked again at the next turn
        .then(function () {
          busy = false;
        });
    }

    // While the room is open: what staff changed (another clinician, a new time, a cancellation).
    function refresh() {
      if (lapsed || busy || phase() !== "open" || Date.now() - askedAt < ASK_GAP) {
        return;
      }
      askedAt = Date.now();
      fetchAndApply();
    }

    function resume() {
      tick();
      ask();
      refresh();
    }

    window.setInterval(tick, TICK);
    window.setInterval(ask, ASK_EVERY);
    window.setInterval(refresh, REFRESH_EVERY);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") {
        resume();
      }
    });
    window.addEventListener("focus", resume);
    tick();
  });
})();
