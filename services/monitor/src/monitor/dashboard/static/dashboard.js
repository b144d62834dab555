// The drift dashboard's page: keeps a copy of the monitor's projection up to date from
// server-sent events and draws it with plain SVG. No library, nothing from the network
// but this origin. Every value from an event is written as text (textContent), never as
// markup, and only http(s) links are ever made clickable.
"use strict";

(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const COLORS = {
    accent: "#4da3ff", good: "#3fb97f", warn: "#f0a53a", bad: "#f0595b", violet: "#a98bff",
  };
  const P_VALUE_METHODS = new Set([
    "ks", "chisquare", "z", "fisher_exact", "g_test", "t_test", "mannw", "anderson", "cramer_von_mises",
    "empirical_mmd", "epps_singleton", "TVD",
  ]);
  const KIND_LABELS = {
    drift_detected: "drift detected",
    performance_degraded: "performance degraded",
    training_requested: "training requested",
    training_suppressed: "training suppressed",
    training_progress: "training",
    model_trained: "model trained",
    training_failed: "training failed",
    model_promoted: "promoted",
    model_rejected: "rejected",
    replica_rolled: "replica rolled",
    replica_refused: "replica refused",
  };

  const state = {
    config: { history: 500, traffic_bucket_s: 2, mlflow_url: null },
    drift: new Map(),
    performance: new Map(),
    traffic: new Map(),
    champions: new Map(),
    replicas: new Map(),
    timeline: new Map(),
    lastUpdate: null,
  };

  // ------------------------------------------------------------------------------------
  // Small DOM helpers (text only)
  // ------------------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attributes) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
    return node;
  }

  function safeHref(href) {
    if (typeof href !== "string") return null;
    try {
      const url = new URL(href, window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_error) {
      return null;
    }
  }

  function link(label, href) {
    const safe = safeHref(href);
    if (!safe) return null;
    const anchor = el("a", null, label);
    anchor.href = safe;
    anchor.target = "_blank";
    anchor.rel = "noopener noreferrer";
    return anchor;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function time(iso) {
    const moment = new Date(iso);
    return Number.isNaN(moment.getTime()) ? "" : moment.toISOString().slice(11, 19);
  }

  function ago(iso) {
    const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (seconds < 60) return `${Math.round(seconds)} s ago`;
    if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h ago`;
    return `${(seconds / 86400).toFixed(1)} d ago`;
  }

  function number(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    const abs = Math.abs(value);
    if (digits !== undefined) return value.toFixed(digits);
    if (abs >= 1000) return value.toFixed(0);
    if (abs >= 100) return value.toFixed(1);
    if (abs >= 1) return value.toFixed(2);
    return value.toFixed(3);
  }

  function compactNumber(value) {
    if (value === 0) return "0";
    const abs = Math.abs(value);
    if (abs >= 1000) return `${(value / 1000).toPrecision(2)}k`;
    return String(Number(value.toPrecision(2)));
  }

  function hue(text) {
    let hash = 0;
    for (let i = 0; i < text.length; i += 1) hash = (hash * 31 + text.charCodeAt(i)) | 0;
    return Math.abs(hash) % 360;
  }

  function byTime(map) {
    return Array.from(map.values()).sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : (a.seq || 0) - (b.seq || 0)));
  }

  function trim(map) {
    const limit = state.config.history;
    if (map.size <= limit) return;
    const ordered = byTime(map);
    for (const item of ordered.slice(0, map.size - limit)) map.delete(item.key);
  }

  // ------------------------------------------------------------------------------------
  // State updates from the stream
  // ------------------------------------------------------------------------------------

  const COLLECTIONS = {
    drift: "drift", performance: "performance", traffic: "traffic",
    champion: "champions", replica: "replicas", timeline: "timeline",
  };

  function loadSnapshot(snapshot) {
    state.config = snapshot.config || state.config;
    for (const [name, items] of [
      ["drift", snapshot.drift], ["performance", snapshot.performance], ["traffic", snapshot.traffic],
      ["champions", snapshot.champions], ["replicas", snapshot.replicas], ["timeline", snapshot.timeline],
    ]) {
      state[name] = new Map((items || []).map((item) => [item.key, item]));
    }
    state.lastUpdate = new Date();
  }

  function applyChanges(changes) {
    for (const change of changes) {
      const name = COLLECTIONS[change.kind];
      if (!name) continue;
      state[name].set(change.key, change.data);
      if (name === "drift" || name === "performance" || name === "timeline") trim(state[name]);
      if (name === "traffic" && state.traffic.size > state.config.history) {
        const oldest = Array.from(state.traffic.values()).sort((a, b) => a.t - b.t)[0];
        state.traffic.delete(oldest.key);
      }
    }
    state.lastUpdate = new Date();
  }

  // ------------------------------------------------------------------------------------
  // Charts
  // ------------------------------------------------------------------------------------

  function niceTicks(low, high, count) {
    if (!(high > low)) return [low];
    const span = high - low;
    const step0 = span / Math.max(1, count);
    const magnitude = Math.pow(10, Math.floor(Math.log10(step0)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= step0) || step0;
    const ticks = [];
    for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
    return ticks;
  }

  // series: [{points: [[t(ms), value], ...], color, area?, dots?: [[t, v, drifted]]}]
  // lines: [{points, cls}] drawn as threshold/baseline steps
  function lineChart(container, options) {
    const width = Math.max(160, Math.floor(container.clientWidth || 300));
    const height = options.height || 150;
    const pad = { left: options.compact ? 30 : 40, right: 8, top: 8, bottom: options.compact ? 16 : 20 };
    const all = [];
    for (const s of options.series) for (const p of s.points) if (p[1] !== null && p[1] !== undefined) all.push(p);
    for (const s of options.lines || []) for (const p of s.points) if (p[1] !== null && p[1] !== undefined) all.push(p);
    clear(container);
    if (!all.length) {
      container.appendChild(el("p", "empty", options.empty || "No data yet."));
      return;
    }
    let [t0, t1] = options.xDomain || [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
    if (t1 <= t0) { t0 -= 30000; t1 += 30000; }
    let y0 = options.yMin !== undefined ? options.yMin : Math.min(...all.map((p) => p[1]));
    let y1 = Math.max(...all.map((p) => p[1]));
    if (options.yMax !== undefined) y1 = Math.max(y1, options.yMax);
    if (y1 <= y0) { y1 = y0 + (Math.abs(y0) || 1); }
    y1 += (y1 - y0) * 0.08;
    const ticks = niceTicks(y0, y1, options.compact ? 2 : 4);
    const x = (t) => pad.left + ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
    const y = (v) => height - pad.bottom - ((v - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, height, role: "img" });
    if (options.label) root.setAttribute("aria-label", options.label);
    for (const tick of ticks) {
      root.appendChild(svg("line", { class: "grid", x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick) }));
      const label = svg("text", { x: pad.left - 5, y: y(tick) + 3, "text-anchor": "end" });
      label.textContent = options.format ? options.format(tick) : options.compact ? compactNumber(tick) : number(tick);
      root.appendChild(label);
    }
    const xTicks = options.compact ? 2 : 4;
    for (let i = 0; i <= xTicks; i += 1) {
      const t = t0 + ((t1 - t0) * i) / xTicks;
      const label = svg("text", { x: x(t), y: height - 4, "text-anchor": i === 0 ? "start" : i === xTicks ? "end" : "middle" });
      label.textContent = new Date(t).toISOString().slice(11, options.compact ? 16 : 19);
      root.appendChild(label);
    }
    root.appendChild(svg("line", { class: "axis", x1: pad.left, x2: width - pad.right, y1: height - pad.bottom, y2: height - pad.bottom }));
    const path = (points, step) => {
      let d = "";
      let previous = null;
      for (const p of points) {
        if (p[1] === null || p[1] === undefined) { previous = null; continue; }
        const px = x(p[0]).toFixed(1);
        const py = y(p[1]).toFixed(1);
        if (previous === null) d += `M${px},${py}`;
        else if (step) d += `H${px}V${py}`;
        else d += `L${px},${py}`;
        previous = p;
      }
      return d;
    };
    for (const line of options.lines || []) {
      const d = path(line.points, true);
      if (d) root.appendChild(svg("path", { class: line.cls || "threshold", d }));
    }
    for (const s of options.series) {
      const d = path(s.points, false);
      if (!d) continue;
      if (s.area) {
        const valid = s.points.filter((p) => p[1] !== null && p[1] !== undefined);
        const area = `${d}L${x(valid[valid.length - 1][0]).toFixed(1)},${y(y0).toFixed(1)}L${x(valid[0][0]).toFixed(1)},${y(y0).toFixed(1)}Z`;
        root.appendChild(svg("path", { class: "area", d: area, fill: s.color }));
      }
      root.appendChild(svg("path", { class: "line", d, stroke: s.color }));
      for (const dot of s.dots || []) {
        if (dot[1] === null || dot[1] === undefined) continue;
        root.appendChild(svg("circle", { class: dot[2] ? "dot-drifted" : "dot", cx: x(dot[0]), cy: y(dot[1]), r: dot[2] ? 3 : 1.6 }));
      }
    }
    container.appendChild(root);
  }

  // ------------------------------------------------------------------------------------
  // Rendering
  // ------------------------------------------------------------------------------------

  function kpi(id, value, sub, tone) {
    const card = document.getElementById(id);
    card.querySelector(".kpi-value").textContent = value;
    card.querySelector(".kpi-sub").textContent = sub || "";
    card.classList.remove("is-good", "is-warn", "is-bad");
    if (tone) card.classList.add(`is-${tone}`);
  }

  function trafficPoints() {
    const bucketMs = state.config.traffic_bucket_s * 1000;
    const now = Date.now();
    // The newest bucket is still filling: drawn, it would look like a drop.
    const buckets = Array.from(state.traffic.values())
      .filter((bucket) => bucket.t * 1000 + bucketMs <= now)
      .sort((a, b) => a.t - b.t);
    // An empty bucket is zero traffic, not a gap to draw across.
    const points = [];
    let previous = null;
    for (const bucket of buckets) {
      const t = bucket.t * 1000;
      if (previous !== null && t - previous > bucketMs * 1.5) {
        points.push({ t: previous + bucketMs, gap: true });
        points.push({ t: t - bucketMs, gap: true });
      }
      points.push({ t, bucket });
      previous = t;
    }
    if (previous !== null && now - previous > bucketMs * 2) {
      points.push({ t: previous + bucketMs, gap: true });
      points.push({ t: now, gap: true });
    }
    return points;
  }

  function renderTraffic() {
    const bucketMs = state.config.traffic_bucket_s * 1000;
    const points = trafficPoints();
    const now = Date.now();
    const domain = points.length ? [Math.max(points[0].t, now - state.config.history * bucketMs), now] : undefined;
    lineChart(document.getElementById("chart-rate"), {
      label: "Predictions per second",
      xDomain: domain,
      yMin: 0,
      empty: "No predictions yet.",
      series: [
        { color: COLORS.accent, area: true, points: points.map((p) => [p.t, p.gap ? 0 : p.bucket.predictions_per_s]) },
        { color: COLORS.bad, points: points.map((p) => [p.t, p.gap ? 0 : p.bucket.errors / state.config.traffic_bucket_s]) },
      ],
    });
    lineChart(document.getElementById("chart-latency"), {
      label: "Latency percentiles",
      xDomain: domain,
      yMin: 0,
      empty: "No predictions yet.",
      format: (v) => number(v),
      series: [
        { color: COLORS.good, points: points.map((p) => [p.t, p.gap ? null : p.bucket.p50_ms]) },
        { color: COLORS.violet, points: points.map((p) => [p.t, p.gap ? null : p.bucket.p99_ms]) },
      ],
    });
    // The newest bucket is still filling: the figures come from the last complete one.
    const buckets = Array.from(state.traffic.values()).sort((a, b) => a.t - b.t);
    let current = buckets[buckets.length - 1];
    if (current && current.t * 1000 + bucketMs > now && buckets.length > 1) current = buckets[buckets.length - 2];
    if (!current) {
      kpi("kpi-rate", "–", "no traffic seen");
      kpi("kpi-latency", "–", "");
      kpi("kpi-errors", "–", "");
      return;
    }
    const stale = now - current.t * 1000 > bucketMs * 3;
    const versions = Object.keys(current.model_versions || {});
    kpi("kpi-rate", stale ? "0" : number(current.predictions_per_s, 1), stale ? `last traffic ${ago(current.at)}` : (versions.length ? `served by v${versions.join(", v")}` : ""));
    kpi("kpi-latency", stale ? "–" : `${number(current.p50_ms)} / ${number(current.p99_ms)}`, "ms in the predictor");
    const rate = stale ? 0 : current.error_rate;
    kpi("kpi-errors", `${(rate * 100).toFixed(rate < 0.01 ? 2 : 1)} %`, stale ? "" : `${current.errors} of ${current.count} in ${state.config.traffic_bucket_s} s`, rate > 0.05 ? "bad" : rate > 0 ? "warn" : null);
  }

  function renderDrift() {
    const windows = byTime(state.drift);
    const container = document.getElementById("features");
    const latest = windows[windows.length - 1];
    const reportLink = document.getElementById("report-link");
    const safe = latest ? safeHref(latest.report_link) : null;
    reportLink.hidden = !safe;
    if (safe) reportLink.href = safe;
    if (!latest) {
      kpi("kpi-drift", "–", "no monitoring window yet");
      const share = document.getElementById("chart-share");
      clear(share);
      share.appendChild(el("p", "empty", "Waiting for the first monitoring window…"));
      return;
    }
    kpi("kpi-drift", `${(latest.drift_share * 100).toFixed(0)} %`, `threshold ${(latest.drift_share_threshold * 100).toFixed(0)} % · ${latest.sample_count} predictions`, latest.dataset_drift ? "bad" : "good");
    const names = [];
    const seen = new Set();
    for (const f of latest.features) { names.push(f.feature); seen.add(f.feature); }
    for (const w of windows) for (const f of w.features) if (!seen.has(f.feature)) { seen.add(f.feature); names.push(f.feature); }
    const t0 = new Date(windows[0].at).getTime();
    const t1 = new Date(latest.at).getTime();
    clear(container);
    for (const name of names) {
      const points = [];
      const threshold = [];
      const dots = [];
      let last = null;
      let drifted = false;
      let lowerIsDrift = null;
      for (const w of windows) {
        const f = w.features.find((item) => item.feature === name);
        const t = new Date(w.at).getTime();
        if (!f) { points.push([t, null]); continue; }
        points.push([t, f.score]);
        threshold.push([t, f.threshold]);
        dots.push([t, f.score, f.drifted]);
        if (f.drifted && f.score !== f.threshold) lowerIsDrift = f.score < f.threshold;
        last = f;
        drifted = f.drifted;
      }
      if (lowerIsDrift === null && last) lowerIsDrift = P_VALUE_METHODS.has(last.method);
      const card = el("div", drifted ? "feature is-drifted" : "feature");
      const head = el("div", "feature-head");
      const title = el("span", "feature-name", name);
      title.title = name;
      head.appendChild(title);
      head.appendChild(el("span", "feature-value", last ? number(last.score) : "–"));
      card.appendChild(head);
      card.appendChild(el("div", "feature-method", last ? `${last.method} · drift ${lowerIsDrift ? "below" : "above"} ${number(last.threshold)}` : ""));
      const chart = el("div");
      card.appendChild(chart);
      container.appendChild(card);
      lineChart(chart, {
        compact: true,
        height: 74,
        xDomain: [t0, t1],
        yMin: 0,
        label: `Drift score of ${name}`,
        series: [{ color: COLORS.accent, points, dots }],
        lines: [{ points: threshold, cls: "threshold" }],
      });
    }
    renderWindows(windows);
    lineChart(document.getElementById("chart-share"), {
      label: "Share of drifted features",
      yMin: 0,
      yMax: 1,
      format: (v) => `${Math.round(v * 100)}%`,
      series: [{
        color: COLORS.accent,
        area: true,
        points: windows.map((w) => [new Date(w.at).getTime(), w.drift_share]),
        dots: windows.map((w) => [new Date(w.at).getTime(), w.drift_share, w.dataset_drift]),
      }],
      lines: [{ points: windows.map((w) => [new Date(w.at).getTime(), w.drift_share_threshold]), cls: "threshold" }],
    });
  }

  function renderWindows(windows) {
    const body = document.getElementById("windows");
    clear(body);
    const recent = windows.slice(-8).reverse();
    document.getElementById("windows-count").textContent = windows.length ? `latest ${recent.length} of ${windows.length}` : "";
    for (const w of recent) {
      const row = el("tr", w.dataset_drift ? "is-drifted" : null);
      row.appendChild(el("td", null, `${time(w.at)}`));
      row.appendChild(el("td", null, `${w.model_name} v${w.model_version}`));
      row.appendChild(el("td", null, String(w.sample_count)));
      const share = el("td");
      share.appendChild(el("span", `badge badge-${w.dataset_drift ? "bad" : "good"}`, `${Math.round(w.drift_share * 100)} %`));
      row.appendChild(share);
      row.appendChild(el("td", null, w.features.filter((f) => f.drifted).map((f) => f.feature).join(", ") || "–"));
      const report = el("td");
      const anchor = link("Evidently ↗", w.report_link);
      if (anchor) report.appendChild(anchor);
      else if (w.report_uri) { const text = el("span", "muted", "saved"); text.title = w.report_uri; report.appendChild(text); }
      else report.appendChild(el("span", "muted", "–"));
      row.appendChild(report);
      body.appendChild(row);
    }
  }

  function renderPerformance() {
    const points = byTime(state.performance);
    const container = document.getElementById("chart-performance");
    if (!points.length) {
      clear(container);
      container.appendChild(el("p", "empty", "Waiting for delayed labels…"));
      kpi("kpi-accuracy", "–", "waiting for delayed labels");
      return;
    }
    const latest = points[points.length - 1];
    const metric = latest.metric;
    const series = points.filter((p) => p.metric === metric);
    lineChart(container, {
      label: `Live ${metric}`,
      series: [{
        color: COLORS.good,
        points: series.map((p) => [new Date(p.at).getTime(), p.value]),
        dots: series.map((p) => [new Date(p.at).getTime(), p.value, p.degraded]),
      }],
      lines: [
        { points: series.map((p) => [new Date(p.at).getTime(), p.threshold]), cls: "threshold" },
        { points: series.filter((p) => p.baseline_value !== null).map((p) => [new Date(p.at).getTime(), p.baseline_value]), cls: "baseline" },
      ],
    });
    kpi("kpi-accuracy", `${metric} ${number(latest.value, 3)}`, `threshold ${number(latest.threshold, 3)} · ${latest.labelled_count} labels`, latest.degraded ? "bad" : "good");
  }

  function renderServing() {
    const champions = Array.from(state.champions.values());
    const box = document.getElementById("champions");
    clear(box);
    if (!champions.length) {
      box.appendChild(el("p", "empty", "No champion promoted yet."));
      kpi("kpi-champion", "–", "none promoted yet");
    }
    for (const champion of champions) {
      const row = el("div", "champion");
      row.appendChild(el("span", "champion-name", champion.model_name));
      row.appendChild(el("span", "champion-version", `v${champion.model_version}`));
      row.appendChild(el("span", "badge badge-good", "champion"));
      const against = champion.champion_metric === null ? "first champion" : `vs ${number(champion.champion_metric, 4)} for v${champion.previous_version}`;
      row.appendChild(el("span", "champion-meta", `promoted ${time(champion.promoted_at)} UTC · ${champion.gate_metric} ${number(champion.challenger_metric, 4)} (${against}) on ${champion.holdout_rows} holdout rows`));
      const links = el("span", "champion-links");
      for (const item of champion.links || []) {
        const anchor = link(item.label, item.href);
        if (anchor) links.appendChild(anchor);
      }
      row.appendChild(links);
      box.appendChild(row);
    }
    if (champions.length) {
      const first = champions[0];
      kpi("kpi-champion", `${first.model_name} v${first.model_version}`, `promoted ${ago(first.promoted_at)}`, "good");
    }
    const body = document.getElementById("replicas");
    clear(body);
    const replicas = Array.from(state.replicas.values()).sort((a, b) => (a.replica_id < b.replica_id ? -1 : 1));
    if (!replicas.length) {
      const row = el("tr");
      const cell = el("td", "empty", "No replica has reported yet.");
      cell.colSpan = 4;
      row.appendChild(cell);
      body.appendChild(row);
    }
    for (const replica of replicas) {
      const champion = state.champions.get(replica.model_name);
      const row = el("tr");
      row.appendChild(el("td", null, replica.replica_id));
      row.appendChild(el("td", null, replica.model_version ? `v${replica.model_version}` : "–"));
      const statusCell = el("td");
      let tone = "good";
      let text = "serving";
      if (replica.status === "refused") { tone = "bad"; text = `refused v${replica.refused_version}`; }
      else if (champion && replica.model_version !== champion.model_version) { tone = "warn"; text = "behind champion"; }
      const badge = el("span", `badge badge-${tone}`, text);
      badge.title = replica.detail || "";
      statusCell.appendChild(badge);
      row.appendChild(statusCell);
      row.appendChild(el("td", "muted", `${time(replica.at)}`));
      body.appendChild(row);
    }
  }

  function latestEpisode(entries) {
    for (let i = entries.length - 1; i >= 0; i -= 1) if (entries[i].episode) return entries[i].episode;
    return null;
  }

  function renderStepper(entries) {
    const stepper = document.getElementById("stepper");
    const label = document.getElementById("episode-label");
    clear(stepper);
    const episode = latestEpisode(entries);
    const mine = entries.filter((e) => e.episode === episode);
    const has = (kind) => mine.find((e) => e.kind === kind);
    const trigger = has("drift_detected") || has("performance_degraded");
    const requested = has("training_requested");
    const progress = has("training_progress");
    const trained = has("model_trained");
    const failed = has("training_failed");
    const promoted = has("model_promoted");
    const rejected = has("model_rejected");
    const version = (promoted || trained || {}).model_version;
    const replicas = Array.from(state.replicas.values());
    const rolled = version ? replicas.filter((r) => r.model_version === version).length : 0;
    label.textContent = episode ? `episode ${episode}` : "";
    label.title = episode || "";
    const steps = [
      ["Signal", trigger ? "done" : requested ? "skipped" : "", trigger ? (trigger.kind === "drift_detected" ? "drift" : "performance") : requested ? "none" : ""],
      ["Requested", requested ? "done" : "", requested ? time(requested.at) : ""],
      ["Training", failed ? "failed" : trained ? "done" : progress ? "active" : "", progress && progress.progress ? `epoch ${progress.progress.epoch}/${progress.progress.max_epochs}` : failed ? "failed" : ""],
      ["Trained", trained ? "done" : failed ? "failed" : "", trained ? `v${trained.model_version}` : ""],
      ["Decision", promoted ? "done" : rejected ? "failed" : "", promoted ? "promoted" : rejected ? "rejected" : ""],
      ["Rolled", promoted && replicas.length && rolled === replicas.length ? "done" : promoted ? "active" : "", promoted ? `${rolled}/${replicas.length} replicas` : ""],
    ];
    if (!episode) {
      stepper.appendChild(el("li", "empty", "No training episode yet."));
      return;
    }
    for (const [name, status, note] of steps) {
      const item = el("li", `step ${status}`, name);
      if (note) item.appendChild(el("span", "step-note", note));
      stepper.appendChild(item);
    }
  }

  function timelineItem(entry) {
    const item = el("li", `tl-item status-${entry.status} kind-${entry.kind}`);
    item.dataset.kind = entry.kind;
    const head = el("div", "tl-head");
    head.appendChild(el("span", "tl-kind", KIND_LABELS[entry.kind] || entry.kind));
    head.appendChild(el("time", null, `${time(entry.at)}`));
    if (entry.episode) {
      const tag = el("span", "tl-episode", entry.episode);
      tag.title = `episode ${entry.episode}`;
      tag.style.borderColor = `hsl(${hue(entry.episode)}, 60%, 45%)`;
      tag.style.color = `hsl(${hue(entry.episode)}, 70%, 72%)`;
      head.appendChild(tag);
    }
    item.appendChild(head);
    item.appendChild(el("div", "tl-title", entry.title));
    if (entry.detail) item.appendChild(el("div", "tl-detail", entry.detail));
    if (entry.progress) {
      const p = entry.progress;
      const done = p.finished === "trained";
      const share = done ? 1 : Math.min(1, p.epoch / p.max_epochs);
      const bar = el("div", "progress");
      bar.setAttribute("role", "progressbar");
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", String(p.max_epochs));
      bar.setAttribute("aria-valuenow", String(p.epoch));
      const fill = el("div", "progress-bar");
      fill.style.width = `${(share * 100).toFixed(1)}%`;
      bar.appendChild(fill);
      item.appendChild(bar);
      let text = `epoch ${p.epoch} of ${p.max_epochs}`;
      if (p.finished === "trained") text += p.epoch < p.max_epochs ? " · stopped early, done" : " · done";
      else if (p.finished === "failed") text += " · failed";
      else if (p.eta_seconds !== null && p.eta_seconds !== undefined) text += ` · about ${Math.round(p.eta_seconds)} s left`;
      if (p.samples_per_second) text += ` · ${number(p.samples_per_second, 0)} samples/s`;
      item.appendChild(el("div", "progress-label", text));
    }
    if (entry.outcome) item.appendChild(el("div", "tl-outcome", `→ ${entry.outcome}`));
    if (entry.facts && entry.facts.length) {
      const facts = el("dl", "tl-facts");
      for (const [name, value] of entry.facts) {
        facts.appendChild(el("dt", null, name));
        facts.appendChild(el("dd", null, value));
      }
      item.appendChild(facts);
    }
    const links = (entry.links || []).map((l) => link(l.label, l.href)).filter(Boolean);
    if (links.length) {
      const box = el("div", "tl-links");
      for (const anchor of links) box.appendChild(anchor);
      item.appendChild(box);
    }
    return item;
  }

  function renderTimeline() {
    const entries = byTime(state.timeline);
    const list = document.getElementById("timeline");
    clear(list);
    if (!entries.length) list.appendChild(el("li", "empty", "No loop events yet."));
    for (let i = entries.length - 1; i >= 0; i -= 1) list.appendChild(timelineItem(entries[i]));
    document.getElementById("timeline-count").textContent = entries.length ? `${entries.length} events` : "";
    renderStepper(entries);
  }

  function renderHeader() {
    const mlflow = document.getElementById("mlflow-link");
    const safe = safeHref(state.config.mlflow_url);
    if (safe) mlflow.href = safe;
    mlflow.hidden = !safe;
    document.getElementById("updated").textContent = state.lastUpdate ? `updated ${state.lastUpdate.toISOString().slice(11, 19)} UTC` : "no data yet";
  }

  // What changed since the last frame: only those parts are drawn again.
  const dirty = new Set(["drift", "performance", "traffic", "serving", "timeline"]);
  const SECTIONS_OF = {
    drift: ["drift"], performance: ["performance"], traffic: ["traffic"],
    champion: ["serving", "timeline"], replica: ["serving", "timeline"], timeline: ["timeline"],
  };
  const MIN_FRAME_MS = 400; // traffic arrives with every consumed batch: redraw a few times a second

  function render() {
    renderHeader();
    if (dirty.has("drift")) renderDrift();
    if (dirty.has("performance")) renderPerformance();
    if (dirty.has("traffic")) renderTraffic();
    if (dirty.has("serving")) renderServing();
    if (dirty.has("timeline")) renderTimeline();
    dirty.clear();
  }

  let scheduled = false;
  let lastFrame = 0;
  function scheduleRender(...sections) {
    for (const section of sections) dirty.add(section);
    if (scheduled) return;
    scheduled = true;
    const wait = Math.max(0, lastFrame + MIN_FRAME_MS - performance.now());
    window.setTimeout(() => window.requestAnimationFrame(() => {
      scheduled = false;
      lastFrame = performance.now();
      try {
        render();
      } catch (error) {
        console.error("dashboard render failed", error);
      }
    }), wait);
  }

  const EVERYTHING = ["drift", "performance", "traffic", "serving", "timeline"];

  // ------------------------------------------------------------------------------------
  // The live stream
  // ------------------------------------------------------------------------------------

  function setConnection(live) {
    const pill = document.getElementById("connection");
    pill.textContent = live ? "live" : "reconnecting…";
    pill.className = live ? "pill pill-live" : "pill pill-wait";
  }

  function connect() {
    const source = new EventSource("/dashboard/events");
    source.addEventListener("open", () => setConnection(true));
    source.addEventListener("error", () => setConnection(false));
    source.addEventListener("snapshot", (message) => {
      setConnection(true);
      loadSnapshot(JSON.parse(message.data));
      scheduleRender(...EVERYTHING);
    });
    source.addEventListener("changes", (message) => {
      const changes = JSON.parse(message.data);
      applyChanges(changes);
      scheduleRender(...changes.flatMap((change) => SECTIONS_OF[change.kind] || []));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    render();
    connect();
    window.addEventListener("resize", () => scheduleRender(...EVERYTHING));
    // Relative times and the traffic's "now" move even when no event arrives.
    window.setInterval(() => scheduleRender("traffic", "serving"), 2000);
  });
})();
