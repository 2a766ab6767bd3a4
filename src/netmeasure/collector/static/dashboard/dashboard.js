// netmeasure live campaign dashboard: vanilla JS and SVG, no dependencies, no inline code.
// Every text from the server goes into the page through textContent (never innerHTML), so
// probe ids, operators and areas are shown as typed, whatever they contain.
"use strict";

(function () {
  const SVGNS = "http://www.w3.org/2000/svg";
  const POLL_MS = 3000;
  const WORLD = 1000; // Web Mercator world width in SVG units
  const state = { tag: null, version: -1, data: null, map: null, basemap: null, seriesVersion: -1,
    view: null, resolution: null, mapVersion: -1, fitted: false };
  const $ = (id) => document.getElementById(id);
  // the page's fixed texts in its language (report/i18n.py, filled in by the server)
  let T = {};
  function tr(key, fallback, values) {
    let s = T[key] || fallback;
    for (const [k, v] of Object.entries(values || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v; else e.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  function sv(tag, attrs) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  // -- formatting -------------------------------------------------------------------------
  function fmt(v, unit) {
    if (v === null || v === undefined) return "—";
    if (unit === "bit/s") return (v / 1e6).toFixed(1) + " Mbit/s";
    if (unit === "ratio") return (v * 100).toFixed(2) + " %";
    if (unit === "ms") return v.toFixed(1) + " ms";
    if (unit === "s") return v.toFixed(0) + " s";
    if (unit === "dBm") return v.toFixed(1) + " dBm";
    return unit ? v + " " + unit : String(v);
  }
  function ago(seconds) {
    if (seconds === null || seconds === undefined) return "never";
    if (seconds < 90) return Math.round(seconds) + " s ago";
    if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
    if (seconds < 172800) return (seconds / 3600).toFixed(1) + " h ago";
    return Math.round(seconds / 86400) + " days ago";
  }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 120) return seconds.toFixed(1) + " s";
    if (seconds < 7200) return (seconds / 60).toFixed(1) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }
  function groupName(key) {
    const parts = Object.values(key).map((v) => (v === null ? "(none)" : String(v)));
    return parts.length ? parts.join(" · ") : "all samples";
  }
  const VERDICT_TEXT = { PASS: "PASS", FAIL: "FAIL", INCONCLUSIVE: "INCONCLUSIVE",
    IN_PROGRESS: "IN PROGRESS" };
  function badge(code, text) {
    return el("span", { class: "badge " + code }, text || VERDICT_TEXT[code] || code);
  }
  function requirementName(p) {
    switch (p.requirement) {
      case "min_samples": return tr("dash_req_total", "Samples, total");
      case "min_per_environment": return tr("dash_req_env", "Samples, {env}", { env: String(p.environment).replace("_", " ") });
      case "min_spacing": return tr("dash_req_spacing", "Spacing ≥ {s} s per device", { s: p.required });
      case "min_days": return tr("dash_req_days", "Days with samples");
      case "min_hours": return tr("dash_req_hours", "Hours of the day covered");
      default: return p.requirement;
    }
  }

  // -- fetching ---------------------------------------------------------------------------
  function query(extra) {
    const p = new URLSearchParams();
    const std = $("standard").value;
    if (std) p.set("standard", std);
    const camp = $("campaign");
    if (camp.dataset.ready === "1") p.set("campaign", camp.value);
    p.set("level", $("level").value);
    for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
    return p.toString();
  }
  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (r.status === 401) { window.location.assign("/dashboard/signin"); throw new Error("signed out"); }
    if (!r.ok) throw new Error(url + ": HTTP " + r.status);
    return r.json();
  }

  async function refresh(force) {
    const extra = force || state.tag === null ? {} : { since: state.tag };
    let data;
    try {
      data = await getJSON("/dashboard/api/state?" + query(extra));
    } catch (e) {
      $("live").textContent = tr("dash_lost", "connection lost, retrying…");
      $("live").classList.add("stale");
      return;
    }
    $("live").classList.remove("stale");
    state.tag = data.tag;
    if (!data.unchanged) {
      state.data = data;
      render(data);
      if (data.version !== state.mapVersion) await loadMap(false);
      if (data.version !== state.seriesVersion) await loadSeries();
    }
    const d = state.data;
    if (d) {
      const when = new Date().toLocaleTimeString();
      $("live").textContent = tr("dash_status", "{state} · {n} rows · checked {t}", {
        state: d.loaded ? tr("dash_live", "live") : tr("dash_reading", "reading the database…"),
        n: d.rows_read.toLocaleString(), t: when });
    }
  }

  // -- rendering --------------------------------------------------------------------------
  function fillSelect(select, options, value) {
    const want = JSON.stringify(options.map((o) => [o.value, o.label]));
    if (select.dataset.options !== want) {
      select.replaceChildren(...options.map((o) => el("option", { value: o.value }, o.label)));
      select.dataset.options = want;
    }
    select.value = value;
  }

  function render(d) {
    fillSelect($("standard"), d.standards.map((s) => ({ value: s, label: s })), d.standard.id);
    const camps = d.campaigns.map((c) => ({
      value: c.campaign === null ? "" : c.campaign,
      label: (c.campaign === null ? "(no campaign)" : c.campaign) + " (" + c.samples.toLocaleString() + ")",
    }));
    if (!camps.length) camps.push({ value: "", label: "(no samples yet)" });
    fillSelect($("campaign"), camps, d.campaign === null ? "" : d.campaign);
    $("campaign").dataset.ready = d.campaigns.length ? "1" : "0";
    $("standard-title").textContent = d.standard.title + " · confidence " +
      (d.standard.confidence * 100).toFixed(0) + " %";
    renderCards(d);
    renderProgress(d);
    renderVerdicts(d);
    renderFleet(d);
    const ops = [...new Set(d.groups.map((g) => g.key.operator))];
    const mo = $("map-operator");
    fillSelect(mo, [{ value: "", label: tr("dash_all", "all") }, ...ops.map((o) => ({ value: o === null ? "\u0000" : o, label: o === null ? "(none)" : o }))], mo.value || "");
  }

  // -- drill-down: operator -> its areas -> the area's probes -> a probe's recent tests --------
  function link(text, onClick) {
    const a = el("a", { href: "#drill", class: "drill-link" }, text);
    a.addEventListener("click", (e) => { e.preventDefault(); onClick(); });
    return a;
  }
  function showDrill(path, body) {
    $("drill").hidden = false;
    $("drill-path").replaceChildren(...path.flatMap((x, i) => (i ? [" › ", x] : [x])));
    $("drill-body").replaceChildren(body);
    $("drill").scrollIntoView();
  }
  function drillOperator(op) {
    state.opFilter = op;
    $("level").value = "area";
    state.tag = null; state.seriesVersion = -1;
    refresh(true);
  }
  function crumbs(op, area) {
    const out = [link(tr("dash_all_operators", "All operators"), () => { state.opFilter = null; $("level").value = "operator"; $("drill").hidden = true; state.tag = null; refresh(true); })];
    if (op !== undefined) out.push(link(op === null ? "(none)" : op, () => drillOperator(op)));
    if (area !== undefined) out.push(link(area === null ? "(none)" : area, () => drillArea(op, area)));
    return out;
  }
  async function drillArea(op, area) {
    const q = new URLSearchParams({ operator: op === null ? "" : op });
    if (area !== null) q.set("area", area);
    const camp = $("campaign");
    if (camp.dataset.ready === "1" && camp.value) q.set("campaign", camp.value);
    const body = await getJSON("/dashboard/api/probes?" + q.toString());
    const rows = body.probes.map((p) => el("tr", {},
      el("td", { class: "id" }, link(p.probe_id, () => drillProbe(p.probe_id, op, area))),
      el("td", { class: "num" }, p.samples.toLocaleString()),
      el("td", {}, p.last_started || "—")));
    const table = el("table", { id: "drill-probes" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, tr("dash_probe", "Probe")),
        el("th", { scope: "col" }, tr("dash_samples_col", "Samples")),
        el("th", { scope: "col" }, tr("dash_last_test", "Last test started (UTC)")))),
      el("tbody", {}, ...rows));
    showDrill(crumbs(op, area), table);
  }
  async function drillProbe(probe, op, area) {
    const body = await getJSON("/dashboard/api/probe?" + new URLSearchParams({ probe_id: probe, limit: "50" }).toString());
    const rows = body.tests.map((r) => el("tr", { class: r.ok ? null : "failed" },
      el("td", {}, r.started_at),
      el("td", {}, r.metric),
      el("td", { class: "num" }, r.ok ? fmt(r.value, r.unit) : "—"),
      el("td", {}, r.ok ? "ok" : (r.error || "failed"))));
    const table = el("table", { id: "drill-tests" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, tr("dash_started", "Started (UTC)")),
        el("th", { scope: "col" }, tr("dash_metric", "Metric")),
        el("th", { scope: "col" }, tr("dash_value", "Value")),
        el("th", { scope: "col" }, tr("dash_outcome", "Outcome")))),
      el("tbody", {}, ...rows));
    const path = op === undefined ? [crumbs()[0]] : crumbs(op, area);
    path.push(el("span", {}, probe + " — " + tr("dash_recent", "its last {n} tests", { n: body.tests.length })));
    showDrill(path, table);
  }

  function renderCards(d) {
    const groups = d.level === "area" && state.opFilter !== undefined && state.opFilter !== null
      ? d.groups.filter((g) => g.key.operator === state.opFilter) : d.groups;
    const cards = groups.map((g) => {
      const status = g.status === "IN_PROGRESS"
        ? badge("IN_PROGRESS", tr("dash_missing", "IN PROGRESS — {n} samples still missing", { n: g.missing.toLocaleString() }))
        : badge(g.status);
      return el("article", { class: "card " + g.status, "aria-label": groupName(g.key) },
        el("h3", {}, link(groupName(g.key), () => (d.level === "area"
          ? drillArea(g.key.operator, g.key.area) : drillOperator(g.key.operator)))),
        el("p", {}, status),
        el("p", {}, (d.plan ? "group-sequential verdict: " : tr("dash_so_far", "statistical verdict so far: ")), badge(g.criteria_verdict)),
        el("p", { class: d.plan ? "stopping" : "stopping provisional" }, g.stopping),
        el("p", { class: "muted" }, tr(g.n_probes === 1 ? "dash_counts_one" : "dash_counts", "{n} samples · {p} probes", { n: g.n_samples.toLocaleString(), p: g.n_probes })));
    });
    if (!cards.length) cards.push(el("p", { class: "muted" }, d.loaded ? "No samples in this campaign yet." : "Reading the collector's database…"));
    $("cards").replaceChildren(...cards);
  }

  function hoursStrip(hours) {
    const svg = sv("svg", { class: "hours", viewBox: "0 0 240 34", preserveAspectRatio: "none",
      role: "img", "aria-label": "tests per local hour of the day" });
    const counts = Array.from({ length: 24 }, (_, h) => hours[String(h)] || 0);
    const max = Math.max(1, ...counts);
    counts.forEach((n, h) => {
      const hgt = n ? 4 + 26 * n / max : 3;
      const r = sv("rect", { x: h * 10 + 1, y: 32 - hgt, width: 8, height: hgt });
      if (!n) r.setAttribute("class", "none");
      const t = sv("title", {}); t.textContent = h + ":00 — " + n + " tests"; r.appendChild(t);
      svg.appendChild(r);
    });
    return svg;
  }

  function renderProgress(d) {
    const blocks = d.groups.map((g) => {
      const rows = g.progress.map((p) => {
        const actual = p.actual === null ? 0 : p.actual;
        let bar = null, shown;
        if (p.requirement === "min_spacing") {
          shown = p.violations ? p.violations + " pairs too close" : (p.actual === null ? "—" : "smallest gap " + p.actual.toFixed(0) + " s");
        } else {
          bar = el("progress", { max: p.required, value: Math.min(actual, p.required), "aria-label": requirementName(p) });
          shown = actual.toLocaleString() + " / " + p.required.toLocaleString();
        }
        const stateText = p.state === "met" ? "met" : p.state === "failed" ? "FAIL" : "in progress — " + p.missing.toLocaleString() + " missing";
        return el("li", { class: "req-row" },
          el("div", { class: "req-head" }, el("span", { class: "req-name" }, requirementName(p)), badge(p.state, stateText)),
          el("div", { class: "req-bar" }, bar, el("span", { class: "muted" }, shown)));
      });
      return el("article", { class: "req", "aria-label": "sampling of " + groupName(g.key) },
        el("h3", {}, groupName(g.key)),
        el("ul", { class: "req-list" }, ...rows),
        el("p", { class: "muted" }, "Time of day (local hours 0–23):"),
        hoursStrip(g.hours));
    });
    $("progress-body").replaceChildren(...blocks);
  }

  function renderVerdicts(d) {
    const rows = [];
    for (const g of d.groups) {
      for (const c of g.criteria) {
        rows.push(el("tr", {},
          el("td", { class: "id" }, groupName(g.key)),
          el("td", {}, c.description || c.id),
          el("td", { class: "num" }, c.n.toLocaleString()),
          el("td", { class: "num" }, fmt(c.estimate, c.unit)),
          el("td", { class: "num" }, "[" + fmt(c.ci_low, c.unit) + ", " + fmt(c.ci_high, c.unit) + "]"),
          el("td", { class: "num" }, c.op + " " + fmt(c.threshold, c.unit)),
          // an indicator without a sample of its metric: shown, outside the verdict
          el("td", {}, c.measured === false ? "not measured" : badge(c.letter_verdict)),
          el("td", {}, c.measured === false ? "not measured" : badge(c.verdict)),
          el("td", { class: "num" }, c.samples_needed === null ? "—" : c.samples_needed.toLocaleString() +
            (c.sequential && c.sequential.expected_deciding_look ? " (look " + c.sequential.expected_deciding_look + ")" : ""))));
      }
    }
    $("verdict-table").tBodies[0].replaceChildren(...rows);
    $("verdict-note").textContent = d.plan
      ? "Group-sequential design: " + d.plan.spending + " spending over " + d.plan.looks + " looks, " +
        d.plan.planned_samples.toLocaleString() + " planned samples per group; each bound at its look's nominal level" +
        " (netmeasure evaluate --plan). Verdicts valid for stopping at the first decided look."
      : tr("dash_note_provisional", "", { c: (d.standard.confidence * 100).toFixed(0) });
  }

  function renderFleet(d) {
    const rows = d.fleet.map((p) => el("tr", { class: p.stale ? "stale" : null },
      el("td", { class: "id" }, link(p.probe_id, () => drillProbe(p.probe_id))),
      el("td", {}, p.stale ? badge("STALE", tr("dash_stale", "STALE")) : badge("LIVE", tr("dash_live", "live"))),
      el("td", {}, ago(p.age_s)),
      el("td", { class: "num" }, p.samples_per_hour.toLocaleString()),
      el("td", { class: "num" }, p.samples.toLocaleString()),
      el("td", { class: "num" }, p.failures.toLocaleString()),
      el("td", { class: "num" }, p.quarantined === null ? "—" : p.quarantined.toLocaleString()),
      el("td", { class: "num" }, duration(p.upload_lag_s))));
    $("fleet-table").tBodies[0].replaceChildren(...rows);
    const stale = d.fleet.filter((p) => p.stale).length;
    const alert = $("stale-alert");
    alert.hidden = stale === 0;
    alert.textContent = stale === 0 ? "" : "⚠ " + tr("dash_stale_alert", "{n} stale: {ids}", {
      n: stale, t: duration(d.stale_after_s),
      ids: d.fleet.filter((p) => p.stale).map((p) => p.probe_id).join(", ") });
    $("fleet-note").textContent = tr("dash_fleet_note", "{n} probes · {s} stale ({t})", {
      n: d.fleet.length, s: stale, t: duration(d.stale_after_s) });
  }

  // -- rate and latency over time (our own SVG: nothing fetched from elsewhere) ------------
  const OPERATOR_COLOURS = ["#1f77b4", "#d95f02", "#7570b3", "#1b9e77", "#e7298a", "#66a61e", "#a6761d", "#666666"];
  function hourText(iso) { return iso.slice(0, 10) + " " + iso.slice(11, 16) + " UTC"; }

  async function loadSeries() {
    let body;
    try {
      body = await getJSON("/dashboard/api/series?" + query({}));
    } catch (e) {
      return;
    }
    state.seriesVersion = state.data ? state.data.version : -1;
    const operators = [...new Set(Object.values(body.metrics).flatMap((m) => Object.keys(m.operators)))].sort();
    const charts = Object.entries(body.metrics).map(([metric, m]) => seriesChart(metric, m, operators));
    if (!operators.length) charts.splice(0, charts.length, el("p", { class: "muted" }, tr("dash_no_tests", "No completed tests yet.")));
    $("series-body").replaceChildren(...charts);
  }

  function seriesChart(metric, m, operators) {
    const W = 560, H = 200, L = 78, R = 10, T = 10, B = 34;
    const points = Object.values(m.operators).flat().filter((p) => p.mean !== null);
    const title = tr("dash_series_" + metric, metric);
    const fig = el("figure", { class: "series", "data-metric": metric });
    fig.appendChild(el("figcaption", {}, title + " (" + (m.unit === "bit/s" ? "Mbit/s" : m.unit) + ")"));
    if (!points.length) { fig.appendChild(el("p", { class: "muted" }, "no completed tests")); return fig; }
    const times = points.map((p) => Date.parse(p.hour));
    const t0 = Math.min(...times), t1 = Math.max(...times, t0 + 3600e3);
    const vmax = Math.max(...points.map((p) => p.mean)) * 1.1 || 1;
    const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
    const y = (v) => T + (H - T - B) * (1 - v / vmax);
    const svg = sv("svg", { class: "series-svg", viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title });
    for (let i = 0; i <= 4; i++) {
      const v = vmax * i / 4;
      svg.appendChild(sv("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
      const lab = sv("text", { x: L - 4, y: y(v) + 4, class: "tick", "text-anchor": "end" });
      lab.textContent = fmt(v, m.unit);
      svg.appendChild(lab);
    }
    for (const [t, anchor] of [[t0, "start"], [t1, "end"]]) {
      const lab = sv("text", { x: x(t), y: H - 8, class: "tick", "text-anchor": anchor });
      lab.textContent = hourText(new Date(t).toISOString());
      svg.appendChild(lab);
    }
    operators.forEach((op, i) => {
      const colour = OPERATOR_COLOURS[i % OPERATOR_COLOURS.length];
      const pts = (m.operators[op] || []).filter((p) => p.mean !== null);
      let d = "", prev = null;
      for (const p of pts) {
        const t = Date.parse(p.hour);
        // a gap of more than an hour is a gap in the line, not a straight bridge
        d += (prev !== null && t - prev <= 3600e3 ? "L" : "M") + x(t).toFixed(1) + " " + y(p.mean).toFixed(1);
        prev = t;
      }
      svg.appendChild(sv("path", { d, class: "line", stroke: colour }));
      for (const p of pts) {
        const c = sv("circle", { cx: x(Date.parse(p.hour)).toFixed(1), cy: y(p.mean).toFixed(1), r: 2.2,
          fill: colour, class: "pt", "data-operator": op, "data-hour": p.hour, "data-mean": p.mean, "data-tests": p.tests });
        const tt = sv("title", {});
        tt.textContent = op + " · " + hourText(p.hour) + " — " + fmt(p.mean, m.unit) + " (" + p.tests + " tests, " + p.failures + " failed)";
        c.appendChild(tt);
        svg.appendChild(c);
      }
    });
    fig.appendChild(svg);
    fig.appendChild(el("p", { class: "series-legend" }, ...operators.map((op, i) =>
      el("span", { class: "key" }, el("span", { class: "swatch", "data-colour": String(i % OPERATOR_COLOURS.length) }), op))));
    return fig;
  }

  // -- the map ----------------------------------------------------------------------------
  function project(lon, lat) {
    const phi = Math.max(-85, Math.min(85, lat)) * Math.PI / 180;
    return [(lon + 180) / 360 * WORLD,
      (1 - Math.log(Math.tan(phi) + 1 / Math.cos(phi)) / Math.PI) / 2 * WORLD];
  }
  function ringPath(ring, digits) {
    // 1 unit = 0.36°: two decimals (400 m) suit the outlines, not a 500 m hexagon
    const k = digits === undefined ? 2 : digits;
    let d = "";
    ring.forEach((pt, i) => { const [x, y] = project(pt[0], pt[1]); d += (i ? "L" : "M") + x.toFixed(k) + " " + y.toFixed(k); });
    return d + "Z";
  }
  function geometryPath(g) {
    if (!g) return "";
    if (g.type === "Polygon") return g.coordinates.map((r) => ringPath(r, 3)).join("");
    if (g.type === "MultiPolygon") return g.coordinates.map((p) => p.map((r) => ringPath(r, 3)).join("")).join("");
    const line = (l) => l.map((pt, i) => { const [x, y] = project(pt[0], pt[1]); return (i ? "L" : "M") + x.toFixed(3) + " " + y.toFixed(3); }).join("");
    if (g.type === "LineString") return line(g.coordinates);
    if (g.type === "MultiLineString") return g.coordinates.map(line).join("");
    return "";
  }
  function resolutionFor(view) {
    const lonSpan = view.w / WORLD * 360;
    if (lonSpan > 30) return 4;
    if (lonSpan > 8) return 5;
    if (lonSpan > 2) return 6;
    if (lonSpan > 0.5) return 7;
    return 8;
  }
  const SPEED_BINS = [[10, "#d73027"], [30, "#fc8d59"], [100, "#fee08b"], [300, "#91cf60"], [Infinity, "#1a9850"]];
  function speedColour(mbps) {
    for (const [limit, colour] of SPEED_BINS) if (mbps < limit) return colour;
    return SPEED_BINS[SPEED_BINS.length - 1][1];
  }
  const VERDICT_COLOURS = { PASS: "#1a9850", INCONCLUSIVE: "#fee08b", FAIL: "#d73027" };
  function failureColour(share) {
    return share === 0 ? "#1a9850" : share < 0.02 ? "#91cf60" : share < 0.05 ? "#fee08b" : share < 0.1 ? "#fc8d59" : "#d73027";
  }

  async function loadBasemap() {
    const geo = await getJSON("/dashboard/basemap.geojson");
    const g = sv("g", { class: "basemap" });
    for (const f of geo.features || []) {
      const d = geometryPath(f.geometry);
      if (!d) continue;
      const p = sv("path", { d, class: "land", "vector-effect": "non-scaling-stroke" });
      if (f.properties && f.properties.name) { const t = sv("title", {}); t.textContent = String(f.properties.name); p.appendChild(t); }
      g.appendChild(p);
    }
    state.basemap = g;
  }

  async function loadMap(force) {
    // verdicts are evaluated per resolution-8 hexagon, whatever the zoom
    const res = $("map-colour").value === "verdict" ? 8 : (state.view ? resolutionFor(state.view) : 8);
    const wantVerdicts = $("map-colour").value === "verdict";
    if (wantVerdicts && state.map && !state.map.verdicts.length && state.map.hexagons.length) force = true;
    if (!force && res === state.resolution && state.data && state.data.version === state.mapVersion) return;
    const p = new URLSearchParams();
    if ($("standard").value) p.set("standard", $("standard").value);
    if ($("campaign").dataset.ready === "1") p.set("campaign", $("campaign").value);
    p.set("resolution", String(res));
    if ($("map-colour").value === "verdict") p.set("verdicts", "true");
    try {
      state.map = await getJSON("/dashboard/api/map?" + p.toString());
    } catch (e) { return; }
    state.resolution = res;
    state.mapVersion = state.map.version;
    if (!state.fitted) { fit(); state.fitted = true; }
    drawMap();
    if ($("map-colour").value !== "verdict" && resolutionFor(state.view) !== res) await loadMap(false);
  }

  function dataBounds() {
    const m = state.map;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    const add = (lat, lon) => { const [x, y] = project(lon, lat); x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); };
    if (m) {
      for (const pt of m.points) add(pt[0], pt[1]);
      if (!m.points.length) for (const h of m.hexagons) for (const [lat, lon] of h.boundary) add(lat, lon);
    }
    if (!isFinite(x0)) { add(8.2, 102.1); add(23.4, 109.5); } // Viet Nam
    return [x0, y0, x1, y1];
  }
  function fit() {
    const [x0, y0, x1, y1] = dataBounds();
    const svg = $("map-svg");
    const aspect = (svg.clientWidth || 800) / (svg.clientHeight || 500);
    let w = Math.max(x1 - x0, 0.15) * 1.3, h = Math.max(y1 - y0, 0.15) * 1.3;
    if (w / h < aspect) w = h * aspect; else h = w / aspect;
    state.view = { x: (x0 + x1) / 2 - w / 2, y: (y0 + y1) / 2 - h / 2, w, h };
    applyView();
  }
  function applyView() {
    const v = state.view;
    $("map-svg").setAttribute("viewBox", [v.x, v.y, v.w, v.h].map((n) => n.toFixed(4)).join(" "));
    $("map-info").textContent = "H3 resolution " + resolutionFor(v);
    drawPoints();
    drawScale();
  }
  // A scale bar for the map's centre latitude (Web Mercator stretches by 1 / cos(latitude)):
  // the longest 1, 2 or 5 × 10^k m that fits in a quarter of the map's width.
  const EQUATOR_M = 40075016.686;
  function drawScale() {
    const v = state.view, svg = $("map-svg");
    const px = Math.min(svg.clientWidth / v.w, svg.clientHeight / v.h); // px per SVG unit
    if (!px || !isFinite(px)) return;
    const lat = Math.atan(Math.sinh(Math.PI * (1 - 2 * (v.y + v.h / 2) / WORLD)));
    const metresPerPx = EQUATOR_M * Math.cos(lat) / WORLD / px;
    const most = metresPerPx * svg.clientWidth / 4;
    let len = Math.pow(10, Math.floor(Math.log10(most)));
    for (const k of [5, 2]) if (len * k <= most) { len *= k; break; }
    const bar = $("map-scale").querySelector(".bar");
    bar.style.width = (len / metresPerPx).toFixed(1) + "px"; // CSSOM: allowed by the CSP
    $("map-scale").querySelector(".label").textContent =
      len >= 1000 ? (len / 1000).toLocaleString() + " km" : len + " m";
    $("map-scale").dataset.metres = String(len);
    $("map-scale").dataset.px = (len / metresPerPx).toFixed(3);
  }
  function zoom(factor) {
    const v = state.view; if (!v) return;
    const cx = v.x + v.w / 2, cy = v.y + v.h / 2;
    v.w *= factor; v.h *= factor; v.x = cx - v.w / 2; v.y = cy - v.h / 2;
    applyView(); loadMap(false);
  }
  function pan(dx, dy) {
    const v = state.view; if (!v) return;
    v.x += dx * v.w * 0.15; v.y += dy * v.h * 0.15; applyView();
  }

  function drawMap() {
    const svg = $("map-svg");
    const m = state.map;
    const layers = [];
    if (state.basemap) layers.push(state.basemap);
    const hexes = sv("g", { class: "hexes" });
    const op = $("map-operator").value;
    const mode = $("map-colour").value;
    // per hexagon: one operator, or all operators together
    const acc = new Map();
    for (const h of m.hexagons) {
      if (op && String(h.operator === null ? "\u0000" : h.operator) !== op) continue;
      let a = acc.get(h.h3);
      if (!a) { a = { h3: h.h3, boundary: h.boundary, tests: 0, failures: 0, sum: 0, ok: 0, ops: [] }; acc.set(h.h3, a); }
      const ok = h.tests - h.failures;
      a.tests += h.tests; a.failures += h.failures; a.ok += ok; a.sum += (h.mean || 0) * ok;
      a.ops.push(h.operator === null ? "(none)" : String(h.operator));
    }
    const verdictOf = new Map();
    const ORDER = { PASS: 0, INCONCLUSIVE: 1, FAIL: 2 };
    for (const v of m.verdicts || []) {
      if (op && String(v.operator === null ? "\u0000" : v.operator) !== op) continue;
      const have = verdictOf.get(v.h3);
      const text = (v.operator === null ? "(none)" : String(v.operator)) + ": " + v.criteria_verdict +
        (v.missing ? " (sampling in progress, " + v.missing + " missing)" : "");
      if (!have) verdictOf.set(v.h3, { verdict: v.criteria_verdict, texts: [text] });
      else {
        if (ORDER[v.criteria_verdict] > ORDER[have.verdict]) have.verdict = v.criteria_verdict;
        have.texts.push(text);
      }
    }
    for (const a of acc.values()) {
      const ring = a.boundary.map(([lat, lon]) => [lon, lat]);
      const mean = a.ok ? a.sum / a.ok : null;
      const share = a.tests ? a.failures / a.tests : 0;
      const vd = verdictOf.get(a.h3);
      const colour = mode === "verdict" ? (vd ? VERDICT_COLOURS[vd.verdict] : "#bbb")
        : mode === "failures" ? failureColour(share) : (mean === null ? "#888" : speedColour(mean / 1e6));
      const p = sv("path", { d: ringPath(ring, 5), class: "hex", fill: colour, "vector-effect": "non-scaling-stroke" });
      const t = sv("title", {});
      t.textContent = a.h3 + " · " + a.ops.join(", ") + " · " + a.tests + " tests · mean " +
        (mean === null ? "—" : (mean / 1e6).toFixed(1) + " Mbit/s") + " · " + a.failures + " failed" +
        (vd ? " · " + vd.texts.join("; ") : "");
      p.appendChild(t);
      hexes.appendChild(p);
    }
    layers.push(hexes);
    layers.push(sv("g", { class: "points" }));
    svg.replaceChildren(...layers);
    drawPoints();
    renderLegend(mode, acc.size, m.points.length);
  }
  function drawPoints() {
    const g = document.querySelector("#map-svg .points");
    if (!g || !state.map || !state.view) return;
    const r = state.view.w / 400;
    const op = $("map-operator").value;
    const nodes = [];
    for (const pt of state.map.points) {
      if (op && String(pt[3] === null ? "\u0000" : pt[3]) !== op) continue;
      const [x, y] = project(pt[1], pt[0]);
      nodes.push(sv("circle", { cx: x.toFixed(3), cy: y.toFixed(3), r: r.toFixed(4), class: "pt" }));
    }
    g.replaceChildren(...nodes);
  }
  function renderLegend(mode, hexCount, pointCount) {
    const items = [];
    const swatch = (colour) => { const s = sv("svg", { width: 14, height: 14, "aria-hidden": "true" }); s.appendChild(sv("rect", { width: 14, height: 14, fill: colour })); return s; };
    if (mode === "verdict") {
      [["#1a9850", "PASS"], ["#fee08b", "INCONCLUSIVE"], ["#d73027", "FAIL"], ["#bbb", "not evaluated"]]
        .forEach(([c, t]) => items.push(el("span", {}, swatch(c), " " + t)));
      items.push(el("span", { class: "muted" }, "statistical verdict of the criteria in each hexagon (netmeasure evaluate --group-by operator,h3_N)"));
    } else if (mode === "failures") {
      [["#1a9850", "no failed test"], ["#91cf60", "< 2 %"], ["#fee08b", "2–5 %"], ["#fc8d59", "5–10 %"], ["#d73027", "≥ 10 % failed"]]
        .forEach(([c, t]) => items.push(el("span", {}, swatch(c), " " + t)));
    } else {
      let lo = 0;
      for (const [limit, colour] of SPEED_BINS) {
        items.push(el("span", {}, swatch(colour), " " + (limit === Infinity ? "≥ " + lo : lo + "–" + limit) + " Mbit/s"));
        lo = limit;
      }
    }
    items.push(el("span", { class: "muted" }, hexCount + " hexagons · " + pointCount + " latest tests as dots"));
    $("legend").replaceChildren(...items);
  }

  // -- wiring -----------------------------------------------------------------------------
  function wire() {
    const signout = $("signout");
    if (!signout.querySelector("input[name=csrf]").value) signout.hidden = true;
    $("controls").addEventListener("submit", (e) => e.preventDefault());
    $("map-controls").addEventListener("submit", (e) => e.preventDefault());
    for (const id of ["standard", "campaign", "level"]) {
      $(id).addEventListener("change", () => { state.tag = null; state.fitted = false; state.mapVersion = -1; state.seriesVersion = -1; refresh(true); });
    }
    $("map-colour").addEventListener("change", () => {
      if ($("map-colour").value === "verdict") loadMap(true); else if (state.map) drawMap();
    });
    $("map-operator").addEventListener("change", () => state.map && drawMap());
    $("zoom-in").addEventListener("click", () => zoom(0.5));
    $("zoom-out").addEventListener("click", () => zoom(2));
    $("zoom-fit").addEventListener("click", () => { fit(); loadMap(true); });
    const svg = $("map-svg");
    svg.addEventListener("keydown", (e) => {
      const keys = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      if (keys[e.key]) { pan(...keys[e.key]); e.preventDefault(); }
      else if (e.key === "+" || e.key === "=") { zoom(0.5); e.preventDefault(); }
      else if (e.key === "-") { zoom(2); e.preventDefault(); }
    });
    svg.addEventListener("wheel", (e) => { e.preventDefault(); zoom(e.deltaY < 0 ? 0.7 : 1.4); }, { passive: false });
    let drag = null;
    svg.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY }; });
    window.addEventListener("pointerup", () => { drag = null; });
    svg.addEventListener("pointermove", (e) => {
      if (!drag || !state.view) return;
      const scale = state.view.w / (svg.clientWidth || 1);
      state.view.x -= (e.clientX - drag.x) * scale; state.view.y -= (e.clientY - drag.y) * scale;
      drag = { x: e.clientX, y: e.clientY }; applyView();
    });
  }

  async function start() {
    try { T = JSON.parse(document.body.dataset.texts || "{}"); } catch (e) { T = {}; }
    wire();
    // the outlines load while the numbers do; the map is drawn again once they are here
    const outlines = loadBasemap().catch(() => { /* the samples are drawn without them */ });
    await refresh(true);
    await outlines;
    if (state.map) drawMap(); else await loadMap(true);
    window.setInterval(() => { refresh(false); }, POLL_MS);
  }
  document.addEventListener("DOMContentLoaded", () => { start(); });
})();
