// Two minutes before the idle sign-out, every staff page asks whether someone is still there and lets them
// stay signed in with one press (WCAG 2.2.1, Timing Adjustable). Nobody there: the session ends as before,
// and the page leaves for the sign-in page, so what it showed leaves the screen (a note being written is
// kept in the tab first: see unsaved_note.js). The time left is the server's, asked without counting as
// activity: other tabs and the note page's typing keep the session alive too.
(function () {
  "use strict";
  var WARN_SECONDS = 120;
  var SLACK_SECONDS = 60; // the server counts activity to the minute (TOUCH_EVERY in staff/sessions.py)
  var RETRY_SECONDS = 30;

  document.addEventListener("DOMContentLoaded", function () {
    var dialog = document.getElementById("idle-warning");
    if (!dialog || !window.fetch || !dialog.showModal) {
      return;
    }
    var idle = Number(dialog.getAttribute("data-idle-seconds"));
    var warnBefore = Math.min(WARN_SECONDS, idle / 2);
    var minutes = dialog.querySelector("[data-minutes]");
    var timer = null;

    function after(seconds, then) {
      window.clearTimeout(timer);
      timer = window.setTimeout(then, Math.max(seconds, 1) * 1000);
    }

    function untilWarning() {
      after(idle - warnBefore - SLACK_SECONDS, check);
    }

    function signedOut() {
      document.dispatchEvent(new CustomEvent("clinic:signed-out"));
      var here = window.location.pathname + window.location.search;
      window.location.assign(dialog.getAttribute("data-sign-in") + "?next=" + encodeURIComponent(here));
    }

    function warn(seconds) {
      var left = Math.max(1, Math.round(seconds / 60));
      minutes.textContent = left + (left === 1 ? " minute" : " minutes");
      if (!dialog.open) {
        dialog.showModal();
      }
      after(seconds + 1, check);
    }

    function check() {
      fetch(dialog.getAttribute("data-time-left"), { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (left) {
          if (left.seconds <= 0) {
            signedOut();
          } else if (left.seconds <= warnBefore) {
            warn(left.seconds);
          } else {
            if (dialog.open) {
              dialog.close(); // someone was active elsewhere meanwhile
            }
            after(left.seconds - warnBefore, check);
          }
        })
        .catch(function () { after(RETRY_SECONDS, check); });
    }

    function stay() {
      // /account/alive is activity; signed out already, it answers with a redirect to the sign-in page.
      fetch(dialog.getAttribute("data-alive"), { credentials: "same-origin", redirect: "manual" })
        .then(function (response) {
          if (response.status !== 204) {
            signedOut();
            return;
          }
          dialog.close();
          untilWarning();
        })
        .catch(function () { after(RETRY_SECONDS, check); });
    }

    dialog.querySelector("button").addEventListener("click", stay);
    dialog.addEventListener("cancel", function (event) { // Escape: someone is there, so they stay
      event.preventDefault();
      stay();
    });
    untilWarning();
  });
})();
