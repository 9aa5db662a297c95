// Progressive enhancement: before any times are shown, replace the hospital's default time
// zone with the browser's own, so the first times a patient sees are in their local time.
// The server marks such fields with data-browser-time-zone only while the patient has not
// chosen a zone; without JavaScript the zone select on the times page does the same job.
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!zone) {
    return;
  }
  document.addEventListener("DOMContentLoaded", function () {
    var fields = document.querySelectorAll("input[data-browser-time-zone]");
    for (var i = 0; i < fields.length; i += 1) {
      fields[i].value = zone;
    }
  });
})();
