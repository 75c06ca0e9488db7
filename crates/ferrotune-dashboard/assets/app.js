// ferrotune dashboard: a small single-page app. Every string that comes
// from a study (names, parameters, categorical choices, messages, logs) is
// written with textContent, never parsed as HTML; the server's
// Content-Security-Policy forbids inline scripts besides.
(function () {
  "use strict";

  var REPORT = document.getElementById("report-data");
  var DATA = REPORT ? JSON.parse(REPORT.textContent) : null;
  var app = document.getElementById("app");
  var F = window.ferrotuneFigure;
  var source = null; // the live event stream of the current view
  var view = null; // { refresh: function } of the current view

  // ---- small helpers -------------------------------------------------
  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (attrs[k] === undefined || attrs[k] === null) continue;
      if (k === "text") e.textContent = attrs[k];
      else if (k === "on") for (var ev in attrs.on) e.addEventListener(ev, attrs.on[ev]);
      else if (k === "class") e.className = attrs[k];
      else if (k === "dataset") for (var d in attrs.dataset) e.dataset[d] = attrs.dataset[d];
      else e.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) c.forEach(function (x) { if (x) e.appendChild(typeof x === "string" ? document.createTextNode(x) : x); });
      else e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return e;
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
  var num = F.num;
  function values(v) { return v ? v.map(function (x) { return x === null ? "–" : num(x); }).join(", ") : ""; }
  function ago(t) {
    if (!t) return "";
    var s = Date.now() / 1000 - t;
    if (s < 60) return Math.max(0, Math.round(s)) + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    return new Date(t * 1000).toISOString().slice(0, 16).replace("T", " ");
  }
  function dur(s) { return s === null || s === undefined ? "" : (s < 60 ? s.toFixed(1) + " s" : (s / 60).toFixed(1) + " min"); }
  function stateBadge(s) { return el("span", { class: "state " + s, text: s }); }
  function studyHref(name) { return "#/study/" + encodeURIComponent(name); }
  function trialHref(name, n) { return studyHref(name) + "/trial/" + n; }
  function paramText(v) { return typeof v === "number" ? num(v) : String(v); }
  function markReady(what) { document.body.dataset.ready = what; window.__ferrotuneReady = performance.now(); }

  // ---- data: the server's API, or the report's embedded data ----------
  function api(path, opts) {
    if (DATA) return Promise.resolve().then(function () { return local(path); });
    return fetch("/api" + path, opts).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || r.statusText); return j; });
    });
  }
  function post(path, body) {
    return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
  }
  // The report answers the same questions from what it carries.
  function local(path) {
    var u = new URL(path, "http://x"), parts = u.pathname.split("/").filter(Boolean).map(decodeURIComponent), q = u.searchParams;
    var s = DATA.summary;
    if (parts[0] === "studies" && parts.length === 1) return { studies: [{ name: s.name, directions: s.directions, n_trials: s.n_trials, counts: s.counts }] };
    if (parts.length === 2) return s;
    if (parts[2] === "plots") { if (!DATA.figures[parts[3]]) throw new Error("this plot does not apply to this study"); return DATA.figures[parts[3]]; }
    if (parts[2] === "importance") { if (!DATA.importance) throw new Error("no importance in this report"); return DATA.importance; }
    if (parts[2] === "trials" && parts.length === 4) {
      var t = DATA.trials[Number(parts[3])]; if (!t) throw new Error("no such trial"); return t;
    }
    if (parts[2] === "trials") return localTable(q);
    throw new Error("not in this report");
  }
  function localTable(q) {
    var rows = DATA.trials.slice(), st = (q.get("state") || "").split(",").filter(Boolean), f = (q.get("filter") || "").toLowerCase();
    rows = rows.filter(function (t) {
      if (st.length && st.indexOf(t.state) < 0) return false;
      if (!f) return true;
      if (String(t.number) === f) return true;
      for (var k in t.params) if ((k + "=" + t.params[k]).toLowerCase().indexOf(f) >= 0) return true;
      return (t.message || "").toLowerCase().indexOf(f) >= 0;
    });
    var key = q.get("sort") || "number", desc = q.get("order") === "desc";
    function get(t) {
      if (key.indexOf("value") === 0) { var i = Number(key.slice(5) || 0); return t.values ? t.values[i] : null; }
      if (key.indexOf("param:") === 0) { var p = t.params[key.slice(6)]; return p === undefined ? null : p; }
      if (key === "duration") return t.duration; if (key === "state") return t.state; return t.number;
    }
    rows.sort(function (a, b) {
      var x = get(a), y = get(b);
      if (x === null || x === undefined) return (y === null || y === undefined) ? a.number - b.number : 1;
      if (y === null || y === undefined) return -1;
      var o = x < y ? -1 : x > y ? 1 : 0; return (desc ? -o : o) || a.number - b.number;
    });
    var off = Number(q.get("offset") || 0), lim = Number(q.get("limit") || 50);
    return { total: rows.length, offset: off, rows: rows.slice(off, off + lim) };
  }

  // ---- live updates ----------------------------------------------------
  function follow(study) {
    if (source) { source.close(); source = null; }
    var live = document.getElementById("live");
    if (DATA) { live.textContent = "static report"; return; }
    var url = "/api/events" + (study ? "?study=" + encodeURIComponent(study) : "");
    source = new EventSource(url);
    var first = true, pending = null;
    source.addEventListener("change", function () {
      live.className = "on"; live.textContent = "live";
      if (first) { first = false; return; }
      if (pending) return;
      pending = setTimeout(function () { pending = null; if (view && view.refresh) view.refresh(); }, 250);
    });
    source.onerror = function () { live.className = ""; live.textContent = "reconnecting…"; };
  }

  // ---- the study list --------------------------------------------------
  function studyList() {
    document.getElementById("crumbs").textContent = "";
    var card = el("div", { class: "card" }, el("h2", { text: "Studies" }));
    var body = el("div");
    card.appendChild(body);
    clear(app).appendChild(card);
    function load() {
      return api("/studies").then(function (r) {
        var t = el("table", { id: "studies" });
        t.appendChild(el("thead", null, el("tr", null, ["name", "directions", "trials", "complete", "pruned", "failed", "running", "best value", "last activity"].map(function (h) { return el("th", { text: h }); }))));
        var tb = el("tbody");
        r.studies.forEach(function (s) {
          var c = s.counts || {};
          tb.appendChild(el("tr", null,
            el("td", null, el("a", { href: studyHref(s.name), class: "study-link", text: s.name })),
            el("td", { text: (s.directions || []).join(", ") }),
            el("td", { class: "num", text: s.n_trials }),
            el("td", { class: "num", text: c.complete || 0 }), el("td", { class: "num", text: c.pruned || 0 }),
            el("td", { class: "num", text: c.failed || 0 }), el("td", { class: "num", text: c.running || 0 }),
            el("td", { class: "num", text: s.best_value === null || s.best_value === undefined ? "" : num(s.best_value) }),
            el("td", { text: ago(s.last_activity) })));
        });
        t.appendChild(tb);
        clear(body).appendChild(r.studies.length ? t : el("p", { class: "muted", text: "No studies in this storage yet." }));
        markReady("studies");
      }).catch(function (e) { clear(body).appendChild(el("p", { class: "error", text: e.message })); });
    }
    view = { refresh: load };
    follow(null);
    return load();
  }

  // ---- a study -----------------------------------------------------------
  var PARAM_KINDS = { slice: 1, parallel: 1, contour: 1, rank: 1 };
  function studyPage(name) {
    var crumbs = clear(document.getElementById("crumbs"));
    crumbs.appendChild(el("span", { text: " / " }));
    crumbs.appendChild(el("a", { href: studyHref(name), text: name }));
    var st = { kind: "history", params: [], objective: 0, sort: "number", order: "asc", state: "", filter: "", offset: 0, limit: 50, summary: null, method: "fanova" };
    var head = el("div", { class: "card", id: "summary" });
    var plotCard = el("div", { class: "card" });
    var kinds = el("div", { class: "kinds" }), paramBox = el("div", { class: "params toolbar" }), plotDiv = el("div", { id: "plot" }), notes = el("div", { class: "muted" }), plotErr = el("p", { class: "error" });
    plotCard.appendChild(el("h2", { text: "Plots" })); plotCard.appendChild(kinds); plotCard.appendChild(paramBox); plotCard.appendChild(plotErr); plotCard.appendChild(plotDiv); plotCard.appendChild(notes);
    var impCard = el("div", { class: "card" }, el("h2", { text: "Parameter importance" }));
    var impBody = el("div");
    var impTools = el("div", { class: "toolbar" });
    ["fanova", "ped-anova"].forEach(function (m) {
      impTools.appendChild(el("button", { class: m === st.method ? "active" : "", dataset: { method: m }, text: m === "fanova" ? "fANOVA" : "PED-ANOVA", on: { click: function () {
        st.method = m; Array.prototype.forEach.call(impTools.children, function (b) { b.className = b.dataset.method === m ? "active" : ""; }); loadImportance();
      } } }));
    });
    impCard.appendChild(impTools); impCard.appendChild(impBody);
    var tableCard = el("div", { class: "card" }, el("h2", { text: "Trials" }));
    var filter = el("input", { id: "filter", placeholder: "filter: lr=0.01, a trial number, a message…", size: 36 });
    var stateSel = el("select", { id: "state-filter" }, ["", "complete", "pruned", "failed", "running", "waiting"].map(function (s) { return el("option", { value: s, text: s || "all states" }); }));
    tableCard.appendChild(el("div", { class: "toolbar" }, filter, stateSel));
    var tableBody = el("div");
    var pager = el("div", { class: "pager" });
    tableCard.appendChild(tableBody); tableCard.appendChild(pager);
    var noteCard = el("div", { class: "card" });
    clear(app);
    app.appendChild(head); app.appendChild(el("div", { class: "row" }, plotCard)); app.appendChild(el("div", { class: "row" }, impCard, noteCard)); app.appendChild(tableCard);
    var chart = null;
    var typing = null;
    filter.addEventListener("input", function () { clearTimeout(typing); typing = setTimeout(function () { st.filter = filter.value; st.offset = 0; loadTable(); }, 250); });
    stateSel.addEventListener("change", function () { st.state = stateSel.value; st.offset = 0; loadTable(); });

    function loadSummary() {
      return api("/studies/" + encodeURIComponent(name)).then(function (s) {
        st.summary = s;
        var c = s.counts || {};
        clear(head);
        head.appendChild(el("h1", { id: "study-name", text: s.name }));
        head.appendChild(el("p", null, el("span", { id: "trial-count", dataset: { count: s.n_trials }, text: s.n_trials + " trials" }), ": ",
          ["complete", "pruned", "failed", "running", "waiting"].filter(function (k) { return c[k]; }).map(function (k) { return (c[k] + " " + k + "  "); }).join(""),
          " · ", s.directions.join(", "), s.sampler ? " · sampler " + s.sampler : ""));
        if (s.best && s.best.length) {
          var b = s.best[0];
          var dl = el("dl");
          dl.appendChild(el("dt", { text: s.best.length > 1 ? "Pareto front" : "best trial" }));
          dl.appendChild(el("dd", null, s.best.length > 1 ? s.best.length + " trials" : el("a", { href: trialHref(name, b.number), text: "#" + b.number }), s.best.length > 1 ? "" : " value " + values(b.values)));
          if (s.best.length === 1) for (var k in b.params) { dl.appendChild(el("dt", { text: k })); dl.appendChild(el("dd", { text: paramText(b.params[k]) })); }
          head.appendChild(dl);
        }
        drawKinds(s);
        drawNote(s);
        return s;
      });
    }
    function drawKinds(s) {
      clear(kinds);
      var all = ["history", "intermediate", "parallel", "slice", "contour", "importance", "edf", "timeline", "rank"];
      if (s.directions.length > 1) all.splice(1, 0, "pareto");
      all.forEach(function (k) {
        kinds.appendChild(el("button", { class: k === st.kind ? "active" : "", dataset: { kind: k }, text: k, on: { click: function () { st.kind = k; drawKinds(s); loadPlot(); } } }));
      });
      if (s.directions.length > 1) {
        var sel = el("select", { id: "objective", on: { change: function () { st.objective = Number(this.value); loadPlot(); } } },
          s.directions.map(function (d, i) { return el("option", { value: i, text: "objective " + i + " (" + d + ")" }); }));
        sel.value = st.objective; kinds.appendChild(sel);
      }
      clear(paramBox);
      if (PARAM_KINDS[st.kind]) {
        paramBox.appendChild(el("span", { class: "muted", text: "parameters:" }));
        s.params.forEach(function (p) {
          var box = el("input", { type: "checkbox", value: p });
          box.checked = st.params.indexOf(p) >= 0;
          box.addEventListener("change", function () {
            st.params = Array.prototype.filter.call(paramBox.querySelectorAll("input"), function (x) { return x.checked; }).map(function (x) { return x.value; });
            loadPlot();
          });
          paramBox.appendChild(el("label", null, box, " " + p));
        });
      }
    }
    function loadPlot() {
      var q = "?objective=" + st.objective + (PARAM_KINDS[st.kind] && st.params.length ? "&params=" + st.params.map(encodeURIComponent).join(",") : "");
      return api("/studies/" + encodeURIComponent(name) + "/plots/" + st.kind + q).then(function (fig) {
        plotErr.textContent = "";
        plotDiv.style.display = "";
        chart = F.render(plotDiv, fig, chart);
        clear(notes); fig.notes.forEach(function (n) { notes.appendChild(el("div", { text: n })); });
        plotDiv.dataset.kind = fig.kind;
        plotDiv.dataset.marks = fig.panels.reduce(function (a, p) { return a + p.series.reduce(function (b, s) { return b + (s.type === "points" ? s.points.length : 0); }, 0); }, 0);
      }).catch(function (e) { plotErr.textContent = e.message; plotDiv.style.display = "none"; clear(notes); });
    }
    function loadImportance() {
      return api("/studies/" + encodeURIComponent(name) + "/importance?method=" + st.method).then(function (imp) {
        var t = el("table", { id: "importance" }, el("thead", null, el("tr", null, el("th", { text: "parameter" }), el("th", { text: "importance" }), el("th", { text: "trials with it" }))));
        var tb = el("tbody");
        imp.params.forEach(function (p) {
          var bar = el("div", { style: "background:#1f77b4;height:8px;width:" + Math.round(200 * p.importance) + "px" });
          tb.appendChild(el("tr", null, el("td", { text: p.name }), el("td", null, num(p.importance) + " ", bar), el("td", { class: "num", text: p.trials })));
        });
        t.appendChild(tb);
        clear(impBody).appendChild(t);
        if (imp.interactions && imp.interactions.length && imp.interactions[0].variance_fraction >= 0.01)
          impBody.appendChild(el("p", { class: "muted", text: "strongest interaction: " + imp.interactions[0].params.join(" × ") + " (" + num(100 * imp.interactions[0].variance_fraction) + "% of the variance)" }));
      }).catch(function (e) { clear(impBody).appendChild(el("p", { class: "muted", text: e.message })); });
    }
    function header(label, key) {
      var th = el("th", { class: "sortable", dataset: { sort: key }, text: label });
      if (st.sort === key) th.dataset.order = st.order;
      th.addEventListener("click", function () {
        if (st.sort === key) st.order = st.order === "asc" ? "desc" : "asc"; else { st.sort = key; st.order = "asc"; }
        st.offset = 0; loadTable();
      });
      return th;
    }
    function loadTable() {
      var q = "?sort=" + encodeURIComponent(st.sort) + "&order=" + st.order + "&offset=" + st.offset + "&limit=" + st.limit +
        (st.state ? "&state=" + st.state : "") + (st.filter ? "&filter=" + encodeURIComponent(st.filter) : "");
      return api("/studies/" + encodeURIComponent(name) + "/trials" + q).then(function (r) {
        var s = st.summary || { params: [], directions: ["minimize"] };
        var t = el("table", { id: "trials" });
        var hr = el("tr", null, header("#", "number"), header("state", "state"));
        s.directions.forEach(function (_, i) { hr.appendChild(header(s.directions.length > 1 ? "value " + i : "value", i ? "value" + i : "value")); });
        s.params.forEach(function (p) { hr.appendChild(header(p, "param:" + p)); });
        hr.appendChild(header("duration", "duration")); hr.appendChild(el("th", { text: "worker" }));
        t.appendChild(el("thead", null, hr));
        var tb = el("tbody");
        r.rows.forEach(function (row) {
          var tr = el("tr", { dataset: { number: row.number } },
            el("td", null, el("a", { href: trialHref(name, row.number), text: row.number })), el("td", null, stateBadge(row.state)));
          s.directions.forEach(function (_, i) { tr.appendChild(el("td", { class: "num value", text: row.values && row.values[i] !== null && row.values[i] !== undefined ? num(row.values[i]) : "" })); });
          s.params.forEach(function (p) { tr.appendChild(el("td", { text: row.params[p] === undefined ? "–" : paramText(row.params[p]) })); });
          tr.appendChild(el("td", { class: "num", text: dur(row.duration) }));
          tr.appendChild(el("td", { text: row.worker || "" }));
          tb.appendChild(tr);
        });
        t.appendChild(tb);
        clear(tableBody).appendChild(t);
        clear(pager);
        pager.appendChild(el("button", { id: "prev", text: "‹ previous", disabled: st.offset === 0 ? "" : null, on: { click: function () { st.offset = Math.max(0, st.offset - st.limit); loadTable(); } } }));
        pager.appendChild(el("span", { id: "rows", text: r.total ? "rows " + (r.offset + 1) + "–" + (r.offset + r.rows.length) + " of " + r.total : "no trials" }));
        pager.appendChild(el("button", { id: "next", text: "next ›", disabled: r.offset + r.rows.length >= r.total ? "" : null, on: { click: function () { st.offset += st.limit; loadTable(); } } }));
      });
    }
    function drawNote(s) {
      clear(noteCard).appendChild(el("h2", { text: "Note" }));
      if (s.allow_write && !DATA) {
        var ta = el("textarea", { id: "study-note", rows: 4, style: "width:100%" });
        ta.value = s.note || "";
        var msg = el("span", { class: "muted" });
        noteCard.appendChild(ta);
        noteCard.appendChild(el("div", { class: "toolbar" }, el("button", { text: "save note", on: { click: function () {
          post("/studies/" + encodeURIComponent(name) + "/note", { note: ta.value }).then(function () { msg.textContent = "saved"; }, function (e) { msg.textContent = e.message; });
        } } }), msg));
      } else {
        noteCard.appendChild(el("p", { class: s.note ? "note" : "muted", text: s.note || (DATA ? "No note." : "No note. (Start the dashboard with --allow-write to write one.)") }));
      }
    }
    view = {
      refresh: function () { return Promise.all([loadSummary(), loadTable()]).then(function () { return Promise.all([loadPlot(), loadImportance()]); }); }
    };
    follow(name);
    return loadSummary().then(function () { return Promise.all([loadTable(), loadPlot()]); })
      .then(function () { markReady("study"); loadImportance(); })
      .catch(function (e) { clear(app).appendChild(el("p", { class: "error", id: "error", text: e.message })); });
  }

  // ---- a trial -----------------------------------------------------------
  function trialPage(name, number) {
    var crumbs = clear(document.getElementById("crumbs"));
    crumbs.appendChild(el("span", { text: " / " }));
    crumbs.appendChild(el("a", { href: studyHref(name), text: name }));
    crumbs.appendChild(el("span", { text: " / trial " + number }));
    var chart = null;
    function load() {
      return api("/studies/" + encodeURIComponent(name) + "/trials/" + number).then(function (t) {
        var card = el("div", { class: "card" });
        card.appendChild(el("h1", null, "Trial " + t.number + " ", stateBadge(t.state)));
        var dl = el("dl");
        function item(k, v) { if (v === null || v === undefined || v === "") return; dl.appendChild(el("dt", { text: k })); dl.appendChild(el("dd", null, v)); }
        item("values", values(t.values));
        item("duration", dur(t.duration));
        item("started", t.started_at ? new Date(t.started_at * 1000).toISOString().replace("T", " ").slice(0, 19) : "");
        item("completed", t.completed_at ? new Date(t.completed_at * 1000).toISOString().replace("T", " ").slice(0, 19) : "");
        item("worker", t.worker);
        item("last heartbeat", t.heartbeat && t.state === "running" ? ago(t.heartbeat) : "");
        if (t.retried_from !== null && t.retried_from !== undefined) item("retry of", el("a", { href: trialHref(name, t.retried_from), text: "trial " + t.retried_from }));
        card.appendChild(dl);
        if (t.message) { card.appendChild(el("h2", { text: "Why it failed" })); card.appendChild(el("pre", { id: "message", text: t.message })); }
        var pcard = el("div", { class: "card" }, el("h2", { text: "Parameters" }));
        var pt = el("table", { id: "params" }, el("thead", null, el("tr", null, el("th", { text: "name" }), el("th", { text: "value" }), el("th", { text: "distribution" }))));
        var ptb = el("tbody");
        for (var k in t.params) ptb.appendChild(el("tr", null, el("td", { text: k }), el("td", { text: paramText(t.params[k]) }), el("td", { class: "muted", text: JSON.stringify(t.distributions[k]) })));
        pt.appendChild(ptb); pcard.appendChild(pt);
        var ccard = el("div", { class: "card" }, el("h2", { text: "Intermediate values (" + t.intermediate.length + ")" }));
        var curve = el("div", { id: "curve" });
        if (t.intermediate.length) ccard.appendChild(curve); else ccard.appendChild(el("p", { class: "muted", text: "none reported" }));
        var extra = el("div", { class: "card" });
        if (Object.keys(t.user_attrs).length) { extra.appendChild(el("h2", { text: "User attributes" })); extra.appendChild(el("pre", { text: JSON.stringify(t.user_attrs, null, 2) })); }
        extra.appendChild(el("h2", { text: "Note" }));
        if (t.allow_write && !DATA) {
          var ta = el("textarea", { id: "trial-note", rows: 3, style: "width:100%" }); ta.value = t.note || "";
          var msg = el("span", { class: "muted" });
          extra.appendChild(ta);
          var bar = el("div", { class: "toolbar" }, el("button", { text: "save note", on: { click: function () {
            post("/studies/" + encodeURIComponent(name) + "/trials/" + number + "/note", { note: ta.value }).then(function () { msg.textContent = "saved"; }, function (e) { msg.textContent = e.message; });
          } } }));
          if (t.state === "running") bar.appendChild(el("button", { id: "fail", text: "mark failed", on: { click: function () {
            post("/studies/" + encodeURIComponent(name) + "/trials/" + number + "/fail").then(load, function (e) { msg.textContent = e.message; });
          } } }));
          if (t.state === "running" || t.state === "waiting") {
            var val = el("input", { id: "tell-value", placeholder: "value(s), comma-separated", size: 20 });
            bar.appendChild(val);
            bar.appendChild(el("button", { id: "tell", text: "tell", on: { click: function () {
              var vs = val.value.split(",").map(function (x) { return Number(x.trim()); });
              post("/studies/" + encodeURIComponent(name) + "/trials/" + number + "/tell", { values: vs }).then(load, function (e) { msg.textContent = e.message; });
            } } }));
          }
          bar.appendChild(msg);
          extra.appendChild(bar);
        } else extra.appendChild(el("p", { class: t.note ? "note" : "muted", text: t.note || "No note." }));
        if (t.log_tail) { extra.appendChild(el("h2", { text: "End of the program's output" })); extra.appendChild(el("pre", { id: "log", text: t.log_tail })); }
        clear(app);
        app.appendChild(card); app.appendChild(el("div", { class: "row" }, pcard, ccard)); app.appendChild(extra);
        if (t.intermediate.length) {
          var fig = { kind: "curve", title: "", columns: 1, notes: [], trials: {}, panels: [{ title: "", x: { label: "step", scale: { type: "linear" } }, y: { label: "value", scale: { type: "linear" } },
            series: [{ type: "line", name: "trial " + t.number, role: t.state === "pruned" ? "pruned" : "trial", step: false, points: t.intermediate.filter(function (p) { return p[1] !== null; }) }] }] };
          chart = F.render(curve, fig, chart);
        }
        markReady("trial");
      }).catch(function (e) { clear(app).appendChild(el("p", { class: "error", id: "error", text: e.message })); });
    }
    view = { refresh: load };
    follow(name);
    return load();
  }

  // ---- routing -------------------------------------------------------------
  function route() {
    delete document.body.dataset.ready;
    var h = location.hash.replace(/^#\/?/, "");
    var m = h.match(/^study\/([^/]+)(?:\/trial\/(\d+))?$/);
    if (m) {
      var name = decodeURIComponent(m[1]);
      return m[2] !== undefined ? trialPage(name, Number(m[2])) : studyPage(name);
    }
    if (DATA) return studyPage(DATA.summary.name);
    return studyList();
  }
  window.addEventListener("hashchange", route);
  route();
})();
