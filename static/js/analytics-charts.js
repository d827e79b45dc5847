/* The dashboard's charts: each <canvas data-spec="ID"> is drawn from the JSON the page put in <script id="ID">
   (Django's json_script). Chart.js 4 comes from npm (static/vendor/chartjs). Without it the tables still say it all. */
(function () {
  "use strict";

  var COLOURS = ["#1d4ed8", "#0f9d58", "#f59e0b", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];
  var PREVIOUS = "#9aa5b1";

  function dataset(series, index, spec) {
    var colour = series.previous ? PREVIOUS : COLOURS[index % COLOURS.length];
    var line = spec.kind === "line";
    return {
      label: series.label,
      data: series.data,
      borderColor: colour,
      backgroundColor: line ? colour : colour + (series.previous ? "99" : "dd"),
      borderDash: series.previous && line ? [6, 4] : [],
      borderWidth: line ? 2 : 0,
      pointRadius: line && series.data.length > 40 ? 0 : 2,
      tension: 0.2,
      spanGaps: true,
      fill: false
    };
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-spec"));
    if (!source || typeof window.Chart === "undefined") {
      return;
    }
    var spec = JSON.parse(source.textContent);
    var valueAxis = spec.horizontal ? "x" : "y";
    var scales = {x: {stacked: spec.stacked, grid: {display: spec.horizontal}},
                  y: {stacked: spec.stacked, grid: {display: !spec.horizontal}}};
    scales[valueAxis].beginAtZero = true;
    if (spec.unit) {
      scales[valueAxis].title = {display: true, text: spec.unit};
    }
    new window.Chart(canvas, {
      type: spec.kind === "line" ? "line" : "bar",
      data: {labels: spec.labels, datasets: spec.series.map(function (s, i) { return dataset(s, i, spec); })},
      options: {
        indexAxis: spec.horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: {mode: "index", intersect: false},
        plugins: {legend: {display: spec.series.length > 1, position: "bottom", labels: {boxWidth: 12}}},
        scales: scales
      }
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("canvas[data-spec]"), draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
