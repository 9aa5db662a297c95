// The waiting room's page as the server now draws it, fetched again: for waiting_room.js (the room opening,
// and what staff change before and while the patient waits: a new time, another clinician, a cancellation).
(function () {
  "use strict";

  if (!window.fetch) {
    return; // the pages' reload links do it
  }

  // A promise of the fresh page, parsed, or null when the page could not be had. X-Room-Refresh: the server
  // records this read of the booking as a poll's, not as the page loaded again (booking/rooms.py).
  window.fetchPage = function () {
    return window
      .fetch(window.location.pathname, {
        credentials: "same-origin",
        headers: { Accept: "text/html", "X-Room-Refresh": "1" }
      })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        return html && new DOMParser().parseFromString(html, "text/html");
      });
  };
})();
