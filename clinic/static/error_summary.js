// The error summary's links put the focus in their field (the GOV.UK pattern). A link to a group of
// radios or boxes names its fieldset, which cannot take the focus: the browser scrolled to it and left
// the focus on <body>. Here it goes to the group's first radio or box, with the legend or label in view.
(function () {
  "use strict";
  var CONTROL = "input:not([type=hidden]), select, textarea";

  document.addEventListener("click", function (event) {
    var link = event.target.closest(".error-summary a[href^='#']");
    var field = link && document.getElementById(link.getAttribute("href").slice(1));
    var control = field && (field.matches(CONTROL) ? field : field.querySelector(CONTROL));
    if (!control) {
      return;
    }
    event.preventDefault();
    (field.closest(".field") || field).scrollIntoView();
    control.focus({ preventScroll: true });
  });
})();
