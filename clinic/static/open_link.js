// Links in mails (and admins' password links) carry their token after "#", which browsers never send,
// so no server log holds it. Take it out of the address (and so out of the history), and hand it to
// the page in a POST: the form is the same one a visitor without JavaScript fills in by pasting the link.
(function () {
  "use strict";
  var match = /(?:^#|&)t=([^&]+)/.exec(window.location.hash);
  if (!match) {
    return;
  }
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-link-form]");
    if (!form) {
      return; // the room itself: this session holds the token already
    }
    form.elements.code.value = match[1];
    if (form.dataset && form.dataset.linkForm === "fill") {
      // A form with more to fill in (a new password): the link's field is done, so it is hidden.
      document.querySelector("[data-link-field]").hidden = true;
      return;
    }
    document.querySelector("[data-link-opening]").hidden = false;
    form.hidden = true;
    form.submit();
  });
})();
