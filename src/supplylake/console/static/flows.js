// Live executions of a flow: re-reads the newest executions every 2 s (while the tab is
// visible) and redraws the table, keeping keyboard focus on the same row. Pausable for readers.
(function () {
  "use strict";
  var table = document.getElementById("executions");
  if (!table || !table.dataset.liveUrl) return;
  var tbody = table.tBodies[0];
  var status = document.getElementById("live-status");
  var toggle = document.getElementById("live-toggle");
  var seen = new Set();
  tbody.querySelectorAll("tr[data-id]").forEach(function (tr) { seen.add(tr.dataset.id); });
  var paused = false;
  var timer = null;
  var EVERY_MS = 2000;
  var LIVE = "Live: new executions appear at the top.";

  toggle.hidden = false;
  status.textContent = LIVE;
  toggle.addEventListener("click", function () {
    paused = !paused;
    toggle.setAttribute("aria-pressed", String(!paused));
    toggle.textContent = paused ? "Resume live updates" : "Pause live updates";
    status.textContent = paused ? "Live updates paused." : LIVE;
    if (!paused) poll();
  });

  function div(text, className) {
    var el = document.createElement("div");
    el.className = className;
    el.textContent = text;
    return el;
  }

  function td(text, className, label) {
    var cell = document.createElement("td");
    if (className) cell.className = className;
    if (label) cell.dataset.label = label;
    if (text !== undefined) cell.textContent = text;
    return cell;
  }

  function row(ex, fresh) {
    var tr = document.createElement("tr");
    tr.dataset.id = ex.id;
    tr.tabIndex = -1;
    if (fresh) tr.className = "fresh";
    var when = td(ex.start, "nowrap");
    if (ex.end) when.appendChild(div("ended " + ex.end, "muted small"));
    when.appendChild(div(ex.id, "muted small mono"));
    tr.appendChild(when);
    tr.appendChild(td(ex.source, "mono break", "source"));
    tr.appendChild(td(ex.rows_read + " / " + ex.rows_written + " / " + ex.rows_rejected, "num", "rows"));
    var st = td();
    var badge = document.createElement("span");
    badge.className = "badge status-" + ex.state.toLowerCase();
    badge.textContent = ex.state;
    st.appendChild(badge);
    if (ex.message) st.appendChild(div(ex.message, "message small"));
    if (ex.diagnostics) st.appendChild(div("diagnostics: " + ex.diagnostics, "muted small mono break"));
    tr.appendChild(st);
    return tr;
  }

  function render(executions) {
    var focused = document.activeElement && document.activeElement.closest ?
      document.activeElement.closest("tr[data-id]") : null;
    var focusId = focused && tbody.contains(focused) ? focused.dataset.id : null;
    var fresh = 0;
    var frag = document.createDocumentFragment();
    executions.forEach(function (ex) {
      var isNew = !seen.has(ex.id);
      if (isNew) { fresh += 1; seen.add(ex.id); }
      frag.appendChild(row(ex, isNew));
    });
    if (!executions.length) {
      var empty = document.createElement("tr");
      empty.className = "empty";
      var cell = td("No executions yet.");
      cell.colSpan = 4;
      empty.appendChild(cell);
      frag.appendChild(empty);
    }
    tbody.replaceChildren(frag);
    if (focusId) {
      var again = tbody.querySelector('tr[data-id="' + CSS.escape(focusId) + '"]');
      if (again) again.focus();
    }
    return fresh;
  }

  function poll() {
    clearTimeout(timer);
    if (paused) return;
    if (document.hidden) { timer = setTimeout(poll, EVERY_MS); return; }
    fetch(table.dataset.liveUrl, { headers: { accept: "application/json" }, cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) {
          paused = true;
          status.textContent = "Your session ended: reload the page to sign in again.";
          return null;
        }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (data) {
        if (!data) return;
        var fresh = render(data.executions);
        if (fresh) status.textContent = fresh + (fresh === 1 ? " new execution." : " new executions.");
        timer = setTimeout(poll, EVERY_MS);
      })
      .catch(function () {
        status.textContent = "Could not refresh the executions; retrying.";
        timer = setTimeout(poll, EVERY_MS * 2);
      });
  }

  timer = setTimeout(poll, EVERY_MS);
})();
