// A consultation note on its way to the server, or left on a page that the idle sign-out takes away, is
// kept in this browser tab (sessionStorage) until its page shows it saved, so the idle sign-out loses no
// note: the sign-in page says so, and the note's page puts it back once its writer has signed in again.
// The copy is never sent anywhere. It is kept per staff member and consultation, and deleted when the
// page shows the note saved, when it is discarded, at sign-out, as soon as a page of another staff
// member opens in this tab, and by a sign-in page that does not follow an idle sign-out (the session
// ended by a sign-out in another tab or browser, or by an admin; the page opened again): on a shared
// workstation the next person must not find it.
(function () {
  "use strict";
  var PREFIX = "clinic.unsaved-note."; // then the staff member's id, ".", the consultation's id
  var TEXTS = ["subjective", "objective", "assessment", "plan"];
  // The draft the note was written over, put back with it: if another tab saved a newer one meanwhile,
  // the save is refused as stale (with the text kept) rather than overwriting it.
  var MARKERS = ["draft", "revision"];

  function keptKeys() {
    var keys = [];
    for (var i = 0; i < window.sessionStorage.length; i += 1) {
      var key = window.sessionStorage.key(i);
      if (key.indexOf(PREFIX) === 0) {
        keys.push(key);
      }
    }
    return keys;
  }

  function forget(keys) {
    keys.forEach(function (key) { window.sessionStorage.removeItem(key); });
  }

  // As the server saves a note (clinic/notes/content.py, clinic/unstorable.py), so a saved note reads
  // the same as its copy.
  function asSaved(text) {
    return text.replace(/\r\n?|[\v\f]/g, "\n").replace(/\0/g, "");
  }

  function keep(key, form) {
    var note = {};
    TEXTS.concat(MARKERS).forEach(function (name) { note[name] = form.elements[name].value; });
    window.sessionStorage.setItem(key, JSON.stringify(note));
  }

  function putBack(key, form, notice) {
    var kept = JSON.parse(window.sessionStorage.getItem(key));
    var saved = TEXTS.every(function (name) {
      return asSaved(kept[name]) === asSaved(form.elements[name].value);
    });
    if (saved) {
      window.sessionStorage.removeItem(key);
      return;
    }
    TEXTS.concat(MARKERS).forEach(function (name) { form.elements[name].value = kept[name]; });
    notice.hidden = false;
    notice.focus();
    notice.querySelector("button").addEventListener("click", function () {
      window.sessionStorage.removeItem(key);
      TEXTS.concat(MARKERS).forEach(function (name) {
        form.elements[name].value = form.elements[name].defaultValue;
      });
      notice.hidden = true;
      form.elements[TEXTS[0]].focus();
    });
  }

  function notesPage(key, form) {
    if (!form) { // signed, or someone else's draft: nothing to put it back into
      window.sessionStorage.removeItem(key);
      return;
    }
    form.addEventListener("submit", function () { keep(key, form); });
    document.addEventListener("clinic:signed-out", function () { keep(key, form); }); // idle_warning.js
    if (window.sessionStorage.getItem(key) !== null) {
      putBack(key, form, document.getElementById("unsaved-note-back"));
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.sessionStorage) {
      return;
    }
    var bar = document.querySelector("form.staff-bar[data-staff]");
    var signIn = document.getElementById("unsaved-note-kept");
    if (signIn) {
      if (!signIn.hasAttribute("data-kept")) { // the session did not end idle: the copy ends with it
        forget(keptKeys());
      }
      signIn.hidden = keptKeys().length === 0;
    }
    if (!bar) {
      return;
    }
    var mine = PREFIX + bar.getAttribute("data-staff") + ".";
    forget(keptKeys().filter(function (key) { return key.indexOf(mine) !== 0; }));
    bar.addEventListener("submit", function () { forget(keptKeys()); });
    var notes = document.querySelector("[data-unsaved-note]");
    if (notes) {
      notesPage(mine + notes.getAttribute("data-unsaved-note"), document.getElementById("note-form"));
    }
  });
})();
