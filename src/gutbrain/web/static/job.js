/* gutbrain job page: keep status, step and progress current without reloading the page.
   Polls the job's JSON; when the job ends, swaps in the server-rendered results section. */
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box) { return; }
  var api = box.getAttribute("data-api");
  var pageUrl = box.getAttribute("data-page");
  var active = { queued: true, running: true };
  var failures = 0;

  function byId(id) { return document.getElementById(id); }
  function setText(id, value) { var el = byId(id); if (el) { el.textContent = value; } }

  function showStatus(job) {
    var badge = box.querySelector(".status");
    if (badge) {
      badge.textContent = job.status;
      badge.className = "status status-" + job.status;
      badge.setAttribute("data-status", job.status);
    }
    box.setAttribute("data-status", job.status);
    setText("job-step", active[job.status] ? job.step : "");
    var bar = byId("job-progress");
    if (bar) { bar.value = job.progress; }
    setText("job-percent", Math.round(job.progress * 100) + " %");
    setText("job-note", job.status === "queued" ? "Waiting for a free worker; this page updates by itself."
      : job.status === "running" ? "Running; this page updates by itself." : "");
  }

  function swapResults() {
    return fetch(pageUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("job-results");
        var old = byId("job-results");
        if (fresh && old) { old.replaceWith(document.importNode(fresh, true)); }
      });
  }

  function poll() {
    fetch(api, { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, job: j }; }); })
      .then(function (res) {
        if (!res.ok) { setText("job-note", res.job.error || "the job is gone"); return; }
        failures = 0;
        showStatus(res.job);
        if (active[res.job.status]) { setTimeout(poll, 500); } else { swapResults(); }
      })
      .catch(function () {
        failures += 1;
        setText("job-note", "Cannot reach the server; retrying…");
        setTimeout(poll, Math.min(10000, 1000 * failures));
      });
  }

  if (active[box.getAttribute("data-status")]) { setTimeout(poll, 200); }
})();
