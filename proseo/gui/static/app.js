// proseo-py GUI: confirmation of actions, and the throughput plots (Chart.js).
"use strict";

document.addEventListener("submit", function (event) {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
}, true);

function drawPlots(root) {
  if (typeof Chart === "undefined") { return; }
  root.querySelectorAll("canvas.plot:not([data-drawn])").forEach(function (canvas) {
    const s = JSON.parse(canvas.dataset.series);
    canvas.dataset.drawn = "1";
    new Chart(canvas, {
      data: {
        labels: s.labels,
        datasets: [
          { type: "bar", label: "completed", data: s.completed, backgroundColor: "#3c8d5a", stack: "steps", yAxisID: "y" },
          { type: "bar", label: "failed", data: s.failed, backgroundColor: "#c0392b", stack: "steps", yAxisID: "y" },
          { type: "line", label: "mean run time (s)", data: s.run_s, borderColor: "#2c6fbb", pointRadius: 0, spanGaps: true, yAxisID: "y2" }
        ]
      },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: {
          y: { stacked: true, beginAtZero: true, title: { display: true, text: "job steps / hour" } },
          y2: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "seconds" } },
          x: { stacked: true, ticks: { maxTicksLimit: 12 } }
        }
      }
    });
  });
}

document.addEventListener("DOMContentLoaded", function () { drawPlots(document); });
document.addEventListener("htmx:afterSwap", function (event) { drawPlots(event.target); });
