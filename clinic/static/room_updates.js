// Progressive enhancement for the open waiting room: staff may change what it says while the patient waits
// there (handed to another clinician when theirs cannot come, the call moved to a new video room), so the
// room is asked for again every 30 seconds and put in place when its words have changed. Only the live
// region (data-room) is replaced, which reads the news out; the page is not reloaded, which would end a
// running camera check. Without JavaScript the page offers a reload link.
(function () {
  "use strict";

  var EVERY = 30000;

  function words(element) {
    return element.textContent.replace(/\s+/g, " ").trim();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var region = document.querySelector("[data-room]");
    if (!region || !window.fetchRoom) {
      return;
    }

    function refresh() {
      if (!region.children.length) {
        return; // not open yet: countdown.js opens it
      }
      window
        .fetchRoom()
        .then(function (fresh) {
          if (fresh && fresh.children.length && words(fresh) !== words(region)) {
            region.innerHTML = fresh.innerHTML;
          }
        })
        .catch(function () {}); // asked again at the next turn
    }

    window.setInterval(refresh, EVERY);
  });
})();
