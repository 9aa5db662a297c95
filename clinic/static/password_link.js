// An admin's password link carries its token after "#", which browsers never send, so no server log
// holds it. Take it out of the address (and so out of the history) and into the form, which posts it;
// without JavaScript the staff member pastes the link into the same field.
(function () {
  "use strict";
  var match = /(?:^#|&)t=([^&]+)/.exec(window.location.hash);
  if (!match) {
    return;
  }
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  document.addEventListener("DOMContentLoaded", function () {
    var link = document.getElementById("link");
    var wrapper = document.querySelector("[data-password-link-field]");
    if (!link || !wrapper) {
      return;
    }
    link.value = decodeURIComponent(match[1]);
    wrapper.hidden = true; // nothing to paste: the staff member sees only the password fields
  });
})();
