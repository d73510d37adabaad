// PinPipe's live dashboard: polls api/state every second and draws both lanes, the tables, the runs, the quality counts
// and the nine insights (inline SVG). Every text goes in through textContent: nothing from the data is parsed as HTML.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const fmt = new Intl.NumberFormat("en-US");
  const fmt1 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "class") e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const n = (v) => (v === null || v === undefined ? "–" : fmt.format(v));
  const rate = (v) => (v === null || v === undefined ? "–" : fmt1.format(v));
  function bytes(b) {
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (b >= 1000 && i < units.length - 1) { b /= 1000; i++; }
    return fmt1.format(b) + " " + units[i];
  }
  function duration(s) {
    if (s === null || s === undefined) return "–";
    return s < 60 ? fmt1.format(s) + " s" : Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
  }
  // Short names in the stages: "pin" for the topic <user>.pin, the stream streaming-<user>-pin and the table <user>_pin_table.
  function short(name) {
    const m = /(?:^|[._-])(pin|geo|user)(?:_table)?(_rejects)?$/.exec(name);
    return m ? m[1] + (m[2] || "") : name;
  }
  function tableLine(t) { return short(t.name) + ": " + n(t.rows) + (t.version < 0 ? " (no table yet)" : " · v" + t.version); }
  function lag(v) { return el("span", { class: v > 0 ? "lag-behind" : "lag-ok" }, "lag " + n(v)); }

  // One stage of a lane: a name, a big figure and a few lines.
  function stage(id, name, big, unit, lines) {
    const li = el("li", { class: "stage", id: id, "data-stage": id });
    li.append(el("div", { class: "name" }, name));
    li.append(el("div", { class: "big" }, el("span", { class: "count" }, big), unit ? el("span", { class: "unit" }, unit) : null));
    for (const l of lines) li.append(l instanceof Node && l.classList && l.classList.contains("line") ? l : el("div", { class: "line" }, l));
    return li;
  }
  function muted(text) { return el("div", { class: "line muted" }, text); }
  function pipeline(id, stages) {
    const ol = document.getElementById(id);
    const items = [];
    stages.forEach((s, i) => { if (i > 0) items.push(el("li", { class: "arrow", "aria-hidden": "true" }, "→")); items.push(s); });
    ol.replaceChildren(...items);
  }

  function table(id, head, rows, empty) {
    const t = document.getElementById(id);
    const thead = el("thead", null, el("tr", null, ...head.map((h) => el("th", { class: h.n ? "n" : null }, h.t))));
    const body = el("tbody");
    if (rows.length === 0) body.append(el("tr", null, el("td", { class: "empty", colspan: head.length }, empty)));
    for (const r of rows) {
      if (r.group) { body.append(el("tr", { class: "group" }, el("td", { colspan: head.length }, r.group))); continue; }
      body.append(el("tr", null, ...r.map((c, i) => el("td", { class: head[i].n ? "n" : head[i].wrap ? "wrap" : null }, c))));
    }
    t.replaceChildren(thead, body);
  }

  function drawBatch(b) {
    const last = b.runs[0];
    const tables = b.tables.filter((t) => !t.name.endsWith("_rejects"));
    pipeline("batch-pipeline", [
      stage("batch-api", "Ingest API", rate(b.api.perSecond), "records/s", [n(b.api.records) + " records logged"]),
      stage("batch-log", "Log", n(b.api.records), "records", b.topics.map((t) => muted(short(t.name) + ": " + n(t.records)))),
      stage("batch-sink", "S3 sink", rate(b.sink.perSecond), "records/s", [n(b.sink.committed) + " committed", lag(b.sink.lag)]),
      stage("batch-bucket", "Bucket", n(b.bucket.objects), "objects",
        [bytes(b.bucket.bytes) + " of raw JSON", b.bucket.error ? muted("not reachable: " + b.bucket.error) : muted(b.bucket.prefix)]),
      stage("batch-job", "Batch job", last ? last.outcome : "no run yet", null,
        last ? [muted(last.runId), "took " + duration(last.durationSeconds)] : [muted("pinpipe batch / schedule")]),
      stage("batch-tables", "Delta tables", n(tables.reduce((s, t) => s + t.rows, 0)), "rows",
        tables.map((t) => muted(tableLine(t)))),
      stage("batch-insights", "Insights", b.latestRun ? String(b.latestRun.insights.length) : "–", "answers",
        [b.latestRun ? muted("from " + b.latestRun.runId) : muted("after the first batch run")]),
    ]);
  }

  function drawStream(s) {
    const tables = s.tables.filter((t) => !t.name.endsWith("_rejects"));
    pipeline("stream-pipeline", [
      stage("stream-api", "Ingest API (Kinesis)", rate(s.api.perSecond), "records/s", [n(s.api.records) + " records logged"]),
      stage("stream-log", "Streams", n(s.api.records), "records", s.streams.map((t) => muted(short(t.name) + ": " + n(t.records)))),
      stage("stream-job", "Stream job", rate(s.job.perSecond), "records/s", [n(s.job.records) + " committed", lag(s.lag), s.error ? muted(s.error) : null].filter(Boolean)),
      stage("stream-tables", "Delta tables", n(tables.reduce((a, t) => a + t.rows, 0)), "rows",
        tables.map((t) => muted(tableLine(t)))),
    ]);
  }

  function drawCards(state) {
    const b = state.batch;
    const row = (t) => [t.error ? t.name + " (" + t.error + ")" : t.name, t.version < 0 ? "–" : n(t.version), n(t.rows)];
    table("tables", [{ t: "table", wrap: true }, { t: "version", n: true }, { t: "rows", n: true }],
      [{ group: "batch lane" }, ...b.tables.map(row), { group: "streaming lane" }, ...state.stream.tables.map(row)], "no table yet");
    const where = document.getElementById("bucket-where");
    where.textContent = b.bucket.location.replace(/^.*\//, "");
    where.title = b.bucket.location;
    table("bucket", [{ t: "topic" }, { t: "objects", n: true }, { t: "bytes", n: true }],
      b.bucket.topics.map((t) => [t.topic, n(t.objects), bytes(t.bytes)]), b.bucket.error ? "not reachable: " + b.bucket.error : "no objects yet");
    table("runs", [{ t: "run", wrap: true }, { t: "outcome" }, { t: "took", n: true }, { t: "report" }],
      b.runs.map((r) => [r.runId, el("span", { class: "outcome " + r.outcome, title: r.error || "" }, r.outcome), duration(r.durationSeconds),
        r.report ? el("a", { href: r.report, target: "_blank", rel: "noopener" }, "report") : "–"]),
      b.runsError ? "history not readable: " + b.runsError : "no run yet");
    const latest = b.latestRun;
    document.getElementById("quality-run").textContent = latest ? latest.runId : "";
    table("quality", [{ t: "table" }, { t: "column", wrap: true }, { t: "rule", wrap: true }, { t: "count", n: true }],
      latest ? latest.quality.map((q) => [q.table, q.column, q.rule, n(q.count)]) : [], "after the first batch run");
  }

  // A label cut to what fits in width px (about 6 px a character at the charts' size).
  function fit(text, width) {
    const max = Math.max(3, Math.floor(width / 6));
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  // An insight as a chart: per post year as columns, else the largest rows as horizontal bars.
  function chart(insight, index) {
    const box = el("div", { class: "chart", "data-insight": insight.name });
    box.append(el("h3", null, "#" + insight.number + " " + insight.title));
    const cols = insight.columns;
    const valueAt = cols.length - 1;
    let rows = insight.rows.filter((r) => typeof r[valueAt] === "number");
    if (rows.length === 0) { box.append(el("div", { class: "empty-note" }, "no rows")); return box; }
    const label = (r) => r.slice(0, valueAt).map((v) => (v === null ? "(none)" : String(v))).join(" · ");
    const byYear = cols[0] === "post_year" && cols.length === valueAt + 1 && rows.length <= 12;
    const alt = index % 2 === 1 ? " alt" : "";
    if (byYear) {
      rows = rows.slice().sort((a, b) => a[0] - b[0]);
      const max = Math.max(...rows.map((r) => r[valueAt]), 1);
      const w = 360, h = 170, bottom = 34, top = 16, gap = 8;
      const bw = (w - gap * (rows.length + 1)) / rows.length;
      const s = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": insight.title });
      rows.forEach((r, i) => {
        const x = gap + i * (bw + gap);
        const bh = (h - bottom - top) * (r[valueAt] / max);
        s.append(svg("rect", { class: "bar" + alt, x: x, y: h - bottom - bh, width: bw, height: Math.max(bh, 1), rx: 3 }));
        s.append(svg("text", { x: x + bw / 2, y: h - bottom - bh - 4, "text-anchor": "middle", class: "value" }, n(r[valueAt])));
        s.append(svg("text", { x: x + bw / 2, y: h - bottom + 14, "text-anchor": "middle" }, fit(String(r[0]), bw)));
        if (valueAt > 1) s.append(svg("text", { x: x + bw / 2, y: h - bottom + 27, "text-anchor": "middle", class: "value" }, fit(r.slice(1, valueAt).join(" · "), bw)));
      });
      box.append(s);
    } else {
      const top = rows.slice().sort((a, b) => b[valueAt] - a[valueAt]).slice(0, 8);
      const max = Math.max(...top.map((r) => r[valueAt]), 1);
      const w = 360, rowH = 20, labelW = 140, valueW = 74;
      const s = svg("svg", { viewBox: `0 0 ${w} ${top.length * rowH + 4}`, role: "img", "aria-label": insight.title });
      top.forEach((r, i) => {
        const y = i * rowH + 2;
        let text = label(r);
        if (text.length > 22) text = text.slice(0, 21) + "…";
        s.append(svg("text", { x: 0, y: y + 13 }, text));
        const bw = (w - labelW - valueW) * (r[valueAt] / max);
        s.append(svg("rect", { class: "bar" + alt, x: labelW, y: y + 3, width: Math.max(bw, 1), height: rowH - 7, rx: 3 }));
        s.append(svg("text", { x: labelW + bw + 4, y: y + 13, class: "value" }, n(r[valueAt])));
      });
      box.append(s);
    }
    const note = cols[valueAt].replaceAll("_", " ") + (insight.totalRows > rows.length || (!byYear && rows.length > 8) ? " · largest 8 of " + n(insight.totalRows) + " rows" : "");
    box.append(el("div", { class: "note" }, note));
    return box;
  }

  let insightsRun = null;
  function drawInsights(latest) {
    const where = document.getElementById("insights");
    document.getElementById("insights-run").textContent = latest ? "from run " + latest.runId : "";
    const key = latest ? latest.runId : "";
    if (insightsRun === key) return; // unchanged: keep the charts as they are
    insightsRun = key;
    if (!latest || latest.insights.length === 0) {
      where.replaceChildren(el("div", { class: "empty-note" }, "The insights appear after the first batch run (pinpipe batch, pinpipe schedule, or pinpipe up)."));
      return;
    }
    where.replaceChildren(...latest.insights.map(chart));
  }

  const status = () => document.getElementById("status");
  async function tick() {
    try {
      const response = await fetch("api/state", { cache: "no-store", credentials: "same-origin", headers: { accept: "application/json" } });
      if (response.status === 401) { window.location.assign("signin"); return; }
      if (!response.ok) throw new Error("HTTP " + response.status);
      document.getElementById("signout").hidden = response.headers.get("X-PinPipe-Keys") !== "on";
      const state = await response.json();
      drawBatch(state.batch);
      drawStream(state.stream);
      drawCards(state);
      drawInsights(state.batch.latestRun);
      const s = status();
      s.className = "status live";
      const span = state.rateSeconds;
      s.textContent = "live · " + new Date(state.at).toLocaleTimeString() +
        (span > 0 && span < 59 ? " · rates over the last " + Math.round(span) + " s" : "");
    } catch (e) {
      const s = status();
      s.className = "status down";
      s.textContent = "not reachable (" + e.message + "), retrying…";
    } finally {
      setTimeout(tick, 1000);
    }
  }
  document.addEventListener("DOMContentLoaded", tick);
})();
