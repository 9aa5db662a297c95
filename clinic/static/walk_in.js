// Progressive enhancement for a walk-in caller's page: ask the server for their place every few seconds
// and update it in place (read out by screen readers through the aria-live region). Once their status
// changes (their turn, their link made), or their wait can be told or no longer can, draw the section
// afresh from the server's page, with its title: the section is live, so "It is your turn" is read out
// where the join button appears. What the page shows only while they have a place (their private link,
// how to get ready) goes when the server's page no longer has it. The page is not reloaded, which sent a
// screen reader back to the top and the focus to <body>. Without JavaScript the page refreshes itself (a
// meta refresh inside <noscript>). While the server cannot be reached, a notice says the page is not
// updating; it goes once an answer comes again.
//
// A phone asleep past the patient session's idle time comes back without its pass to the place: the asks
// are refused (404). The page then says so in place of what it showed, which may be out of date, and stops
// asking; its link opens the place again from the private link the page shows (a caller who gave a phone
// number has it nowhere else).
(function () {
  "use strict";

  // The statuses in which something may still change: waiting, called, and in the call (which may be
  // called off, the caller sent back to the queue). Asked no more once the place has ended.
  var CURRENT = ["waiting", "taken", "in-call"];
  var LAPSED = {
    title: "This page has stopped updating",
    text: "It was left for a while, so your place was closed on this device to keep it private. Open it " +
      "again to see where you are in the queue, or to join your call if it is your turn.",
    link: "Open my place again"
  };

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.querySelector("[data-walk-in]");
    if (!section || !window.fetch) {
      return;
    }
    var url = section.getAttribute("data-poll");
    var status = section.getAttribute("data-status");
    var ready = section.getAttribute("data-meeting-ready") === "yes";
    var pastClosing = section.getAttribute("data-past-closing") === "yes";
    var seconds = parseInt(section.getAttribute("data-seconds"), 10) || 15;
    var place = section.querySelector("[data-place]");
    var wait = section.querySelector("[data-wait]");
    // Says so while the server cannot be reached: a status region from the start, so that what it says
    // is read out; empty, and so unseen, while answers come.
    var offline = document.createElement("div");
    offline.setAttribute("role", "status");
    offline.setAttribute("data-not-updating", "");
    section.parentNode.insertBefore(offline, section);

    // The section and title as the server draws them now, without what is shown only while the caller has
    // a place once they no longer do. The focus, if it was in what was redrawn or taken away (on "Leave
    // the queue"), goes to the section's first button or link.
    function redraw(state) {
      return window
        .fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error(String(response.status));
          }
          return response.text();
        })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var drawn = fresh.querySelector("[data-walk-in]");
          if (!drawn) {
            throw new Error("no place on the page");
          }
          var current = document.querySelector("[data-walk-in-current]");
          var ended = current && !fresh.querySelector("[data-walk-in-current]");
          var focused = document.activeElement;
          var lost = section.contains(focused) || (ended && current.contains(focused));
          section.innerHTML = drawn.innerHTML;
          if (ended) {
            stopCameraCheck(current);
            current.remove();
          }
          document.title = fresh.title;
          status = state.status;
          ready = state.meeting_ready;
          pastClosing = state.past_closing;
          place = section.querySelector("[data-place]");
          wait = section.querySelector("[data-wait]");
          var next = lost && section.querySelector("button, a");
          if (next) {
            next.focus();
          }
        });
    }

    // A camera check left running would keep the camera on after its part of the page has gone.
    function stopCameraCheck(part) {
      var stop = part.querySelector("[data-media-stop]");
      if (stop && !stop.hidden) {
        stop.click();
      }
    }

    function notUpdating(failed) {
      var text = failed ? "This page is not updating: check your connection. It tries again by itself." : "";
      if (offline.textContent !== text) {
        offline.textContent = text;
        offline.className = failed ? "notice notice-warning" : "";
      }
    }

    function show(state) {
      notUpdating(false);
      var toldOrNot = status === "waiting" && (state.wait_words !== null) !== (wait !== null);
      // A wait that comes to run past the closing time (or no longer does) brings or takes away its warning.
      var closingChanged = state.past_closing !== pastClosing;
      if (state.status !== status || state.meeting_ready !== ready || toldOrNot || closingChanged) {
        redraw(state).then(function () {
          if (CURRENT.indexOf(status) !== -1) {
            window.setTimeout(poll, seconds * 1000);
          }
        }, retry);
        return;
      }
      if (place && state.place !== null && String(state.place) !== place.textContent) {
        place.textContent = String(state.place);
      }
      if (wait && state.wait_words && state.wait_words !== wait.textContent) {
        wait.textContent = state.wait_words;
      }
      window.setTimeout(poll, seconds * 1000);
    }

    // The pass lapsed: what the section said goes, and a notice with the way back takes its place.
    function lapsed() {
      notUpdating(false);
      var own = document.querySelector("[data-own-link]");
      var notice = document.createElement("div");
      notice.className = "notice notice-warning";
      var heading = document.createElement("h2");
      heading.textContent = LAPSED.title;
      var text = document.createElement("p");
      text.textContent = LAPSED.text;
      var again = document.createElement("a");
      again.className = "button";
      again.href = own ? own.textContent.trim() : window.location.pathname;
      again.textContent = LAPSED.link;
      // The link differs from this page's address only after "#", which a click would only scroll to: the
      // page is loaded again with it, and open_link.js hands its token over, as from a mail.
      again.addEventListener("click", function (event) {
        event.preventDefault();
        window.history.replaceState(null, "", window.location.pathname + new URL(again.href).hash);
        window.location.reload();
      });
      var line = document.createElement("p");
      line.appendChild(again);
      notice.append(heading, text, line);
      section.replaceChildren(notice);
      document.title = LAPSED.title;
    }

    function poll() {
      window
        .fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status === 404) {
            return null; // refused as a place with no pass is
          }
          if (!response.ok) {
            throw new Error(String(response.status));
          }
          return response.json();
        })
        .then(function (state) {
          if (state === null) {
            lapsed();
          } else {
            show(state);
          }
        })
        .catch(retry);
    }

    function retry() {
      notUpdating(true);
      window.setTimeout(poll, seconds * 2000); // a dropped connection: try again, less often
    }

    window.setTimeout(poll, seconds * 1000);
  });
})();
