// Refreshes the dashboard's KPI tiles from /api/kpis every 10 s; charts and tables refresh on reload.
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root) { return; }
  var hours = root.getAttribute("data-hours") || "8";
  function show(value, format) {
    if (value === null || value === undefined) { return "–"; }
    if (format === "pct") { return (value * 100).toFixed(1) + " %"; }
    if (format === "secs") { return value.toFixed(1) + " s"; }
    return String(value);
  }
  function refresh() {
    fetch("/api/kpis?hours=" + encodeURIComponent(hours), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (kpis) {
        if (!kpis) { return; }
        root.querySelectorAll("[data-kpi]").forEach(function (node) {
          var name = node.getAttribute("data-kpi");
          if (name in kpis) { node.textContent = show(kpis[name], node.getAttribute("data-format")); }
        });
      })
      .catch(function () { /* the next tick tries again */ });
  }
  window.setInterval(refresh, 10000);
})();
