/* halo-mcp viewer: draws the waterfalls of a page from its JSON data block.
 * Trace text reaches the page only through textContent: never as markup, never
 * in a URL. Subtrees are created when opened, so a 2,000-span trace starts small. */
(function () {
  "use strict";
  var INITIAL_ROWS = 250; // rows shown before anything is opened by hand
  var KINDS = /^(llm|tool|agent|chain|retriever|embedding|guardrail|reranker|other|unknown)$/;
  var node = document.getElementById("halo-data");
  var data = node ? JSON.parse(node.textContent) : { traces: [] };
  var waterfalls = [];

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function ms(v) {
    if (v === undefined || v === null) return "";
    if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 0 : 2) + "s";
    return (v >= 10 ? v.toFixed(0) : v.toFixed(1)) + "ms";
  }
  function kindOf(k) { return KINDS.test(String(k)) ? String(k) : "other"; }
  function block(parent, label, text, cls) {
    if (text === undefined || text === null || text === "") return;
    var box = el("div", "field " + (cls || ""));
    box.appendChild(el("div", "flabel", label));
    box.appendChild(el("pre", "value", text));
    parent.appendChild(box);
  }

  function Waterfall(root, trace, t) {
    var self = this;
    this.root = root; this.trace = trace; this.t = t;
    this.spans = trace.spans || [];
    var n = this.spans.length;
    this.children = []; this.roots = []; this.depth = []; this.rows = []; this.open = [];
    this.selected = -1;
    var end = 0;
    for (var i = 0; i < n; i++) { this.children.push([]); this.open.push(false); }
    for (i = 0; i < n; i++) {
      var s = this.spans[i];
      if (s.p >= 0 && s.p < i) { this.children[s.p].push(i); this.depth.push(this.depth[s.p] + 1); }
      else { this.roots.push(i); this.depth.push(0); }
      end = Math.max(end, (s.t0 || 0) + (s.dur || 0));
    }
    this.end = Math.max(end, trace.dur || 0) || 1;
    this.build();
    this.initialOpen();
    this.render();
    var first = -1;
    for (i = 0; i < n; i++) { if (this.spans[i].hl) { first = i; break; } }
    if (first >= 0) this.select(first, false);
    root.addEventListener("click", function (ev) {
      var toggle = ev.target.closest ? ev.target.closest(".toggle") : null;
      var row = ev.target.closest ? ev.target.closest(".row") : null;
      if (!row || !root.contains(row)) return;
      var i = Number(row.getAttribute("data-i"));
      if (toggle) { self.open[i] = !self.open[i]; self.render(); }
      else self.select(i, false);
    });
  }
  Waterfall.prototype.build = function () {
    var self = this, tr = this.trace;
    var head = el("div", "thead");
    head.appendChild(el("h3", "", "trace " + tr.id));
    var shown = this.spans.length, total = tr.total === undefined ? shown : tr.total;
    var meta = shown + (total !== shown ? " of " + total : "") + " spans drawn";
    if (tr.dur) meta += " · " + ms(tr.dur);
    if (tr.errors !== undefined) meta += " · " + tr.errors + " errors";
    head.appendChild(el("span", "meta", meta));
    var bar = el("span", "tools");
    var all = el("button", "", "expand all"), none = el("button", "", "collapse all");
    all.type = none.type = "button";
    all.addEventListener("click", function () { for (var i = 0; i < self.open.length; i++) self.open[i] = true; self.render(); });
    none.addEventListener("click", function () { for (var i = 0; i < self.open.length; i++) self.open[i] = false; self.render(); });
    bar.appendChild(all); bar.appendChild(none); head.appendChild(bar);
    this.root.appendChild(head);
    (tr.notes || []).forEach(function (note) { self.root.appendChild(el("p", "cut", note)); });
    var body = el("div", "tbody");
    this.list = el("div", "rows");
    body.appendChild(this.list);
    this.detail = el("div", "detail");
    body.appendChild(this.detail);
    this.root.appendChild(body);
    if (!this.spans.length && !(tr.notes || []).length) this.root.appendChild(el("p", "cut", "no spans"));
  };
  Waterfall.prototype.initialOpen = function () {
    var self = this, n = this.spans.length, i;
    for (i = 0; i < n; i++) {
      var s = this.spans[i];
      if (s.hl || s.s === "error") { for (var p = s.p; p >= 0; p = this.spans[p].p) this.open[p] = true; }
    }
    var count = this.visible().length, queue = this.roots.slice();
    while (queue.length) {
      i = queue.shift();
      var kids = this.children[i];
      if (!kids.length) continue;
      if (!this.open[i]) {
        if (count + kids.length > INITIAL_ROWS) continue;
        this.open[i] = true; count += kids.length;
      }
      kids.forEach(function (k) { queue.push(k); });
    }
    return self;
  };
  Waterfall.prototype.visible = function () {
    var out = [], stack = this.roots.slice().reverse();
    while (stack.length) {
      var i = stack.pop();
      out.push(i);
      if (this.open[i]) for (var c = this.children[i].length - 1; c >= 0; c--) stack.push(this.children[i][c]);
    }
    return out;
  };
  Waterfall.prototype.row = function (i) {
    if (this.rows[i]) return this.rows[i];
    var s = this.spans[i], kind = kindOf(s.k);
    var row = el("div", "row" + (s.s === "error" ? " err" : "") + (s.hl ? " cited" : ""));
    row.id = "span-" + this.t + "-" + i;
    row.setAttribute("data-i", String(i));
    var name = el("div", "name");
    name.style.paddingLeft = Math.min(this.depth[i], 30) * 14 + "px";
    var toggle = el("button", "toggle", this.children[i].length ? "" : " ");
    toggle.type = "button";
    if (!this.children[i].length) toggle.disabled = true;
    name.appendChild(toggle);
    name.appendChild(el("span", "kind k-" + kind, kind));
    name.appendChild(el("span", "sname", s.n));
    if (s.s === "error") name.appendChild(el("span", "errmark", "✗ error"));
    if (s.hl) name.appendChild(el("span", "cite", s.hl));
    row.appendChild(name);
    var track = el("div", "track"), barEl = el("div", "bar k-" + kind + (s.s === "error" ? " err" : ""));
    barEl.style.left = Math.min(99.7, (100 * (s.t0 || 0)) / this.end) + "%";
    barEl.style.width = Math.max(0.3, (100 * (s.dur || 0)) / this.end) + "%";
    barEl.title = ms(s.t0) + " + " + ms(s.dur);
    track.appendChild(barEl);
    row.appendChild(track);
    row.appendChild(el("div", "dur", ms(s.dur)));
    this.rows[i] = row;
    return row;
  };
  Waterfall.prototype.render = function () {
    var frag = document.createDocumentFragment(), vis = this.visible();
    for (var v = 0; v < vis.length; v++) {
      var i = vis[v], row = this.row(i), kids = this.children[i].length;
      if (kids) row.firstChild.firstChild.textContent = (this.open[i] ? "▾" : "▸") + (this.open[i] ? "" : " " + kids);
      frag.appendChild(row);
    }
    this.list.textContent = "";
    this.list.appendChild(frag);
    this.root.setAttribute("data-visible", String(vis.length));
  };
  Waterfall.prototype.reveal = function (i) {
    for (var p = this.spans[i].p; p >= 0; p = this.spans[p].p) this.open[p] = true;
    this.render();
    this.select(i, true);
  };
  Waterfall.prototype.select = function (i, scroll) {
    if (this.selected >= 0 && this.rows[this.selected]) this.rows[this.selected].classList.remove("selected");
    this.selected = i;
    var row = this.row(i);
    row.classList.add("selected");
    this.showDetail(i);
    if (scroll) row.scrollIntoView({ block: "center" });
  };
  Waterfall.prototype.showDetail = function (i) {
    var s = this.spans[i], d = this.detail;
    d.textContent = "";
    d.appendChild(el("h4", "", s.n));
    var facts = [kindOf(s.k), s.s];
    if (s.m) facts.push("model " + s.m);
    if (s.tool && s.tool !== s.n) facts.push("tool " + s.tool);
    facts.push("start +" + ms(s.t0), "duration " + ms(s.dur));
    if (s.ti !== undefined || s.to !== undefined) facts.push("tokens " + (s.ti || 0) + " in / " + (s.to || 0) + " out");
    facts.push("span " + s.id);
    d.appendChild(el("p", "facts", facts.join(" · ")));
    if (s.hl) {
      var cite = el("div", "citation");
      cite.appendChild(el("div", "flabel", "cited by " + s.hl));
      if (s.q) cite.appendChild(el("blockquote", "quote", s.q));
      d.appendChild(cite);
    }
    block(d, "error", s.e, "error");
    if (s.msgs || s.reply) {
      var conv = el("div", "conversation");
      conv.appendChild(el("div", "flabel", "conversation (" + (s.msgs || []).length + " messages in, " + (s.reply || []).length + " out)"));
      (s.msgs || []).forEach(function (m) { conv.appendChild(message(m, false)); });
      (s.reply || []).forEach(function (m) { conv.appendChild(message(m, true)); });
      d.appendChild(conv);
    }
    var isTool = kindOf(s.k) === "tool";
    block(d, isTool ? "arguments" : "input", s["in"]);
    block(d, isTool ? "result" : "output", s.out);
  };
  function message(m, reply) {
    var box = el("div", "msg role-" + (/^[a-z]+$/.test(m.r) ? m.r : "other") + (reply ? " reply" : ""));
    box.appendChild(el("div", "role", (reply ? "→ " : "") + m.r));
    if (m.c) box.appendChild(el("pre", "value", m.c));
    (m.calls || []).forEach(function (c) { box.appendChild(el("pre", "call", "tool call " + c.n + "(" + (c.a || "") + ")")); });
    return box;
  }

  function drawAll() {
    var roots = document.querySelectorAll(".trace[data-t]");
    for (var k = 0; k < roots.length; k++) {
      var t = Number(roots[k].getAttribute("data-t"));
      if (data.traces && data.traces[t]) waterfalls[t] = new Waterfall(roots[k], data.traces[t], t);
    }
  }
  function follow(hash) {
    var m = /^#span-(\d+)-(\d+)$/.exec(hash || "");
    if (m && waterfalls[Number(m[1])]) waterfalls[Number(m[1])].reveal(Number(m[2]));
  }
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest ? ev.target.closest("a.ev[data-s]") : null;
    if (!a) return;
    var w = waterfalls[Number(a.getAttribute("data-t"))];
    if (!w) return;
    ev.preventDefault();
    w.reveal(Number(a.getAttribute("data-s")));
  });

  /* MCP App: the host hands the tool's result over postMessage (ui/notifications/tool-result). */
  function fromViewTrace(sc) {
    var pos = {}, spans = [];
    (sc.spans || []).forEach(function (s, i) { pos[s.span_id] = i; });
    (sc.spans || []).forEach(function (s) {
      var p = s.parent_id in pos ? pos[s.parent_id] : -1;
      spans.push({ id: s.span_id, p: p, n: s.name, k: s.kind, s: s.status, e: s.error, t0: s.start_ms || 0,
        dur: s.duration_ms || 0, m: s.model, tool: s.tool, ti: s.input_tokens, to: s.output_tokens,
        "in": s.input, out: s.output });
    });
    var notes = (sc.notes || []).slice();
    if (sc.next_cursor) notes.push("skeleton continues: call view_trace with the cursor for the rest");
    return { id: sc.trace_id, spans: spans, total: sc.span_count, errors: sc.error_count, dur: sc.duration_ms, notes: notes };
  }
  function showRun(app, sc) {
    document.getElementById("app-title").textContent = "Diagnose run " + sc.run_id;
    document.getElementById("app-meta").textContent = sc.status + (sc.question ? " · " + sc.question : "");
    var report = sc.report;
    if (!report) {
      (sc.finding_titles || []).forEach(function (t) { app.appendChild(el("p", "", t)); });
      return;
    }
    app.appendChild(el("p", "summary", report.summary));
    var list = el("ol", "findings");
    (report.findings || []).forEach(function (f, n) {
      var li = el("li", "finding");
      li.appendChild(el("h3", "", (n + 1) + ". " + f.title));
      var fq = f.frequency || {}, share = fq.total_traces ? fq.traces_affected / fq.total_traces : 0;
      var meta = el("div", "fmeta");
      meta.appendChild(el("span", "impact " + (/^(high|medium|low)$/.test(f.impact) ? f.impact : ""), f.impact + " impact"));
      var track = el("span", "sharebar"), fill = el("span", "fill");
      fill.style.width = Math.round(share * 100) + "%";
      track.appendChild(fill); meta.appendChild(track);
      meta.appendChild(el("span", "freq", fq.traces_affected + "/" + fq.total_traces + " traces"));
      li.appendChild(meta);
      if (f.detail) li.appendChild(el("p", "detail", f.detail));
      var ev = el("ul", "evidence");
      (f.evidence || []).forEach(function (e) {
        ev.appendChild(el("li", "", "trace " + e.trace_id + (e.span_id ? " span " + e.span_id : "") + (e.quote ? " “" + e.quote + "”" : "")));
      });
      li.appendChild(ev);
      list.appendChild(li);
    });
    app.appendChild(list);
  }
  function showResult(result) {
    var app = document.getElementById("app"), sc = (result && result.structuredContent) || {};
    app.textContent = "";
    if (sc.trace_id && sc.spans) {
      document.getElementById("app-title").textContent = "Trace " + sc.trace_id;
      document.getElementById("app-meta").textContent = sc.span_count + " spans · " + sc.error_count + " errors";
      var root = el("div", "trace");
      app.appendChild(root);
      waterfalls[0] = new Waterfall(root, fromViewTrace(sc), 0);
    } else if (sc.run_id) {
      showRun(app, sc);
    } else {
      var text = (result && result.content || []).map(function (c) { return c.text || ""; }).join("\n");
      app.appendChild(el("pre", "value", text));
    }
  }
  if (data.view === "app") {
    window.addEventListener("message", function (ev) {
      if (ev.source !== window.parent) return;
      var m = ev.data;
      if (!m || m.jsonrpc !== "2.0") return;
      if (m.method === "ui/notifications/tool-result") showResult(m.params);
      else if (m.id === 1 && m.result) window.parent.postMessage({ jsonrpc: "2.0", method: "ui/notifications/initialized", params: {} }, "*");
    });
    window.parent.postMessage({ jsonrpc: "2.0", id: 1, method: "ui/initialize",
      params: { protocolVersion: "2026-01-26", appInfo: { name: "halo-mcp viewer", version: "1" }, appCapabilities: {} } }, "*");
  }
  var chooser = document.querySelector("select.datasets");
  if (chooser && chooser.form) chooser.addEventListener("change", function () { chooser.form.submit(); });
  drawAll();
  follow(location.hash);
  window.addEventListener("hashchange", function () { follow(location.hash); });
  document.documentElement.setAttribute("data-ready", "1");
})();
