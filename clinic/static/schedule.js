// Progressive enhancement of the staff day and week: every few seconds, ask the server for the page's
// changing parts (who is waiting, the walk-in queues, the consultations) and change in the page what
// changed, so staff see a patient check in, a caller join, a booking made or a call stall without
// reloading. The page works without it: the Refresh link (or reloading) shows the same.
(function () {
  "use strict";
  var INTERVAL_MS = 15000;

  // Parts are known by their id, a row by its consultation: one added above another does not take its
  // place.
  function key(node) {
    return node.nodeType === Node.ELEMENT_NODE ? node.id || node.getAttribute("data-consultation") : null;
  }

  function holdsFocus(node) {
    return node.contains(document.activeElement);
  }

  // Make `node` show what `drawn` shows, changing as little as it can: a changed text is changed where it
  // is and every other node stays the one it was, so a screen reader's place in the page stays where it
  // was (putting in new markup would move it). A part holding the focus is left as it is until the focus
  // leaves, so a keyboard user's button never turns into another's under them.
  function morph(node, drawn) {
    if (node.nodeType !== drawn.nodeType || node.nodeName !== drawn.nodeName) {
      if (!holdsFocus(node)) {
        node.replaceWith(document.importNode(drawn, true));
      }
    } else if (node.nodeType !== Node.ELEMENT_NODE) {
      if (node.nodeValue !== drawn.nodeValue) {
        node.nodeValue = drawn.nodeValue;
      }
    } else if (!(key(node) && holdsFocus(node))) {
      Array.from(node.attributes).forEach(function (attribute) {
        if (!drawn.hasAttribute(attribute.name)) {
          node.removeAttribute(attribute.name);
        }
      });
      Array.from(drawn.attributes).forEach(function (attribute) {
        if (node.getAttribute(attribute.name) !== attribute.value) {
          node.setAttribute(attribute.name, attribute.value);
        }
      });
      morphChildren(node, drawn);
    }
  }

  // The first node from `node` on, without a key, of the kind of `wanted` (a text, a <p>, ...).
  function sameKind(node, wanted) {
    while (node && (key(node) || node.nodeType !== wanted.nodeType || node.nodeName !== wanted.nodeName)) {
      node = node.nextSibling;
    }
    return node;
  }

  // The children of `parent` made those of `drawn`: those with a key matched by it, the others in turn by
  // their kind.
  function morphChildren(parent, drawn) {
    var keyed = {};
    parent.childNodes.forEach(function (child) {
      if (key(child)) {
        keyed[key(child)] = child;
      }
    });
    var next = parent.firstChild;
    Array.from(drawn.childNodes).forEach(function (wanted) {
      var found = key(wanted) ? keyed[key(wanted)] : sameKind(next, wanted);
      if (!found) {
        parent.insertBefore(document.importNode(wanted, true), next);
        return;
      }
      if (found === next) {
        next = next.nextSibling;
      } else {
        parent.insertBefore(found, next);
      }
      morph(found, wanted);
    });
    while (next) {
      var gone = next;
      next = next.nextSibling;
      if (!holdsFocus(gone)) {
        gone.remove();
      }
    }
  }

  // What the fresh drawing holds that is news against the page's: each item of its list (see
  // schedule/_day_live.html, _week_live.html) that the page's list lacks, or whose data-newest is higher.
  function news(page, fresh) {
    var shown = {};
    page.querySelectorAll("[data-news] li").forEach(function (item) {
      shown[item.getAttribute("data-news")] = Number(item.getAttribute("data-newest"));
    });
    return Array.from(fresh.querySelectorAll("[data-news] li"))
      .filter(function (item) {
        var before = shown[item.getAttribute("data-news")];
        return before === undefined || Number(item.getAttribute("data-newest")) > before;
      })
      .map(function (item) {
        return item.textContent;
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var page = document.querySelector("[data-updates]");
    var said = document.querySelector("[data-news-said]");
    if (!page || !said || !window.fetch || !window.DOMParser) {
      return;
    }
    var url = page.getAttribute("data-updates");
    window.setInterval(function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (response.redirected) {
            window.location.reload();  // signed out (idle): show the sign-in page, not stale patients
            return null;
          }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (!html) {
            return;
          }
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var told = news(page, fresh);
          morphChildren(page, fresh.body);
          if (told.length) {
            said.textContent = told.join(" ");
          }
        })
        .catch(function () { /* offline for a moment: the next round tries again */ });
    }, INTERVAL_MS);
  });
})();
