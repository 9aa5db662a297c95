// The waiting room's page as the server now draws it, fetched again: for countdown.js (the room opening,
// the booking moved or cancelled) and room_updates.js (what staff change while the patient waits).
(function () {
  "use strict";

  if (!window.fetch) {
    return; // the pages' reload links do it
  }

  // A promise of the fresh page, parsed, or null when the page could not be had.
  window.fetchPage = function () {
    return window
      .fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        return html && new DOMParser().parseFromString(html, "text/html");
      });
  };

  // A promise of the fresh page's live region (data-room), or null when the page could not be had.
  window.fetchRoom = function () {
    return window.fetchPage().then(function (page) {
      return page && page.querySelector("[data-room]");
    });
  };
})();
