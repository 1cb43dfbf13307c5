// Live event stream: the events table redrawn by live.js; this file only builds a row.
(function () {
  "use strict";
  var table = document.getElementById("events");
  if (!table || !table.dataset.liveUrl) return;
  var detailBase = table.dataset.detailBase;
  var td = window.supplylake.td;

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

  window.supplylake.live({
    tableId: "events", key: "events", noun: "event", nouns: "events", columns: 5,
    focusIn: "a", row: row,
  });
})();
