// Live job status. My Annotations (#jobs-table) and the details page (#job-details) poll a
// JSON endpoint every few seconds and update each job's status, queue position, failure
// reason, variant count and results (announcing changes to screen readers) until every shown
// job has ended and no results are on their way back from the archive. The details page
// reloads itself when its job ends (or its results come back from the archive) so that the
// results and log links appear.
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

  // My Annotations: the pieces of a row that change with its job (as _macros.html builds
  // them: queue_place, results_cell; the failure reason; the variant count; Delete).
  function setQueuePlace(cell, position) {
    var place = cell.querySelector("[data-testid=job-queue]");
    if (!position) {
      if (place) place.remove();
      return;
    }
    if (!place) {
      place = document.createElement("div");
      place.className = "small text-body-secondary job-queue";
      place.dataset.testid = "job-queue";
      var badge = cell.querySelector("[data-testid=job-assembly]") || cell.querySelector("[data-testid=job-status]");
      badge.insertAdjacentElement("afterend", place);
    }
    place.dataset.position = String(position);
    place.textContent = "Queue position " + position +
      (position > 1 ? " (" + (position - 1) + " ahead)" : " (next)");
  }

  function setError(cell, error) {
    if (!error || cell.querySelector("[data-testid=job-error]")) return;
    var div = document.createElement("div");
    div.className = "small text-danger job-error";
    div.dataset.testid = "job-error";
    div.textContent = error;
    cell.appendChild(div);
  }

  function setResults(cell, results, jobUrl, subscribeUrl) {
    var span = cell && cell.querySelector("[data-testid=job-results]");
    if (!span || !results || span.dataset.state === results.state) return;
    span.dataset.state = results.state;
    span.textContent = "";
    var link;
    if (results.state === "available") {
      link = document.createElement("a");
      link.href = jobUrl + "/results";
      link.textContent = "Download";
      span.appendChild(link);
    } else if (results.upgrade) {
      span.appendChild(document.createTextNode("Archived — "));
      link = document.createElement("a");
      link.href = subscribeUrl;
      link.textContent = "upgrade to download";
      span.appendChild(link);
    } else if (results.state === "pending" || results.state === "none") {
      var muted = document.createElement("span");
      muted.className = "text-muted";
      muted.textContent = results.text;
      span.appendChild(muted);
    } else {
      span.textContent = results.text;
    }
  }

  function setVariants(cell, count) {
    if (!cell || count === null || count === undefined) return;
    cell.textContent = count.toLocaleString("en-US");
  }

  function setDeletable(link, deletable) {
    if (!link) return;
    link.classList.toggle("disabled", !deletable);
    if (deletable) {
      link.removeAttribute("aria-disabled");
      link.removeAttribute("tabindex");
      link.removeAttribute("title");
    } else {
      link.setAttribute("aria-disabled", "true");
      link.setAttribute("tabindex", "-1");
    }
  }

  function watchTable(table) {
    var announcer = document.getElementById("jobs-announcer");
    function watchedIds() {
      var ids = [];
      table.querySelectorAll("tr[data-job-id]").forEach(function (row) {
        if (row.dataset.watch === "true") ids.push(row.dataset.jobId);
      });
      return ids;
    }
    if (watchedIds().length === 0) return;
    var base = table.dataset.statusUrl;
    var asked = [];
    poll(
      function () {
        asked = watchedIds();
        return base + "?ids=" + encodeURIComponent(asked.join(","));
      },
      function (data) {
        var news = [];
        var answered = {};
        (data.jobs || []).forEach(function (job) {
          answered[job.id] = true;
          var row = table.querySelector('tr[data-job-id="' + job.id + '"]');
          if (!row) return;
          var before = row.dataset.status;
          var resultsBefore = row.dataset.results || "";
          row.dataset.status = job.status;
          row.dataset.watch = job.watch ? "true" : "false";
          var badge = row.querySelector("[data-testid=job-status]");
          setBadge(badge, job.status);
          var cell = row.querySelector("[data-testid=job-status-cell]") || (badge && badge.parentNode);
          if (cell) {
            addAssemblyBadge(cell, job.assembly_badge);
            setQueuePlace(cell, job.queue_position);
            setError(cell, job.error);
          }
          setVariants(row.querySelector("[data-testid=job-variants]"), job.variant_count);
          var link = row.querySelector("[data-testid=job-link]");
          setResults(row.querySelector("[data-testid=job-results-cell]"), job.results,
                     link ? link.getAttribute("href") : "", table.dataset.subscribeUrl || "");
          setDeletable(row.querySelector("[data-testid=job-delete]"), job.deletable);
          var name = (row.querySelector("[data-testid=job-file-name]") || {}).textContent || job.id;
          if (before !== job.status) {
            news.push(name + ": " + job.status + (job.error ? " — " + job.error : ""));
          } else if (job.results && resultsBefore && resultsBefore !== job.results.state) {
            news.push(name + ": results " + job.results.text.toLowerCase());
          }
          if (job.results) row.dataset.results = job.results.state;
        });
        // Jobs deleted meanwhile (from another tab) are no longer asked about.
        asked.forEach(function (id) {
          if (answered[id]) return;
          var row = table.querySelector('tr[data-job-id="' + id + '"]');
          if (row) row.dataset.watch = "false";
        });
        if (announcer && news.length) announcer.textContent = news.join(". ");
        return watchedIds().length > 0;
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
