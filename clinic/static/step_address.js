// A page that answers a form's POST (the booking's review) gives its entry in the browser's history the
// address of the step it belongs to as its form is sent. Pages are never cached, so Back from the next
// page had to post the form again, and showed the browser's "Confirm Form Resubmission" error instead;
// now it opens that step. Until the form is sent the entry is left as it is, so Reload shows the same
// page. The address names the service, the clinician, the zone and the time: nothing personal.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var address = event.target.getAttribute("data-step-address");
    if (address && window.history.replaceState) {
      window.history.replaceState(null, "", address);
    }
  });
})();
