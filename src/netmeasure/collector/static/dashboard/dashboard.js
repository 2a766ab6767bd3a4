// netmeasure live campaign dashboard: vanilla JS and SVG, no dependencies, no inline code.
// Every text from the server goes into the page through textContent (never innerHTML), so
// probe ids, operators and areas are shown as typed, whatever they contain.
"use strict";

(function () {
  const SVGNS = "http://www.w3.org/2000/svg";
  const POLL_MS = 3000;
  const WORLD = 1000; // Web Mercator world width in SVG units
  const state = { tag: null, version: -1, data: null, map: null, basemap: null,
    view: null, resolution: null, mapVersion: -1, fitted: false };
  const $ = (id) => document.getElementById(id);

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
    return String(v);
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
      case "min_samples": return "Samples, total";
      case "min_per_environment": return "Samples, " + String(p.environment).replace("_", " ");
      case "min_spacing": return "Spacing ≥ " + p.required + " s per device";
      case "min_days": return "Days with samples";
      case "min_hours": return "Hours of the day covered";
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
      $("live").textContent = "connection lost, retrying…";
      $("live").classList.add("stale");
      return;
    }
    $("live").classList.remove("stale");
    state.tag = data.tag;
    if (!data.unchanged) {
      state.data = data;
      render(data);
      if (data.version !== state.mapVersion) await loadMap(false);
    }
    const d = state.data;
    if (d) {
      const when = new Date().toLocaleTimeString();
      $("live").textContent = (d.loaded ? "live" : "reading the database…") + " · " +
        d.rows_read.toLocaleString() + " rows · checked " + when;
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
    fillSelect(mo, [{ value: "", label: "all" }, ...ops.map((o) => ({ value: o === null ? "\u0000" : o, label: o === null ? "(none)" : o }))], mo.value || "");
  }

  function renderCards(d) {
    const cards = d.groups.map((g) => {
      const status = g.status === "IN_PROGRESS"
        ? badge("IN_PROGRESS", "IN PROGRESS — " + g.missing.toLocaleString() + " samples still missing")
        : badge(g.status);
      return el("article", { class: "card " + g.status, "aria-label": groupName(g.key) },
        el("h3", {}, groupName(g.key)),
        el("p", {}, status),
        el("p", {}, (d.plan ? "group-sequential verdict: " : "statistical verdict so far: "), badge(g.criteria_verdict)),
        el("p", { class: d.plan ? "stopping" : "stopping provisional" }, g.stopping),
        el("p", { class: "muted" }, g.n_samples.toLocaleString() + " samples · " + g.n_probes + (g.n_probes === 1 ? " probe" : " probes")));
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
      : "Bounds: one-sided at " + (d.standard.confidence * 100).toFixed(0) +
        " % each (netmeasure evaluate). Letter: the estimate against the threshold; statistical: the bound. " +
        "Provisional — not valid for stopping: these bounds hold for one look; create a campaign plan " +
        "(docs/plan.md) and start the dashboard with --plan CAMPAIGN=FILE to stop at the first decided look.";
  }

  function renderFleet(d) {
    const rows = d.fleet.map((p) => el("tr", { class: p.stale ? "stale" : null },
      el("td", { class: "id" }, p.probe_id),
      el("td", {}, p.stale ? badge("STALE", "STALE") : badge("LIVE", "live")),
      el("td", {}, ago(p.age_s)),
      el("td", { class: "num" }, p.samples_per_hour.toLocaleString()),
      el("td", { class: "num" }, p.samples.toLocaleString()),
      el("td", { class: "num" }, p.failures.toLocaleString()),
      el("td", { class: "num" }, p.quarantined === null ? "—" : p.quarantined.toLocaleString()),
      el("td", { class: "num" }, duration(p.upload_lag_s))));
    $("fleet-table").tBodies[0].replaceChildren(...rows);
    const stale = d.fleet.filter((p) => p.stale).length;
    $("fleet-note").textContent = d.fleet.length + " probes · " + stale +
      " stale (not heard from for " + duration(d.stale_after_s) + ")";
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
      $(id).addEventListener("change", () => { state.tag = null; state.fitted = false; state.mapVersion = -1; refresh(true); });
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
