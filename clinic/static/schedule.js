// Progressive enhancement of the staff schedule: every few seconds, ask the server for the day's
// statuses and update each row's badge, so staff see a patient check in without reloading. The
// page works without it: the Refresh link (or reloading) shows the same.
(function () {
  "use strict";
  var INTERVAL_MS = 15000;

  function update(table, summary, data) {
    var waiting = [];
    data.consultations.forEach(function (item) {
      var row = table.querySelector('tr[data-consultation="' + item.id + '"]');
      if (!row) {
        return;
      }
      var badge = row.querySelector("[data-status]");
      var text = item.waiting_since ? item.label + " since " + item.waiting_since : item.label;
      if (badge && badge.textContent !== text) {
        badge.textContent = text;
        badge.className = "status-badge status-" + item.status;
        row.className = "status-" + item.status;
      }
      if (item.waiting_since) {
        var link = row.querySelector("td:nth-child(2) a");
        waiting.push(link ? link.textContent : "");
      }
    });
    if (summary) {
      var first = summary.querySelector("p");
      var message = waiting.length ? waiting.length + " waiting: " + waiting.join(", ") : "Nobody is waiting.";
      if (first && first.textContent !== message) {
        first.textContent = message;  // the summary is aria-live: screen readers hear who arrived
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var table = document.querySelector("table[data-updates]");
    if (!table || !window.fetch) {
      return;
    }
    var summary = document.querySelector("[data-waiting-summary]");
    var url = table.getAttribute("data-updates");
    window.setInterval(function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.redirected) {
            window.location.reload();  // signed out (idle): show the sign-in page, not stale patients
            return null;
          }
          return response.ok ? response.json() : null;
        })
        .then(function (data) { if (data) { update(table, summary, data); } })
        .catch(function () { /* offline for a moment: the next round tries again */ });
    }, INTERVAL_MS);
  });
})();
