// The waiting room as the server now draws it: the page's live region (data-room) fetched again, for
// countdown.js (the room opening) and room_updates.js (what staff change while the patient waits).
(function () {
  "use strict";

  if (!window.fetch) {
    return; // the pages' reload links do it
  }

  // A promise of the fresh region, or null when the page could not be had.
  window.fetchRoom = function () {
    return window
      .fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        return html && new DOMParser().parseFromString(html, "text/html").querySelector("[data-room]");
      });
  };
})();
