// Progressive enhancement for the waiting room before it opens: keep "Starts in …" current, and once
// the room opens put it in the countdown's place, so the join button appears by itself. The page is not
// reloaded: that ended a running camera check and sent a screen reader back to the top. The open room
// goes into the page's live region (data-room), which reads it out. Without JavaScript the page says
// when to come back and offers a reload link.
//
// Time is counted from the server's clock as the page gives it (data-now), so a device whose clock
// is wrong neither shows a wrong wait nor asks too early (and again and again).
(function () {
  "use strict";

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

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.querySelector("[data-countdown]");
    if (!section) {
      return;
    }
    var startsAt = Date.parse(section.getAttribute("data-starts-at"));
    var opensAt = Date.parse(section.getAttribute("data-opens-at"));
    var serverNow = Date.parse(section.getAttribute("data-now"));
    var value = section.querySelector("[data-countdown-value]");
    var region = document.querySelector("[data-room]");
    if (isNaN(startsAt) || isNaN(opensAt) || isNaN(serverNow) || !value || !region || !window.fetchRoom) {
      return;
    }
    var loadedAt = Date.now();
    var timer;

    // The room as the server now draws it, in place of the countdown; asked again a little later while
    // the server's page still has nothing there (not open yet by its clock, or the connection dropped).
    function open() {
      window
        .fetchRoom()
        .then(function (fresh) {
          if (!fresh || !fresh.children.length) {
            throw new Error("not open yet");
          }
          var hadFocus = section.contains(document.activeElement);  // the reload link
          region.innerHTML = fresh.innerHTML;
          section.remove();
          var next = hadFocus && region.querySelector("a, button");
          if (next) {
            next.focus();
          }
        })
        .catch(function () {
          window.setTimeout(open, 15000);
        });
    }

    function tick() {
      var now = serverNow + (Date.now() - loadedAt);
      if (now >= opensAt + 1000) {
        window.clearInterval(timer);
        open();
        return;
      }
      value.textContent = words(startsAt - now);
    }

    timer = window.setInterval(tick, 15000);
    tick();
  });
})();
