/* gutbrain analyse form: list the metadata's columns (with their values) in the pickers, and
   submit through the JSON API so an error keeps every choice and chosen file on the page. */
(function () {
  "use strict";
  var form = document.getElementById("analyse-form");
  if (!form) { return; }
  var columnsUrl = form.getAttribute("data-columns");
  var apiUrl = form.getAttribute("data-api");
  var meta = document.getElementById("f-metadata");
  var idColumn = document.getElementById("f-id_column");
  var summary = document.getElementById("md-summary");
  var errorBox = document.getElementById("form-error");
  var button = document.getElementById("submit");
  var busy = document.getElementById("busy");
  var columns = [];

  function pick(kind) { return form.querySelector('select[data-kind="' + kind + '"]'); }
  function option(value, label, selected) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    o.selected = !!selected;
    return o;
  }
  function describe(c) {
    if (c.type === "numeric") {
      return c.name + " (numeric" + (c.min !== null ? ", " + c.min + "–" + c.max : "") + ")";
    }
    var lv = Object.keys(c.levels || {}).slice(0, 6).map(function (k) { return k + " " + c.levels[k]; });
    return c.name + " (" + lv.join(", ") + (c.n_levels > 6 ? ", …" : "") + ")";
  }
  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
    if (message) { errorBox.scrollIntoView({ block: "center" }); }
  }

  function fillGroup() {
    var sel = pick("group");
    if (!sel) { return; }
    var keep = sel.value;
    sel.textContent = "";
    sel.appendChild(option("", "(none: no group comparison)", false));
    var good = document.createElement("optgroup");
    good.label = "columns that split the samples into 2–20 groups";
    var other = document.createElement("optgroup");
    other.label = "other columns";
    columns.forEach(function (c) {
      (c.groupable ? good : other).appendChild(option(c.name, describe(c), c.name === keep));
    });
    if (good.children.length) { sel.appendChild(good); }
    if (other.children.length) { sel.appendChild(other); }
    fillReference();
  }
  function fillReference() {
    var sel = pick("reference"), group = pick("group");
    if (!sel) { return; }
    var keep = sel.value;
    sel.textContent = "";
    sel.appendChild(option("", "(default)", false));
    var col = columns.filter(function (c) { return group && c.name === group.value; })[0];
    if (col && col.levels) {
      Object.keys(col.levels).forEach(function (lv) {
        var v = col.name + "," + lv;
        sel.appendChild(option(v, lv + " (" + col.levels[lv] + " samples)", v === keep));
      });
    }
  }
  function fillSimple(kind, noneLabel) {
    var sel = pick(kind);
    if (!sel) { return; }
    var keep = Array.prototype.filter.call(sel.options, function (o) { return o.selected; })
      .map(function (o) { return o.value; });
    sel.textContent = "";
    if (noneLabel) { sel.appendChild(option("", noneLabel, false)); }
    columns.forEach(function (c) {
      sel.appendChild(option(c.name, describe(c), keep.indexOf(c.name) >= 0));
    });
  }

  function loadColumns() {
    if (!meta || !meta.files || !meta.files.length) {
      columns = [];
      summary.textContent = "";
      return;
    }
    var body = new FormData();
    body.append("metadata", meta.files[0]);
    if (idColumn && idColumn.value) { body.append("id_column", idColumn.value); }
    summary.textContent = "Reading the metadata…";
    fetch(columnsUrl, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, data: j }; }); })
      .then(function (res) {
        if (!res.ok) {
          columns = [];
          summary.textContent = "";
          showError(res.data.error || "cannot read the metadata");
          return;
        }
        showError("");
        columns = res.data.columns;
        summary.textContent = res.data.file + ": " + res.data.n_samples + " samples, " +
          columns.length + " columns (sample ids in " + res.data.id_column + ").";
        fillGroup();
        fillSimple("covariates", null);
        fillSimple("subject", "(none: one sample per person)");
      })
      .catch(function () { summary.textContent = "Cannot reach the server."; });
  }

  if (meta) { meta.addEventListener("change", loadColumns); }
  if (idColumn) { idColumn.addEventListener("change", loadColumns); }
  var groupSel = pick("group");
  if (groupSel) { groupSel.addEventListener("change", fillReference); }
  if (meta && meta.files && meta.files.length) { loadColumns(); }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    showError("");
    button.disabled = true;
    busy.hidden = false;
    busy.textContent = "Uploading and checking the files…";
    fetch(apiUrl, { method: "POST", body: new FormData(form), credentials: "same-origin",
                    headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, data: j }; }); })
      .then(function (res) {
        if (res.ok) { window.location.assign(res.data.links.page); return; }
        button.disabled = false;
        busy.hidden = true;
        showError(res.data.error || "the server refused the submission");
      })
      .catch(function () {
        button.disabled = false;
        busy.hidden = true;
        showError("Cannot reach the server (or the upload is too large). Your choices are kept; try again.");
      });
  });
})();
