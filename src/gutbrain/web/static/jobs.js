/* gutbrain job history: while jobs are queued or running, refresh the table in place. */
(function () {
  "use strict";
  function refresh() {
    var table = document.getElementById("jobs-table");
    if (!table || table.getAttribute("data-active") !== "true") { return; }
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["jobs-table", "job-counts"].forEach(function (id) {
          var fresh = doc.getElementById(id), old = document.getElementById(id);
          if (fresh && old) { old.replaceWith(document.importNode(fresh, true)); }
        });
        setTimeout(refresh, 1500);
      })
      .catch(function () { setTimeout(refresh, 5000); });
  }
  setTimeout(refresh, 1500);
})();
