// mlops-dedup console: charts from the JSON the page carries (CSP allows no inline script), review keys, and
// selects that submit their form. The pages work without it.
"use strict";

function drawCharts() {
  if (typeof Plotly === "undefined") return;
  document.querySelectorAll("div.plot[data-figure]").forEach(function (div) {
    var source = document.getElementById(div.dataset.figure);
    if (!source) return;
    var figure = JSON.parse(source.textContent);
    Plotly.newPlot(div, figure.data, figure.layout, { displaylogo: false, responsive: true });
  });
}

function reviewKeys() {
  var form = document.getElementById("decide-form");
  if (!form) return;
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    var tag = (event.target && event.target.tagName) || "";
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    var button = form.querySelector('button[data-key="' + event.key.toLowerCase() + '"]');
    if (!button || form.dataset.sent) return;
    event.preventDefault();
    form.dataset.sent = "1"; // one decision per page, however fast the keys come
    form.requestSubmit(button);
  });
}

function autoSubmit() {
  document.querySelectorAll("select.autosubmit").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  drawCharts();
  reviewKeys();
  autoSubmit();
});
