// Live executions of a flow: the executions table redrawn by live.js; this file only builds a row.
(function () {
  "use strict";
  var td = window.supplylake.td;

  function div(text, className) {
    var el = document.createElement("div");
    el.className = className;
    el.textContent = text;
    return el;
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

  window.supplylake.live({
    tableId: "executions", key: "executions", noun: "execution", nouns: "executions",
    columns: 4, focusIn: "", row: row,
  });
})();
