// Live job status. My Annotations (#jobs-table) and the details page (#job-details) poll a
// JSON endpoint every few seconds and update the status badges until every shown job has
// ended. The details page reloads itself when its job ends (or its results come back from
// the archive) so that the results and log links appear.
(function () {
  "use strict";
  var INTERVAL_MS = 2000;
  var MAX_INTERVAL_MS = 30000;
  var BADGES = {
    PENDING: "text-bg-secondary",
    RUNNING: "text-bg-info",
    COMPLETED: "text-bg-success",
    FAILED: "text-bg-danger"
  };
  var FINAL = { COMPLETED: true, FAILED: true };

  function setBadge(badge, status) {
    if (!badge || badge.dataset.status === status) return;
    Object.keys(BADGES).forEach(function (s) { badge.classList.remove(BADGES[s]); });
    badge.classList.add(BADGES[status] || "text-bg-secondary");
    badge.dataset.status = status;
    badge.textContent = "";
    if (status === "RUNNING") {
      var spinner = document.createElement("span");
      spinner.className = "spinner-border spinner-border-sm me-1";
      spinner.setAttribute("aria-hidden", "true");
      badge.appendChild(spinner);
    }
    var text = document.createElement("span");
    text.className = "status-text";
    text.textContent = status;
    badge.appendChild(text);
  }

  // A completed job's assembly badge on My Annotations (as _macros.html's assembly_badge_of).
  function addAssemblyBadge(cell, badge) {
    if (!cell || !badge || cell.querySelector("[data-testid=job-assembly]")) return;
    var span = document.createElement("span");
    span.className = "badge assembly-badge " + (badge.warning ? "text-bg-warning" : "text-bg-light border");
    span.dataset.testid = "job-assembly";
    span.dataset.warning = badge.warning ? "true" : "false";
    span.title = badge.title;
    span.textContent = badge.text;
    cell.appendChild(document.createTextNode(" "));
    cell.appendChild(span);
  }

  // Calls update(data) every INTERVAL_MS while it returns true. Network and server errors
  // back off (up to MAX_INTERVAL_MS); an answer that is not JSON (the session ended and we
  // were sent to the log-in page) or a 4xx stops the polling: a reload will sort it out.
  function poll(url, update) {
    var delay = INTERVAL_MS;
    function tick() {
      if (document.hidden) {  // no polling from a background tab
        document.addEventListener("visibilitychange", tick, { once: true });
        return;
      }
      fetch(url(), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          var type = response.headers.get("Content-Type") || "";
          if (response.status >= 500) throw new Error("status " + response.status);
          if (!response.ok || type.indexOf("application/json") === -1) return null;
          return response.json();
        })
        .then(function (data) {
          if (data === null) return;
          delay = INTERVAL_MS;
          if (update(data)) setTimeout(tick, delay);
        })
        .catch(function () {
          delay = Math.min(delay * 2, MAX_INTERVAL_MS);
          setTimeout(tick, delay);
        });
    }
    setTimeout(tick, delay);
  }

  function watchTable(table) {
    function pendingIds() {
      var ids = [];
      table.querySelectorAll("tr[data-job-id]").forEach(function (row) {
        if (!FINAL[row.dataset.status]) ids.push(row.dataset.jobId);
      });
      return ids;
    }
    if (pendingIds().length === 0) return;
    var base = table.dataset.statusUrl;
    poll(
      function () { return base + "?ids=" + encodeURIComponent(pendingIds().join(",")); },
      function (data) {
        (data.jobs || []).forEach(function (job) {
          var row = table.querySelector('tr[data-job-id="' + job.id + '"]');
          if (!row) return;
          row.dataset.status = job.status;
          var badge = row.querySelector("[data-testid=job-status]");
          setBadge(badge, job.status);
          if (badge) addAssemblyBadge(badge.parentNode, job.assembly_badge);
        });
        return pendingIds().length > 0;
      }
    );
  }

  function watchDetails(box) {
    var shownStatus = box.dataset.status;
    var shownResults = box.dataset.resultsState;
    // An ended job is watched only while its results are on their way back from the archive.
    if (FINAL[shownStatus] && box.dataset.watchResults !== "true") return;
    var badge = box.querySelector("[data-testid=job-status]");
    var progress = document.getElementById("job-progress");
    poll(
      function () { return box.dataset.statusUrl; },
      function (job) {
        setBadge(badge, job.status);
        if (progress) {
          if (job.status === "RUNNING" && job.progress !== null && job.progress !== undefined) {
            progress.querySelector("progress").value = job.progress;
            progress.querySelector(".progress-text").textContent = job.progress + "%";
            progress.hidden = false;
          } else {
            progress.hidden = true;
          }
        }
        var ended = FINAL[job.status] && !FINAL[shownStatus];
        var resultsChanged = FINAL[shownStatus] && (job.results_state || "") !== shownResults;
        if (ended || resultsChanged) {
          window.location.reload();  // the server renders the results and log section
          return false;
        }
        return true;
      }
    );
  }

  var table = document.getElementById("jobs-table");
  if (table) watchTable(table);
  var details = document.getElementById("job-details");
  if (details) watchDetails(details);
})();
