// Progressive enhancement for a walk-in caller's page: ask the server for their place every few seconds
// and update it in place (read out by screen readers through the aria-live region). Once their status
// changes (their turn, their link made), draw the section afresh from the server's page, with its title:
// the section is live, so "It is your turn" is read out where the join button appears. The page is not
// reloaded, which sent a screen reader back to the top and the focus to <body>. Without JavaScript the
// page refreshes itself (a meta refresh inside <noscript>).
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.querySelector("[data-walk-in]");
    if (!section || !window.fetch) {
      return;
    }
    var url = section.getAttribute("data-poll");
    var status = section.getAttribute("data-status");
    var ready = section.getAttribute("data-meeting-ready") === "yes";
    var seconds = parseInt(section.getAttribute("data-seconds"), 10) || 15;
    var place = section.querySelector("[data-place]");
    var wait = section.querySelector("[data-wait]");

    // The section and title as the server draws them now. The focus, if it was in the section (on
    // "Leave the queue"), goes to the section's first button or link.
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
          var lost = section.contains(document.activeElement);
          section.innerHTML = drawn.innerHTML;
          document.title = fresh.title;
          status = state.status;
          ready = state.meeting_ready;
          place = section.querySelector("[data-place]");
          wait = section.querySelector("[data-wait]");
          var next = lost && section.querySelector("button, a");
          if (next) {
            next.focus();
          }
        });
    }

    function show(state) {
      if (state.status !== status || state.meeting_ready !== ready) {
        redraw(state).then(function () {
          if (status === "waiting" || status === "taken") {
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

    function poll() {
      window
        .fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error(String(response.status));
          }
          return response.json();
        })
        .then(show)
        .catch(retry);
    }

    function retry() {
      window.setTimeout(poll, seconds * 2000); // a dropped connection: try again, less often
    }

    window.setTimeout(poll, seconds * 1000);
  });
})();
