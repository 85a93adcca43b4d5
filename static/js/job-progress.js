// Follows a background job on /jobs/<uuid>/ by polling its JSON answer until it finishes. The heading, the
// status, the bar with its text and the help on failure all follow the state the server reports.
(function () {
  "use strict";
  var section = document.getElementById("job");
  if (!section) return;
  var url = section.getAttribute("data-status-url");

  function textsOf(templateId) {
    var texts = {};
    var template = document.getElementById(templateId);
    if (template) {
      template.content.querySelectorAll("[data-status]").forEach(function (node) {
        texts[node.getAttribute("data-status")] = node.textContent;
      });
    }
    return texts;
  }

  var labels = textsOf("job-status-labels");
  var headings = textsOf("job-headings");
  var headingNode = document.getElementById("job-heading");
  var statusNode = document.getElementById("job-status");
  var progressRow = document.getElementById("job-progress-row");
  var progressNode = document.getElementById("job-progress");
  var percentNode = document.getElementById("job-percent");
  var detailNode = document.getElementById("job-detail");
  var failedHelp = document.getElementById("job-failed-help");
  var resultNode = document.getElementById("job-result");
  var resultLink = document.getElementById("job-result-link");
  var retryForm = document.getElementById("job-retry");
  // The document's title is "<heading> · <service>": only the heading part changes.
  var titleSuffix = headingNode ? document.title.slice(headingNode.textContent.length) : "";
  var delay = 800;

  function render(job) {
    section.setAttribute("data-status", job.status);
    if (headingNode && headings[job.status] && headingNode.textContent !== headings[job.status]) {
      headingNode.textContent = headings[job.status];
      document.title = headings[job.status] + titleSuffix;
    }
    statusNode.textContent = labels[job.status] || job.status;
    statusNode.className = "badge badge-" + job.status;
    var percent = Math.max(0, Math.min(100, Number(job.progress) || 0));
    progressNode.value = percent;
    progressNode.textContent = percent + "\u00a0%";
    percentNode.textContent = percent + "\u00a0%";
    progressRow.hidden = job.status === "failed";
    failedHelp.hidden = job.status !== "failed";
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
