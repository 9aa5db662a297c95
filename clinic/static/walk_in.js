// Progressive enhancement for a walk-in caller's page: ask the server for their place every few seconds
// and update it in place (read out by screen readers through the aria-live region), and reload the page
// once their status changes, so the join button appears by itself. Without JavaScript the page refreshes
// itself (a meta refresh inside <noscript>).
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

    function show(state) {
      if (state.status !== status || state.meeting_ready !== ready) {
        window.location.reload();
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
        .catch(function () {
          window.setTimeout(poll, seconds * 2000); // a dropped connection: try again, less often
        });
    }

    window.setTimeout(poll, seconds * 1000);
  });
})();
