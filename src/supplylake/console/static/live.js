// A live table: re-reads its newest rows every 2 s (while the tab is visible) and redraws it,
// keeping keyboard focus on the same row. Pausable for readers. Each page gives its own row
// builder (events.js, flows.js); this file holds the polling, pausing and redrawing they share.
(function () {
  "use strict";
  var EVERY_MS = 2000;

  function td(text, className, label) {
    var cell = document.createElement("td");
    if (className) cell.className = className;
    if (label) cell.dataset.label = label;
    if (text !== undefined) cell.textContent = text;
    return cell;
  }

  // opts: tableId, key (the JSON member holding the rows), noun, nouns, columns,
  // row(item, fresh) -> <tr>, focusIn (selector inside the row that takes focus back, or "").
  function live(opts) {
    var table = document.getElementById(opts.tableId);
    if (!table || !table.dataset.liveUrl) return;
    var tbody = table.tBodies[0];
    var status = document.getElementById("live-status");
    var toggle = document.getElementById("live-toggle");
    var seen = new Set();
    tbody.querySelectorAll("tr[data-id]").forEach(function (tr) { seen.add(tr.dataset.id); });
    var paused = false;
    var timer = null;
    var LIVE = "Live: new " + opts.nouns + " appear at the top.";

    toggle.hidden = false;
    status.textContent = LIVE;
    toggle.addEventListener("click", function () {
      paused = !paused;
      toggle.setAttribute("aria-pressed", String(!paused));
      toggle.textContent = paused ? "Resume live updates" : "Pause live updates";
      status.textContent = paused ? "Live updates paused." : LIVE;
      if (!paused) poll();
    });

    function render(items) {
      var focused = document.activeElement && document.activeElement.closest ?
        document.activeElement.closest("tr[data-id]") : null;
      var focusId = focused && tbody.contains(focused) ? focused.dataset.id : null;
      var fresh = 0;
      var frag = document.createDocumentFragment();
      items.forEach(function (item) {
        var isNew = !seen.has(item.id);
        if (isNew) { fresh += 1; seen.add(item.id); }
        frag.appendChild(opts.row(item, isNew));
      });
      if (!items.length) {
        var empty = document.createElement("tr");
        empty.className = "empty";
        var cell = td("No " + opts.nouns + " yet.");
        cell.colSpan = opts.columns;
        empty.appendChild(cell);
        frag.appendChild(empty);
      }
      tbody.replaceChildren(frag);
      if (focusId) {
        var again = tbody.querySelector(
          'tr[data-id="' + CSS.escape(focusId) + '"]' + (opts.focusIn ? " " + opts.focusIn : ""));
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
          var fresh = render(data[opts.key]);
          if (fresh) status.textContent = fresh + " new " + (fresh === 1 ? opts.noun : opts.nouns) + ".";
          timer = setTimeout(poll, EVERY_MS);
        })
        .catch(function () {
          status.textContent = "Could not refresh the " + opts.nouns + "; retrying.";
          timer = setTimeout(poll, EVERY_MS * 2);
        });
    }

    timer = setTimeout(poll, EVERY_MS);
  }

  window.supplylake = { live: live, td: td };
})();
