// The share page while its files are prepared: ask the job every two seconds and show the page again once it
// has finished. A script rather than <meta http-equiv="refresh">, which changes the page on a timer.
const jobUrl = document.currentScript?.dataset.jobUrl;
function poll() {
  fetch(jobUrl, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
    .then((answer) => (answer.ok ? answer.json() : null))
    .then((job) => {
      if (job && (job.status === "succeeded" || job.status === "failed")) window.location.reload();
      else setTimeout(poll, 2000);
    })
    .catch(() => setTimeout(poll, 4000));
}
if (jobUrl) setTimeout(poll, 2000);
