// Live regions: every element with a data-live attribute (and an id) is
// fetched again every <body data-refresh> seconds, by asking for this
// same page (If-None-Match: a 304 changes nothing) and putting each
// region of the fresh page in place of the old one.  A region holding
// the focus or a typed value is left alone, so a form is never wiped
// while someone fills it in.  Without JavaScript the pages are the same,
// as they were when loaded.
(function () {
  "use strict";
  if (!document.querySelector("[data-live]")) {
    return;
  }
  var period = (parseInt(document.body.getAttribute("data-refresh"), 10) || 2) * 1000;
  var etag = null;

  function busy(region) {
    if (region.contains(document.activeElement) && document.activeElement !== document.body) {
      return true;
    }
    return Array.prototype.some.call(region.querySelectorAll("input"), function (input) {
      return input.type !== "hidden" && input.value !== input.defaultValue;
    });
  }

  function follow(region) {
    Array.prototype.forEach.call(region.querySelectorAll("pre.logtail"), function (pre) {
      pre.scrollTop = pre.scrollHeight;
    });
  }

  function replace(text) {
    var fresh = new DOMParser().parseFromString(text, "text/html");
    Array.prototype.forEach.call(document.querySelectorAll("[data-live][id]"), function (old) {
      var next = fresh.getElementById(old.id);
      if (next && !busy(old)) {
        var adopted = document.importNode(next, true);
        old.parentNode.replaceChild(adopted, old);
        follow(adopted);
      }
    });
  }

  function tick() {
    var headers = {"Accept": "text/html"};
    if (etag) {
      headers["If-None-Match"] = etag;
    }
    fetch(window.location.href, {headers: headers, credentials: "same-origin", cache: "no-cache"})
      .then(function (response) {
        if (response.status !== 200) {
          return null;
        }
        etag = response.headers.get("ETag");
        return response.text();
      })
      .then(function (text) {
        if (text) {
          replace(text);
        }
      })
      .catch(function () { /* the master may be restarting: try again later */ })
      .then(function () {
        window.setTimeout(tick, period);
      });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-live]"), follow);
  window.setTimeout(tick, period);
}());
