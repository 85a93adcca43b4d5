// Follows a background job on /jobs/<uuid>/ by polling its JSON answer until it finishes.
(function () {
  "use strict";
  var section = document.getElementById("job");
  if (!section) return;
  var url = section.getAttribute("data-status-url");
  var labels = {};
  var template = document.getElementById("job-status-labels");
  if (template) {
    template.content.querySelectorAll("[data-status]").forEach(function (node) {
      labels[node.getAttribute("data-status")] = node.textContent;
    });
  }
  var statusNode = document.getElementById("job-status");
  var progressNode = document.getElementById("job-progress");
  var detailNode = document.getElementById("job-detail");
  var resultNode = document.getElementById("job-result");
  var resultLink = document.getElementById("job-result-link");
  var retryForm = document.getElementById("job-retry");
  var delay = 800;

  function render(job) {
    section.setAttribute("data-status", job.status);
    statusNode.textContent = labels[job.status] || job.status;
    statusNode.className = "badge badge-" + job.status;
    progressNode.value = job.progress;
    progressNode.textContent = job.progress + "%";
    detailNode.textContent = job.detail || "";
    if (job.result_url) {
      resultLink.setAttribute("href", job.result_url);
      resultNode.hidden = false;
    }
    if (retryForm) retryForm.hidden = job.status !== "failed";
  }

  function finished(status) {
    return status === "succeeded" || status === "failed";
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (job) {
        render(job);
        delay = 800;
        if (!finished(job.status)) window.setTimeout(poll, delay);
      })
      .catch(function () {
        detailNode.textContent = labels.offline || "";
        delay = Math.min(delay * 2, 10000);
        window.setTimeout(poll, delay);
      });
  }

  if (!finished(section.getAttribute("data-status"))) window.setTimeout(poll, 300);
})();
