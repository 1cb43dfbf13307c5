// Live event stream: re-reads the newest events every 2 s (while the tab is visible) and
// redraws the table, keeping keyboard focus on the same event. Pausable for readers.
(function () {
  "use strict";
  var table = document.getElementById("events");
  if (!table || !table.dataset.liveUrl) return;
  var tbody = table.tBodies[0];
  var status = document.getElementById("live-status");
  var toggle = document.getElementById("live-toggle");
  var detailBase = table.dataset.detailBase;
  var seen = new Set();
  tbody.querySelectorAll("tr[data-id]").forEach(function (tr) { seen.add(tr.dataset.id); });
  var paused = false;
  var timer = null;
  var EVERY_MS = 2000;

  toggle.hidden = false;
  status.textContent = "Live: new events appear at the top.";
  toggle.addEventListener("click", function () {
    paused = !paused;
    toggle.setAttribute("aria-pressed", String(!paused));
    toggle.textContent = paused ? "Resume live updates" : "Pause live updates";
    status.textContent = paused ? "Live updates paused." : "Live: new events appear at the top.";
    if (!paused) poll();
  });

  function td(text, className) {
    var cell = document.createElement("td");
    if (className) cell.className = className;
    if (text !== undefined) cell.textContent = text;
    return cell;
  }

  function row(ev, fresh) {
    var tr = document.createElement("tr");
    tr.dataset.id = ev.id;
    if (fresh) tr.className = "fresh";
    tr.appendChild(td(ev.timestamp, "nowrap"));
    var kind = td();
    var etype = document.createElement("span");
    etype.className = "mono etype";
    etype.textContent = ev.type;
    var target = document.createElement("div");
    target.className = "muted small mono";
    target.textContent = ev.dataset + " · " + ev.operation;
    kind.appendChild(etype);
    kind.appendChild(target);
    tr.appendChild(kind);
    var group = td(ev.group, "mono group");
    group.dataset.label = "group";
    tr.appendChild(group);
    var st = td();
    var badge = document.createElement("span");
    badge.className = "badge status-" + ev.status.toLowerCase();
    badge.textContent = ev.status;
    st.appendChild(badge);
    if (ev.message) {
      var msg = document.createElement("div");
      msg.className = "message small";
      msg.textContent = ev.message;
      st.appendChild(msg);
    }
    tr.appendChild(st);
    var link = document.createElement("a");
    link.href = detailBase + encodeURIComponent(ev.id);
    link.textContent = "View";
    var hidden = document.createElement("span");
    hidden.className = "sr-only";
    hidden.textContent = " event " + ev.id;
    link.appendChild(hidden);
    var last = td();
    last.appendChild(link);
    tr.appendChild(last);
    return tr;
  }

  function render(events) {
    var focused = document.activeElement && document.activeElement.closest ?
      document.activeElement.closest("tr[data-id]") : null;
    var focusId = focused && tbody.contains(focused) ? focused.dataset.id : null;
    var fresh = 0;
    var frag = document.createDocumentFragment();
    events.forEach(function (ev) {
      var isNew = !seen.has(ev.id);
      if (isNew) { fresh += 1; seen.add(ev.id); }
      frag.appendChild(row(ev, isNew));
    });
    if (!events.length) {
      var empty = document.createElement("tr");
      empty.className = "empty";
      var cell = td("No events yet.");
      cell.colSpan = 5;
      empty.appendChild(cell);
      frag.appendChild(empty);
    }
    tbody.replaceChildren(frag);
    if (focusId) {
      var again = tbody.querySelector('tr[data-id="' + CSS.escape(focusId) + '"] a');
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
        var fresh = render(data.events);
        if (fresh) status.textContent = fresh + (fresh === 1 ? " new event." : " new events.");
        timer = setTimeout(poll, EVERY_MS);
      })
      .catch(function () {
        status.textContent = "Could not refresh the events; retrying.";
        timer = setTimeout(poll, EVERY_MS * 2);
      });
  }

  timer = setTimeout(poll, EVERY_MS);
})();
