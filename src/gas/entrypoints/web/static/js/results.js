// The results browser of a completed job's details page (templates/_results_browser.html):
// - charts drawn with the vendored Chart.js from the numbers of the tables next to them (the
//   tables are the charts' text alternative; no inline script is needed, so the strict CSP
//   stays as it is);
// - the variant table: rows from the session-authenticated JSON endpoint
//   (/annotations/<id>/variants.json, the same query as GET /api/v1/jobs/<id>/variants), with
//   server-side paging, sorting and the filters. The whole state lives in the page's query
//   string, so a filtered view is a link to share, survives a reload, and back/forward walk
//   through it. Each row (an ALT allele, its most severe transcript) expands to every
//   transcript of that allele.
(function () {
  "use strict";

  var FILTERS = ["gene", "consequence", "impact", "chrom", "start", "end", "known", "clinvar",
    "max_af", "q"];
  var TEXT_FILTERS = ["gene", "consequence", "chrom", "start", "end", "known", "clinvar",
    "max_af", "q"];
  var SORTS = ["pos", "impact", "gene"];
  var PAGE_SIZES = [25, 50, 100];
  var DEFAULT_LIMIT = 25;
  var IMPACT_BADGES = {
    HIGH: "text-bg-danger",
    MODERATE: "text-bg-warning",
    LOW: "text-bg-info",
    MODIFIER: "text-bg-light border"
  };
  var IMPACT_COLOURS = {
    HIGH: "#dc3545",
    MODERATE: "#fd7e14",
    LOW: "#0dcaf0",
    MODIFIER: "#adb5bd"
  };
  var BAR_COLOUR = "#0d6efd";

  // --- small DOM helpers ----------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) return;
        if (name === "className") node.className = value;
        else if (name === "text") node.textContent = value;
        else if (name.indexOf("data-") === 0 || name.indexOf("aria-") === 0 ||
                 name === "role" || name === "scope" || name === "colspan" ||
                 name === "href" || name === "rel" || name === "target" || name === "type" ||
                 name === "id" || name === "title") {
          node.setAttribute(name, value === true ? "" : String(value));
        } else {
          node[name] = value;
        }
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === "") return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function muted(text) {
    return el("span", { className: "text-body-secondary", text: text });
  }

  function splitAmp(value) {
    return value ? String(value).split("&").filter(Boolean) : [];
  }

  function formatNumber(n) {
    return Number(n).toLocaleString("en-US");
  }

  function formatAf(af) {
    if (af === null || af === undefined) return "";
    var n = Number(af);
    if (n === 0) return "0";
    if (n < 0.001) return n.toExponential(1);
    return String(Math.round(n * 10000) / 10000);
  }

  // --- charts -----------------------------------------------------------------------------

  function tableNumbers(table) {
    var labels = [];
    var values = [];
    table.querySelectorAll("tbody tr").forEach(function (row) {
      var head = row.querySelector("th");
      var cell = row.querySelector("td");
      if (!head || !cell) return;
      labels.push(head.textContent.trim());
      values.push(Number(cell.dataset.value || cell.textContent.replace(/[^0-9.]/g, "")));
    });
    return { labels: labels, values: values };
  }

  // Long SO terms on several lines (at their underscores), so that a phone keeps them whole.
  function wrapLabel(label, width) {
    if (label.length <= width) return label;
    var lines = [];
    var line = "";
    label.split("_").forEach(function (part, i, parts) {
      var piece = part + (i < parts.length - 1 ? "_" : "");
      if (line && (line + piece).length > width) {
        lines.push(line);
        line = "";
      }
      line += piece;
    });
    if (line) lines.push(line);
    return lines;
  }

  function drawChart(figure) {
    var canvas = figure.querySelector("canvas");
    var table = figure.querySelector("table");
    if (!canvas || !table || typeof window.Chart === "undefined") return;
    var data = tableNumbers(table);
    if (!data.values.length) return;
    var horizontal = figure.dataset.chartAxis === "y";
    var colours = data.labels.map(function (label) {
      return figure.dataset.chartColours === "impact" ? (IMPACT_COLOURS[label] || BAR_COLOUR)
        : BAR_COLOUR;
    });
    var chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: horizontal ? data.labels.map(function (label) {
          return wrapLabel(label, canvas.parentNode.clientWidth < 576 ? 14 : 28);
        }) : data.labels,
        datasets: [{
          label: figure.dataset.chartLabel || "count",
          data: data.values,
          backgroundColor: colours,
          borderWidth: 0,
          maxBarThickness: 28
        }]
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: false } },
        scales: {
          x: { beginAtZero: true, ticks: { precision: 0, autoSkip: !horizontal } },
          y: { beginAtZero: true, ticks: { precision: 0, autoSkip: false } }
        }
      }
    });
    figure.dataset.chartReady = "true";
    return chart;
  }

  function initCharts(root) {
    root.querySelectorAll("figure[data-chart]").forEach(drawChart);
  }

  // --- the variant table: state <-> query string --------------------------------------------

  function readState(search) {
    var params = new URLSearchParams(search);
    var state = { filters: [], sort: "pos", limit: DEFAULT_LIMIT, offset: 0 };
    FILTERS.forEach(function (name) {
      params.getAll(name).forEach(function (value) {
        value = value.trim();
        if (value !== "") state.filters.push([name, value]);
      });
    });
    var sort = (params.get("sort") || "").toLowerCase();
    if (SORTS.indexOf(sort) !== -1) state.sort = sort;
    var limit = parseInt(params.get("limit") || "", 10);
    if (PAGE_SIZES.indexOf(limit) !== -1) state.limit = limit;
    var offset = parseInt(params.get("offset") || "", 10);
    if (offset > 0) state.offset = offset - (offset % state.limit);
    return state;
  }

  function filterQuery(state) {
    var params = new URLSearchParams();
    state.filters.forEach(function (pair) { params.append(pair[0], pair[1]); });
    return params;
  }

  // The page's own query string: the filters, and paging/sorting when not the default.
  function pageQuery(state) {
    var params = filterQuery(state);
    if (state.sort !== "pos") params.set("sort", state.sort);
    if (state.limit !== DEFAULT_LIMIT) params.set("limit", String(state.limit));
    if (state.offset) params.set("offset", String(state.offset));
    return params.toString();
  }

  function apiQuery(state) {
    var params = filterQuery(state);
    params.set("sort", state.sort);
    params.set("limit", String(state.limit));
    params.set("offset", String(state.offset));
    return params.toString();
  }

  function fillForm(form, state) {
    TEXT_FILTERS.forEach(function (name) {
      var field = form.elements.namedItem(name);
      if (!field) return;
      var pair = state.filters.filter(function (p) { return p[0] === name; })[0];
      var value = pair ? pair[1] : "";
      if (field.tagName === "SELECT" && value !== "" &&
          !Array.prototype.some.call(field.options, function (o) { return o.value === value; })) {
        // A value shared in a link that this job's list does not offer: keep it selectable.
        field.appendChild(el("option", { value: value, text: value }));
      }
      field.value = value;
    });
    var impacts = state.filters.filter(function (p) { return p[0] === "impact"; })
      .map(function (p) { return p[1].toUpperCase(); });
    form.querySelectorAll("input[name=impact]").forEach(function (box) {
      box.checked = impacts.indexOf(box.value) !== -1;
    });
  }

  function formFilters(form) {
    var filters = [];
    new FormData(form).forEach(function (value, name) {
      value = String(value).trim();
      if (FILTERS.indexOf(name) !== -1 && value !== "") filters.push([name, value]);
    });
    return filters;
  }

  // --- the variant table: rendering ---------------------------------------------------------

  function geneLinks(row) {
    var gene = row.gene;
    if (!gene) return muted(row.distance !== null && row.distance !== undefined ? "intergenic" : "—");
    var id = row.gene_id || "";
    var ensembl = "https://www.ensembl.org/Homo_sapiens/Gene/Summary?g=" +
      encodeURIComponent(/^ENSG\d+/.test(id) ? id : gene);
    var ncbi = /^\d+$/.test(id)
      ? "https://www.ncbi.nlm.nih.gov/gene/" + id
      : "https://www.ncbi.nlm.nih.gov/gene/?term=" +
        encodeURIComponent(gene + "[sym] AND Homo sapiens[orgn]");
    return el("span", { className: "gene-cell" }, [
      el("span", { className: "fw-semibold", "data-testid": "variant-gene", text: gene }),
      el("span", { className: "gene-links small" }, [
        el("a", { href: ensembl, rel: "noopener noreferrer", target: "_blank",
          "data-testid": "ensembl-link", "aria-label": gene + " in Ensembl (opens in a new tab)",
          text: "Ensembl" }),
        el("a", { href: ncbi, rel: "noopener noreferrer", target: "_blank",
          "data-testid": "ncbi-link", "aria-label": gene + " in NCBI Gene (opens in a new tab)",
          text: "NCBI" })
      ])
    ]);
  }

  function idCell(row) {
    var ids = splitAmp(row.known_ids);
    splitAmp(row.id).forEach(function (id) {
      id.split(";").forEach(function (part) {
        if (part && ids.indexOf(part) === -1) ids.push(part);
      });
    });
    if (!ids.length) return row.known ? el("span", { text: "known" }) : muted("novel");
    return el("span", { className: "ids" }, ids.map(function (id) {
      if (/^rs\d+$/.test(id)) {
        return el("a", { href: "https://www.ncbi.nlm.nih.gov/snp/" + id, rel: "noopener noreferrer",
          target: "_blank", text: id });
      }
      return el("span", { text: id });
    }));
  }

  function impactBadge(impact) {
    if (!impact) return muted("—");
    return el("span", { className: "badge impact-badge " + (IMPACT_BADGES[impact] || "text-bg-light"),
      "data-testid": "variant-impact", text: impact });
  }

  function consequenceCell(row) {
    var terms = splitAmp(row.consequence);
    var parts = [el("span", { className: "consequence", "data-testid": "variant-consequence",
      text: terms.length ? terms.join(", ") : "—" })];
    if (row.warnings) {
      parts.push(el("div", { className: "small text-warning-emphasis",
        text: splitAmp(row.warnings).join(", ") }));
    }
    return el("span", null, parts);
  }

  function hgvsCell(row) {
    var parts = [];
    if (row.hgvsc) parts.push(el("div", { className: "hgvs", text: row.hgvsc }));
    if (row.hgvsp) parts.push(el("div", { className: "hgvs", text: row.hgvsp }));
    return parts.length ? el("span", null, parts) : muted("—");
  }

  function transcriptCell(row) {
    if (!row.transcript) return muted("—");
    var flags = [];
    if (row.mane) flags.push(el("span", { className: "badge text-bg-primary ms-1", text: "MANE" }));
    if (row.canonical) flags.push(el("span", { className: "badge text-bg-secondary ms-1",
      text: "canonical" }));
    var name = /^ENST\d+/.test(row.transcript)
      ? el("a", { href: "https://www.ensembl.org/Homo_sapiens/Transcript/Summary?t=" +
          encodeURIComponent(row.transcript.split(".")[0]), rel: "noopener noreferrer",
          target: "_blank", text: row.transcript })
      : el("span", { text: row.transcript });
    var parts = [name].concat(flags);
    if (row.biotype) parts.push(el("div", { className: "small text-body-secondary", text: row.biotype }));
    return el("span", null, parts);
  }

  function positionCell(row) {
    var parts = [el("span", { className: "font-monospace", "data-testid": "variant-position",
      text: row.chrom + ":" + row.pos })];
    if (row.grch38_pos !== null && row.grch38_pos !== undefined) {
      parts.push(el("div", { className: "small text-body-secondary",
        text: "GRCh38 " + row.grch38_chrom + ":" + row.grch38_pos }));
    }
    return el("span", null, parts);
  }

  function alleleText(row) {
    return row.ref + ">" + row.alt;
  }

  function cell(content, attrs) {
    return el("td", attrs || null, [content]);
  }

  function variantLabel(row) {
    return row.chrom + ":" + row.pos + " " + alleleText(row);
  }

  function variantRow(row, index, columns, view) {
    var detailId = "transcripts-" + view.idPrefix + "-" + index;
    var button = el("button", {
      type: "button",
      className: "btn btn-sm btn-outline-secondary expand-button",
      "aria-expanded": "false",
      "aria-controls": detailId,
      "data-testid": "expand-row",
      title: "Show every transcript of this allele"
    }, [
      el("span", { className: "expand-icon", "aria-hidden": "true", text: "+" }),
      el("span", { className: "visually-hidden", text: "All transcripts of " + variantLabel(row) })
    ]);
    var tr = el("tr", { "data-testid": "variant-row", "data-record": row.record,
      "data-allele": row.allele, "data-gene": row.gene || "", "data-impact": row.impact || "" }, [
      el("td", null, [button]),
      el("th", { scope: "row", className: "fw-normal" }, [positionCell(row)]),
      cell(el("span", { className: "font-monospace allele", text: alleleText(row) })),
      cell(idCell(row)),
      cell(geneLinks(row)),
      cell(consequenceCell(row)),
      cell(impactBadge(row.impact)),
      cell(hgvsCell(row)),
      cell(transcriptCell(row)),
      cell(row.clinvar ? el("span", { "data-testid": "variant-clinvar", text: row.clinvar.replace(/_/g, " ") }) : muted("—")),
      cell(row.af !== null && row.af !== undefined ? el("span", { text: formatAf(row.af) }) : muted("—"),
        { className: "text-end" })
    ]);
    var detail = el("tr", { id: detailId, className: "transcripts-row", hidden: true,
      "data-testid": "transcripts-row" }, [el("td", { colspan: columns })]);
    button.addEventListener("click", function () {
      toggleTranscripts(button, detail, row, view);
    });
    return [tr, detail];
  }

  function transcriptsTable(rows, row) {
    var head = ["Gene", "Transcript", "Consequence", "Impact", "HGVS", "Exon / intron",
      "Protein", "Distance"];
    var table = el("table", { className: "table table-sm table-borderless mb-0 transcripts-table",
      "data-testid": "transcripts-table" }, [
      el("caption", { className: "caption-top small", text: "Every transcript of " + variantLabel(row) +
        " (" + rows.length + ")" }),
      el("thead", null, [el("tr", null, head.map(function (h) {
        return el("th", { scope: "col", text: h });
      }))])
    ]);
    var body = el("tbody");
    rows.forEach(function (t) {
      var exon = t.exon ? "exon " + t.exon : (t.intron ? "intron " + t.intron : "");
      var protein = t.protein_position ? t.protein_position + (t.amino_acids ? " " + t.amino_acids : "") : "";
      var distance = t.distance !== null && t.distance !== undefined ? formatNumber(t.distance) + " bp" : "";
      body.appendChild(el("tr", { "data-testid": "transcript-row",
        className: t.top ? "table-active" : "" }, [
        cell(t.gene ? el("span", { text: t.gene }) : muted("—")),
        cell(transcriptCell(t)),
        cell(consequenceCell(t)),
        cell(impactBadge(t.impact)),
        cell(hgvsCell(t)),
        cell(exon ? el("span", { text: exon }) : muted("—")),
        cell(protein ? el("span", { text: protein }) : muted("—")),
        cell(distance ? el("span", { text: distance }) : muted("—"))
      ]));
    });
    table.appendChild(body);
    return el("div", { className: "table-responsive" }, [table]);
  }

  function toggleTranscripts(button, detail, row, view) {
    var open = button.getAttribute("aria-expanded") === "true";
    button.setAttribute("aria-expanded", open ? "false" : "true");
    button.querySelector(".expand-icon").textContent = open ? "+" : "−";
    detail.hidden = open;
    if (open || detail.dataset.loaded) return;
    var holder = detail.firstChild;
    holder.textContent = "Loading the transcripts…";
    var params = new URLSearchParams({ record: String(row.record), transcripts: "all", limit: "1000" });
    getJson(view.variantsUrl + "?" + params.toString()).then(function (data) {
      var rows = (data.variants || []).filter(function (t) { return t.allele === row.allele; });
      holder.textContent = "";
      holder.appendChild(transcriptsTable(rows, row));
      detail.dataset.loaded = "true";
      view.announce(rows.length + " transcript" + (rows.length === 1 ? "" : "s") + " of " +
        variantLabel(row) + " shown.");
    }, function (error) {
      holder.textContent = "The transcripts could not be loaded: " + error.message;
    });
  }

  function getJson(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (type.indexOf("application/json") === -1) {
          throw new Error(response.ok ? "unexpected answer (are you still logged in?)"
            : "the server answered " + response.status);
        }
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.error || ("the server answered " + response.status));
          return body;
        });
      });
  }

  // --- the variant table: behaviour -----------------------------------------------------------

  function initTable(box) {
    var form = box.querySelector("form[data-testid=variant-filters]");
    var table = box.querySelector("table[data-testid=variant-table]");
    var tbody = table.querySelector("tbody");
    var status = box.querySelector("[data-testid=variant-status]");
    var announcer = box.querySelector("[data-testid=variant-announce]");
    var errorBox = box.querySelector("[data-testid=variant-error]");
    var prev = box.querySelector("[data-testid=page-prev]");
    var next = box.querySelector("[data-testid=page-next]");
    var pageInfo = box.querySelector("[data-testid=page-info]");
    var pageSize = box.querySelector("[data-testid=page-size]");
    var clear = box.querySelector("[data-testid=filters-clear]");
    var downloads = box.querySelectorAll("a[data-download-format]");
    var columns = table.querySelectorAll("thead th").length;
    var state = readState(window.location.search);
    var total = 0;
    var serial = 0;
    var renders = 0;
    var view = {
      variantsUrl: box.dataset.variantsUrl,
      idPrefix: String(Date.now() % 100000),
      announce: function (text) { announcer.textContent = text; }
    };

    function updateDownloads() {
      var query = filterQuery(state).toString();
      downloads.forEach(function (link) {
        var params = new URLSearchParams(query);
        params.set("format", link.dataset.downloadFormat);
        link.href = box.dataset.downloadUrl + "?" + params.toString();
      });
    }

    function updateSortHeaders() {
      table.querySelectorAll("th[data-sort]").forEach(function (th) {
        var active = th.dataset.sort === state.sort;
        if (active) th.setAttribute("aria-sort", th.dataset.sort === "impact" ? "descending" : "ascending");
        else th.removeAttribute("aria-sort");
        var button = th.querySelector("button");
        if (button) button.setAttribute("aria-pressed", active ? "true" : "false");
      });
    }

    function showError(message) {
      errorBox.textContent = message;
      errorBox.hidden = !message;
    }

    function render(data) {
      total = data.total;
      tbody.textContent = "";
      if (!data.variants.length) {
        tbody.appendChild(el("tr", null, [el("td", { colspan: columns, className: "text-center py-4",
          "data-testid": "variant-empty",
          text: state.filters.length ? "No variant matches these filters." : "This job has no variants." })]));
      }
      view.idPrefix = String(++renders);
      data.variants.forEach(function (row, i) {
        variantRow(row, i, columns, view).forEach(function (tr) { tbody.appendChild(tr); });
      });
      var first = data.variants.length ? data.offset + 1 : 0;
      var last = data.offset + data.variants.length;
      var pages = Math.max(1, Math.ceil(total / state.limit));
      var page = Math.floor(data.offset / state.limit) + 1;
      pageInfo.textContent = "Page " + page + " of " + pages;
      prev.disabled = data.offset <= 0;
      next.disabled = last >= total;
      var noun = total === 1 ? "variant allele" : "variant alleles";
      var text = total === 0 ? "No " + "variant alleles" + (state.filters.length ? " match the filters." : ".")
        : "Showing " + formatNumber(first) + "–" + formatNumber(last) + " of " + formatNumber(total) +
          " " + noun + (state.filters.length ? " matching the filters" : "") + ".";
      status.textContent = text;
      box.dataset.total = String(total);
    }

    function load() {
      var mine = ++serial;
      table.setAttribute("aria-busy", "true");
      box.dataset.loading = "true";
      updateDownloads();
      updateSortHeaders();
      fillForm(form, state);
      pageSize.value = String(state.limit);
      clear.hidden = state.filters.length === 0;
      return getJson(view.variantsUrl + "?" + apiQuery(state)).then(function (data) {
        if (mine !== serial) return;
        showError("");
        if (data.offset > 0 && data.offset >= data.total) {  // a page past the end: go to the last
          state.offset = Math.max(0, (Math.ceil(data.total / state.limit) - 1) * state.limit);
          history.replaceState(null, "", "?" + pageQuery(state));
          load();
          return;
        }
        render(data);
      }, function (error) {
        if (mine !== serial) return;
        showError(error.message);
        status.textContent = "The variants could not be loaded.";
      }).then(function () {
        if (mine !== serial) return;
        table.removeAttribute("aria-busy");
        box.dataset.loading = "false";
      });
    }

    function go(changes) {
      Object.keys(changes).forEach(function (k) { state[k] = changes[k]; });
      var query = pageQuery(state);
      history.pushState(null, "", window.location.pathname + (query ? "?" + query : "") + "#variants");
      return load();
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      go({ filters: formFilters(form), offset: 0 });
    });
    // Choices apply at once; text fields when the form is submitted (Enter or Apply).
    form.querySelectorAll("select, input[type=checkbox]").forEach(function (field) {
      field.addEventListener("change", function () {
        go({ filters: formFilters(form), offset: 0 });
      });
    });
    clear.addEventListener("click", function () {
      form.reset();
      go({ filters: [], offset: 0 });
    });
    prev.addEventListener("click", function () {
      go({ offset: Math.max(0, state.offset - state.limit) });
    });
    next.addEventListener("click", function () {
      if (state.offset + state.limit < total) go({ offset: state.offset + state.limit });
    });
    pageSize.addEventListener("change", function () {
      go({ limit: parseInt(pageSize.value, 10) || DEFAULT_LIMIT, offset: 0 });
    });
    table.querySelectorAll("th[data-sort] button").forEach(function (button) {
      button.addEventListener("click", function () {
        go({ sort: button.closest("th").dataset.sort, offset: 0 });
      });
    });
    window.addEventListener("popstate", function () {
      state = readState(window.location.search);
      load();
    });
    box.hidden = false;
    load();
    if (box.dataset.facetsUrl) {
      // The summary lists the most severe term of each allele; the filter matches any term of
      // any transcript, so offer every term the table holds.
      getJson(box.dataset.facetsUrl).then(function (found) {
        addOptions(form.elements.namedItem("consequence"), Object.keys(found.consequences || {}));
      }, function () { /* the summary's terms stay */ });
    }
  }

  function addOptions(select, values) {
    if (!select) return;
    var have = {};
    Array.prototype.forEach.call(select.options, function (o) { have[o.value] = true; });
    values.sort().forEach(function (value) {
      if (!have[value]) select.appendChild(el("option", { value: value, text: value }));
    });
  }

  var root = document.getElementById("results-browser");
  if (!root) return;
  initCharts(root);
  var browser = document.getElementById("variant-browser");
  if (browser && browser.dataset.variantsUrl) initTable(browser);
})();
