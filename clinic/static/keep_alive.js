// Progressive enhancement: while someone types in a form marked data-keep-alive (a consultation
// note), tell the server once a minute that they are still active, so the idle sign-out does not
// take their unsaved text. Someone who stops typing is signed out after the idle timeout as usual.
(function () {
  "use strict";
  var EVERY_MS = 60000;

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-keep-alive]");
    if (!form || !window.fetch) {
      return;
    }
    var url = form.getAttribute("data-keep-alive");
    // Text typed before this script arrived (a slow network shows the fields first) counts as typing.
    var typedSincePing = Array.prototype.some.call(form.elements, function (field) {
      return "defaultValue" in field && field.value !== field.defaultValue;
    });
    form.addEventListener("input", function () { typedSincePing = true; });
    window.setInterval(function () {
      if (!typedSincePing) {
        return;
      }
      typedSincePing = false;
      fetch(url, { credentials: "same-origin" }).catch(function () { /* try again next minute */ });
    }, EVERY_MS);
  });
})();
