// Follows the record page while its sources are being fetched: polls /records/status/, moves each source's
// progress bar, and whenever what the page shows may have changed (a source delivered more, finished, or the
// merge ran) fetches the page again and swaps in its data-live-region parts, leaving alone the one the
// citizen is in (a half-typed filter is never lost). A source that finishes is announced to screen readers.
(function () {
  "use strict";
  var panel = document.getElementById("record-sources");
  if (!panel || panel.getAttribute("data-busy") !== "true") return;
  var url = panel.getAttribute("data-status-url");
  var version = panel.getAttribute("data-version");
  var announcer = document.getElementById("record-live-status");
  var texts = {};
  var template = document.getElementById("record-live-texts");
  if (template) {
    template.content.querySelectorAll("[data-status]").forEach(function (node) {
      texts[node.getAttribute("data-status")] = node.textContent;
    });
  }
  var seen = {};
  document.querySelectorAll("[data-source-id]").forEach(function (item) {
    seen[item.getAttribute("data-source-id")] = item.getAttribute("data-pull-status") || "";
  });
  var delay = 1500;

  function sourceItem(id) {
    return document.querySelector('[data-source-id="' + String(id) + '"]');
  }

  function showProgress(source) {
    var item = sourceItem(source.id);
    if (!item) return;
    var bar = item.querySelector("progress");
    if (bar) {
      bar.value = Math.max(0, Math.min(100, Number(source.progress) || 0));
      bar.textContent = bar.value + "\u00a0%";
    }
    var detail = item.querySelector('[data-role="detail"]');
    if (detail) detail.textContent = source.detail || "";
  }

  function finishedNow(sources) {
    var said = [];
    sources.forEach(function (source) {
      var id = String(source.id);
      var before = seen[id];
      seen[id] = source.status;
      if (before !== source.status && texts[source.status]) {
        var item = sourceItem(source.id);
        var name = item ? item.querySelector(".source-name") : null;
        if (name) said.push(name.textContent + ": " + texts[source.status]);
      }
    });
    return said;
  }

  function swapRegions() {
    return fetch(window.location.href, {
      headers: { Accept: "text/html" },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live-region]").forEach(function (region) {
          var name = region.getAttribute("data-live-region");
          var replacement = fresh.querySelector('[data-live-region="' + name + '"]');
          if (!replacement || region.contains(document.activeElement)) return;
          region.replaceWith(document.importNode(replacement, true));
        });
      });
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (state) {
        state.sources.forEach(showProgress);
        var said = finishedNow(state.sources);
        var changed = state.version !== version;
        version = state.version;
        return (changed ? swapRegions() : Promise.resolve()).then(function () {
          if (!state.busy) {
            said.push(texts.done || "");
            panel.setAttribute("data-busy", "false");
          }
          if (announcer && said.length) announcer.textContent = said.join(" ");
          delay = 1500;
          if (state.busy) window.setTimeout(poll, delay);
        });
      })
      .catch(function () {
        delay = Math.min(delay * 2, 15000);
        window.setTimeout(poll, delay);
      });
  }

  window.setTimeout(poll, delay);
})();
