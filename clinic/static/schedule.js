// Progressive enhancement of the staff day: every few seconds, ask the server for the day's changing
// parts (who is waiting, the walk-in queues, the consultations) and put in each region that changed, so
// staff see a patient check in, a caller join or a booking made without reloading. The page works
// without it: the Refresh link (or reloading) shows the same.
(function () {
  "use strict";
  var INTERVAL_MS = 15000;

  // A region's markup without its forms' CSRF tokens, which differ on every drawing: a region is put in
  // again only when what it shows changed (a live region says all of it again when it is).
  function shown(region) {
    var copy = region.cloneNode(true);
    copy.querySelectorAll('input[name="csrf_token"]').forEach(function (input) {
      input.remove();
    });
    return copy.innerHTML;
  }

  function update(page, fresh) {
    page.querySelectorAll("[data-live]").forEach(function (region) {
      var name = region.getAttribute("data-live");
      var drawn = fresh.querySelector('[data-live="' + name + '"]');
      // Not while it holds the focus: a keyboard user's place is not taken from under them.
      if (drawn && !region.contains(document.activeElement) && shown(region) !== shown(drawn)) {
        region.innerHTML = drawn.innerHTML;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var page = document.querySelector("[data-updates]");
    if (!page || !window.fetch || !window.DOMParser) {
      return;
    }
    var url = page.getAttribute("data-updates");
    window.setInterval(function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (response.redirected) {
            window.location.reload();  // signed out (idle): show the sign-in page, not stale patients
            return null;
          }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html) {
            update(page, new DOMParser().parseFromString(html, "text/html"));
          }
        })
        .catch(function () { /* offline for a moment: the next round tries again */ });
    }, INTERVAL_MS);
  });
})();
