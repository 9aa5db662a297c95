// Progressive enhancement for the waiting room before it opens: keep "Starts in …" current, and once
// the room opens put it in the countdown's place, so the join button appears by itself. The page is not
// reloaded: that ended a running camera check and sent a screen reader back to the top. The open room
// goes into the page's live region (data-room), which reads it out. Without JavaScript the page says
// when to come back and offers a reload link.
//
// Staff may move or cancel the booking while the page is open, for days maybe: the countdown asks the
// room's status (data-poll) every minute, and at once when the tab is shown again or the window regains
// focus (timers sleep with the device). Once its start or phase differs from the page's, the page's parts
// that say them (data-redrawn, the countdown, the live region) are drawn again from the server's page, in
// place, and a status line says the time has changed: a cancellation, or a room now open, is read out
// from the live region.
//
// Time is counted from the server's clock as the page gives it (data-now), so a device whose clock
// is wrong neither shows a wrong wait nor asks too early (and again and again).
(function () {
  "use strict";

  var TICK = 15000; // the countdown's words, and the room asked for again while it has not opened
  var ASK_EVERY = 60000; // the room's status
  var ASK_GAP = 5000; // at least this long between two asks: a tab shown also gets the focus
  var MOVED = "This consultation has been moved to a new time.";

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
      startsAt: Date.parse(section.getAttribute("data-starts-at")),
      opensAt: Date.parse(section.getAttribute("data-opens-at")),
      serverNow: Date.parse(section.getAttribute("data-now")),
      drawnAt: Date.now(),
      poll: section.getAttribute("data-poll")
    };
    return isNaN(clock.startsAt) || isNaN(clock.opensAt) || isNaN(clock.serverNow) ? null : clock;
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
    var section = document.querySelector("[data-countdown]");
    if (!section) {
      return;
    }
    var clock = clockOf(section);
    var region = document.querySelector("[data-room]");
    if (!clock || !section.querySelector("[data-countdown-value]") || !region || !window.fetchPage) {
      return;
    }
    var askedAt = Date.now();
    var asking = false;
    var opening = false;
    // Says the time has changed: a status region from the start, so that what it says is read out.
    var news = document.createElement("div");
    news.setAttribute("role", "status");
    section.parentNode.insertBefore(news, section);

    function now() {
      return clock.serverNow + (Date.now() - clock.drawnAt);
    }

    function due() {
      return now() >= clock.opensAt + 1000;
    }

    // The server's page in place of this one's parts: the room, once it has opened (or the booking is
    // cancelled or over), where the countdown was; else the countdown to the booking's new time. False
    // when the page is as the server still draws it (the room not open yet by its clock).
    function apply(page, moved) {
      var freshRegion = page && page.querySelector("[data-room]");
      var freshSection = page && page.querySelector("[data-countdown]");
      if (!freshRegion || (!freshRegion.children.length && !freshSection)) {
        throw new Error("not the room's page"); // the link's form, an error: asked again later
      }
      if (!section.isConnected) {
        return true; // the room was put in place already
      }
      if (freshSection && Date.parse(freshSection.getAttribute("data-starts-at")) !== clock.startsAt) {
        moved = true;
      } else if (!freshRegion.children.length) {
        return false;
      }
      var focused = document.activeElement;
      redrawParts(page);
      if (moved) {
        news.className = "notice";
        news.textContent = MOVED;
      }
      if (freshRegion.children.length) {
        region.innerHTML = freshRegion.innerHTML;
        section.remove();
      } else {
        section.innerHTML = freshSection.innerHTML;
        ["data-starts-at", "data-opens-at", "data-now", "data-poll"].forEach(function (name) {
          section.setAttribute(name, freshSection.getAttribute(name));
        });
        clock = clockOf(section) || clock;
        tick();
      }
      // The focus, if it was on what was drawn again (the reload link, "Choose another time"), goes to
      // the first button or link of the room or countdown.
      var next = focused && focused !== document.body && !focused.isConnected &&
        (region.querySelector("a, button") || (section.isConnected && section.querySelector("a, button")));
      if (next) {
        next.focus();
      }
      return true;
    }

    // The room as the server now draws it, in place of the countdown; asked again at the next turn while
    // the server's page still has nothing there (not open yet by its clock, or the connection dropped).
    function open() {
      opening = true;
      window
        .fetchPage()
        .then(function (page) {
          apply(page, false);
        })
        .catch(function () {})
        .then(function () {
          opening = false;
        });
    }

    function tick() {
      if (!section.isConnected) {
        return;
      }
      if (due()) {
        if (!opening) {
          open();
        }
        return;
      }
      section.querySelector("[data-countdown-value]").textContent = words(clock.startsAt - now());
    }

    // Whether the booking was moved or cancelled: the server's page, drawn again, if so.
    function ask() {
      if (asking || opening || !clock.poll || !section.isConnected || due() || Date.now() - askedAt < ASK_GAP) {
        return;
      }
      asking = true;
      askedAt = Date.now();
      window
        .fetch(clock.poll, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (state) {
          var moved = state && Date.parse(state.starts_at) !== clock.startsAt;
          if (state && (moved || state.phase === "cancelled" || state.phase === "over")) {
            return window.fetchPage().then(function (page) {
              apply(page, moved && state.phase !== "cancelled" && state.phase !== "over");
            });
          }
        })
        .catch(function () {}) // asked again at the next turn
        .then(function () {
          asking = false;
        });
    }

    function resume() {
      tick();
      ask();
    }

    window.setInterval(tick, TICK);
    window.setInterval(ask, ASK_EVERY);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") {
        resume();
      }
    });
    window.addEventListener("focus", resume);
    tick();
  });
})();
