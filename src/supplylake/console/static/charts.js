// Charts of events per second and loader lag, drawn with uPlot (vendored) and refreshed every 5 s.
(function () {
  "use strict";
  var config = document.getElementById("chart-config");
  if (!config || typeof uPlot === "undefined") return;
  var url = config.dataset.url;
  var status = document.getElementById("chart-status");
  var rateEl = document.getElementById("rate-chart");
  var lagEl = document.getElementById("lag-chart");
  var plots = {};
  var utc = function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); };

  function fmt(unit, digits) {
    return function (u, v) { return v == null ? "—" : v.toFixed(digits) + unit; };
  }

  function size(el) {
    var width = Math.max(260, el.clientWidth);
    return { width: width, height: Math.round(Math.max(180, Math.min(320, width * 0.4))) };
  }

  function options(el, series, axisLabel) {
    var s = size(el);
    return {
      width: s.width,
      height: s.height,
      tzDate: utc,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } } },
      axes: [{ stroke: "#475569" }, { label: axisLabel, stroke: "#475569", size: 60 }],
      series: [{ label: "Time (UTC)" }].concat(series),
    };
  }

  function update(data) {
    var rate = [data.times, data.accepted_per_s, data.applied_per_s];
    var lag = [data.times, data.lag_mean_s, data.lag_max_s];
    if (!plots.rate) {
      plots.rate = new uPlot(options(rateEl, [
        { label: "Accepted", stroke: "#1d4ed8", width: 2, fill: "rgba(29,78,216,0.08)", value: fmt("/s", 1) },
        { label: "Applied", stroke: "#15803d", width: 2, dash: [6, 3], value: fmt("/s", 1) },
      ], "events / s"), rate, rateEl);
      plots.lag = new uPlot(options(lagEl, [
        { label: "Mean lag", stroke: "#7c3aed", width: 2, points: { show: true, size: 4 }, value: fmt(" s", 2) },
        { label: "Max lag", stroke: "#c2410c", width: 1.5, dash: [4, 3], points: { show: true, size: 4 }, value: fmt(" s", 2) },
      ], "seconds"), lag, lagEl);
    } else {
      plots.rate.setData(rate);
      plots.lag.setData(lag);
    }
    document.querySelectorAll("#summary dd[data-k]").forEach(function (dd) {
      var v = data[dd.dataset.k];
      if (dd.dataset.k.indexOf("lag") === 0) dd.textContent = v == null ? "—" : v.toFixed(2) + " s";
      else dd.textContent = String(v);
    });
  }

  function load() {
    fetch(url, { headers: { accept: "application/json" }, cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) { status.textContent = "Your session ended: reload the page to sign in again."; return null; }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (data) {
        if (!data) return;
        update(data);
        status.textContent = "";
        setTimeout(load, 5000);
      })
      .catch(function () {
        status.textContent = "Could not refresh the charts; retrying.";
        setTimeout(load, 10000);
      });
  }

  if (window.ResizeObserver) {
    new ResizeObserver(function () {
      ["rate", "lag"].forEach(function (k) {
        if (plots[k]) plots[k].setSize(size(k === "rate" ? rateEl : lagEl));
      });
    }).observe(rateEl);
  }
  load();
})();
