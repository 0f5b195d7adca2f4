// Podscope's log view: tail one container's log, or all of a pod's containers merged by time.
//
// The page holds the markup (templates/dashboard/_log_view.html); this script opens the websocket named by
// its data-log-socket, sends a `start` frame with the chosen options and renders what the server sends:
// `reset`, `lines` batches (at most one per 50 ms), `skipped` markers and container `notice`s. Incoming
// lines wait in a pending array and are rendered once per animation frame into a bounded buffer, so a
// chatty pod cannot freeze the page. Log text is untrusted: it only ever becomes text nodes.
(function () {
  "use strict";

  // A page that includes the script twice (an htmx swap of a whole page) keeps the first copy.
  if (window.PodscopeLogView) return;

  // static/js/ansi.js and static/js/logmerge.js, loaded before this script.
  const { parseLine, styledSpan } = window.PodscopeAnsi;
  const { compareEntries, mergeBatch, ResumePoints } = window.PodscopeLogMerge;

  const PALETTE_SIZE = 8; // container colours, see .log-c0 … .log-c7 in logview.css
  const FONT_MIN = 10;
  const FONT_MAX = 32;
  const FONT_STEP = 2;
  const FONT_KEY = "podscope.logview.fontSize";
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  // Rows created per animation frame. Steady streaming needs a few hundred; the cap only matters when a
  // large backlog is released at once (Resume after a long pause), which then fills in over a few frames.
  const ROWS_PER_FRAME = 2500;
  const CHUNK_ROWS = 200;
  const NEAR_BOTTOM_PX = 32;
  const INTENT_EVENTS = ["wheel", "touchmove", "keydown", "pointerdown"];
  const SEARCH_DELAY_MS = 150;

  // Closes after which reconnecting would only be refused again.
  // Closes after which reconnecting cannot help; the server's own sentence, when it sent one, is shown instead.
  const FINAL_CLOSES = {
    1009: "A message was too large for Podscope; reload the page.",
    1011: "Podscope failed while serving this log; reload the page.",
    4401: "Signed out, or the page is out of date: reload the page.",
    4403: "You do not have permission to read these logs.",
    4404: "Not found: the pod or container is gone.",
    4429: "You follow too many logs at once: close a log view or a tab, then reload.",
  };

  const NOTICE_TEXT = {
    waiting: "waiting to start",
    started: "started",
    restarted: "restarted",
    terminated: "terminated",
    ended: "log ended",
    deleted: "the pod was deleted",
    "not-found": "not found",
    error: "error",
  };

  // ---- Line text -------------------------------------------------------------------------------------

  // Fill `el` with the text of line entry `e`, wrapping matches of `re` in <mark>; sets e.m to the number
  // of matches. Text goes in through textContent and text nodes only.
  function fillText(el, e, re) {
    const ranges = [];
    if (re) {
      re.lastIndex = 0;
      let m;
      while ((m = re.exec(e.plain))) ranges.push(m.index, m.index + m[0].length);
    }
    e.m = ranges.length / 2;
    if (!e.segs && !e.m) {
      el.textContent = e.plain;
      return;
    }
    el.textContent = "";
    const segs = e.segs || [{ t: e.plain, s: null }];
    let pos = 0;
    let r = 0;
    for (const seg of segs) {
      const target = seg.s ? el.appendChild(styledSpan(seg.s)) : el;
      const end = pos + seg.t.length;
      let at = pos;
      while (at < end) {
        while (r < ranges.length && ranges[r + 1] <= at) r += 2;
        if (r >= ranges.length || ranges[r] >= end) {
          target.append(seg.t.slice(at - pos));
          break;
        }
        if (ranges[r] > at) {
          target.append(seg.t.slice(at - pos, ranges[r] - pos));
          at = ranges[r];
        }
        const stop = Math.min(end, ranges[r + 1]);
        const mark = document.createElement("mark");
        mark.textContent = seg.t.slice(at - pos, stop - pos);
        target.append(mark);
        at = stop;
      }
      pos = end;
    }
  }

  function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  function plural(n, one, many) {
    return `${n.toLocaleString("en")} ${n === 1 ? one : many}`;
  }

  function socketUrl(value) {
    const url = new URL(value, window.location.href);
    if (url.protocol === "http:") url.protocol = "ws:";
    else if (url.protocol === "https:") url.protocol = "wss:";
    return url.href;
  }

  function readStorage(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (error) {
      return null; // storage disabled: sizes are simply not remembered
    }
  }

  function writeStorage(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch (error) {
      // as above
    }
  }

  // A cloned template is quicker than four createElement calls for every line.
  const LINE_ROW = document.createElement("div");
  for (const cls of ["log-ts", "log-src", "log-text"]) {
    const span = document.createElement("span");
    span.className = cls;
    LINE_ROW.append(span);
  }

  // ---- The view ----------------------------------------------------------------------------------

  class LogView {
    constructor(root) {
      this.root = root;
      const buffer = parseInt(root.dataset.buffer, 10);
      this.cap = buffer > 0 ? buffer : 10000;
      const find = (name) => root.querySelector(`[data-log="${name}"]`);
      this.ui = {
        container: find("container"),
        tail: find("tail"),
        since: find("since"),
        timestamps: find("timestamps"),
        previous: find("previous"),
        wrap: find("wrap"),
        search: find("search"),
        filter: find("filter"),
        matches: find("matches"),
        pause: find("pause"),
        smaller: find("smaller"),
        larger: find("larger"),
        download: find("download"),
        status: find("status"),
        legend: find("legend"),
        toggles: find("toggles") || find("legend"),
        dropped: find("dropped"),
        jump: find("jump"),
        lines: root.querySelector(".log-lines"),
      };

      this.entries = []; // rendered, oldest first, in time order; entries[i].row is the i-th row in the document
      this.pending = []; // received but not rendered yet, in arrival order
      this.seq = 0;
      this.received = 0;
      this.skipped = 0;
      this.colours = new Map(); // container name -> palette index, in the order of reset.containers
      this.hidden = new Set(); // container names switched off in the legend; kept across resets
      this.points = new ResumePoints(); // where each container's stream got to
      this.searchRe = null;
      this.matchCount = 0;
      this.following = true;
      this.paused = false;
      this.pausedNew = 0;
      this.pausedDropped = 0;
      this.frame = 0;
      this.searchTimer = 0;

      this.socket = null;
      this.attempt = 0; // failed connections since the last `reset`: drives the back-off
      this.retryTimer = 0;
      this.resumeNext = false; // the next `start` is an automatic reconnect and carries `resume`
      this.resuming = false; // the awaited `reset` answers a resume: keep what is shown
      this.awaitingReset = true; // frames before the `reset` belong to the previous options
      this.errorMessage = "";
      this.statusState = "";
      this.statusText = "";
      this.noticeText = "";
      this.ended = new Set();
      this.containerNames = [];
      this.merged = false;

      this.onEvent = this.onEvent.bind(this);
      this.onScroll = this.onScroll.bind(this);
      this.onIntent = this.onIntent.bind(this);
      this.pointerDown = false;
      this.userScrollUntil = 0;
      this.onOnline = this.onOnline.bind(this);
      root.addEventListener("change", this.onEvent);
      root.addEventListener("input", this.onEvent);
      root.addEventListener("click", this.onEvent);
      this.ui.lines.addEventListener("scroll", this.onScroll, { passive: true });
      for (const type of INTENT_EVENTS) this.ui.lines.addEventListener(type, this.onIntent, { passive: true });
      window.addEventListener("pointerup", this.onIntent);
      window.addEventListener("pointercancel", this.onIntent);
      window.addEventListener("online", this.onOnline);
      // Projector mode is a body class that podscope.js toggles; each mode remembers its own text size.
      this.bodyObserver = new MutationObserver(() => this.applyFontSize());
      this.bodyObserver.observe(document.body, { attributes: true, attributeFilter: ["class"] });

      this.applyFontSize();
      this.applyViewOptions();
      this.updateDownload();
      this.updatePause();
      this.connect();
    }

    // ---- Connection --------------------------------------------------------------------------------

    connect() {
      clearTimeout(this.retryTimer);
      this.retryTimer = 0;
      this.errorMessage = "";
      this.setStatus("connecting", this.resumeNext ? "Reconnecting…" : "Connecting…");
      let socket;
      try {
        socket = new WebSocket(socketUrl(this.root.dataset.logSocket));
      } catch (error) {
        this.setStatus("refused", "Cannot open the log stream: " + error.message);
        return;
      }
      this.socket = socket;
      socket.onopen = () => this.sendStart();
      socket.onmessage = (event) => {
        if (socket === this.socket) this.receive(event.data);
      };
      socket.onclose = (event) => {
        if (socket === this.socket) this.closed(event);
      };
    }

    options() {
      const { container, tail, since, previous } = this.ui;
      return {
        container: container ? container.value : "",
        tail: !tail || tail.value === "all" ? null : parseInt(tail.value, 10),
        since: since && since.value ? since.value : null,
        previous: previous ? previous.checked : false,
      };
    }

    sendStart() {
      const socket = this.socket;
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      const start = { type: "start", ...this.options(), resume: this.resumeNext ? this.points.resume() : null };
      this.resuming = start.resume !== null;
      // After new options, what is shown is no place to resume from, even if this socket drops before the
      // server's reset arrives.
      if (!this.resuming) this.points.clear();
      this.resumeNext = false;
      this.awaitingReset = true;
      socket.send(JSON.stringify(start));
    }

    // Close the socket and take it as lost, not finished (the server answers a browser's close with 1000).
    dropConnection() {
      if (!this.socket) return;
      this.dropped = true;
      this.socket.close();
    }

    closed(event) {
      this.socket = null;
      const code = this.dropped ? 1006 : event.code;
      this.dropped = false;
      if (code === 4400) {
        this.setStatus("refused", this.errorMessage || "The server did not accept these options.");
      } else if (FINAL_CLOSES[code]) {
        this.setStatus("refused", this.errorMessage || FINAL_CLOSES[code]);
      } else if (code === 1000) {
        // A normal close is the server saying the stream is over (a previous instance, a deleted pod).
        this.setStatus("ended", "Ended");
      } else {
        const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
        // Jitter spreads a classroom of browsers out when the server comes back.
        const delay = Math.min(BACKOFF_MAX_MS, base * (0.8 + 0.4 * Math.random()));
        this.attempt += 1;
        this.resumeNext = true;
        this.setStatus("reconnecting", `Connection lost; reconnecting in ${(delay / 1000).toFixed(1)} s…`);
        this.retryTimer = setTimeout(() => this.connect(), delay);
      }
    }

    onOnline() {
      if (this.retryTimer) this.connect();
    }

    // Options changed: the server restarts the view; a closed socket is opened again.
    restart() {
      this.updateDownload();
      if (this.paused) this.togglePause();
      this.resumeNext = false;
      if (this.socket && this.socket.readyState === WebSocket.OPEN) {
        this.setStatus("connecting", "Loading…");
        this.sendStart();
      } else if (!this.socket || this.socket.readyState !== WebSocket.CONNECTING) {
        this.connect();
      }
    }

    receive(data) {
      let msg;
      try {
        msg = JSON.parse(data);
      } catch (error) {
        return;
      }
      switch (msg.type) {
        case "reset":
          this.reset(msg);
          break;
        case "lines":
          if (!this.awaitingReset && Array.isArray(msg.lines)) this.addLines(msg.lines);
          break;
        case "skipped":
          if (!this.awaitingReset) this.addSkipped(msg.container || "", Number(msg.count) || 0);
          break;
        case "notice":
          this.notice(msg);
          break;
        case "error":
          this.errorMessage = String(msg.message || "");
          this.setStatus("refused", this.errorMessage || "The server did not accept these options.");
          break;
      }
    }

    reset(msg) {
      const resumed = this.resuming;
      this.resuming = false;
      this.awaitingReset = false;
      this.attempt = 0;
      if (!resumed) this.clear();
      this.merged = Boolean(msg.merged);
      this.setContainers(Array.isArray(msg.containers) ? msg.containers : [], resumed);
      this.ended.clear();
      this.noticeText = "";
      const previous = this.ui.previous && this.ui.previous.checked;
      this.setStatus("open", previous ? "Showing the previous instance" : "Following");
    }

    clear() {
      cancelAnimationFrame(this.frame);
      this.frame = 0;
      this.pending = [];
      this.entries = [];
      this.ui.lines.textContent = "";
      this.points.clear();
      this.received = 0;
      this.skipped = 0;
      this.matchCount = 0;
      this.pausedNew = 0;
      this.pausedDropped = 0;
      if (this.ui.dropped) this.ui.dropped.hidden = true;
      this.following = true;
      if (this.ui.jump) this.ui.jump.hidden = true;
      this.updateMatches();
      this.updatePause();
    }

    // ---- Containers and the legend -----------------------------------------------------------------

    setContainers(list, keepColours) {
      if (!keepColours) this.colours.clear();
      for (const c of list) this.colourOf(c.name);
      this.containerNames = list.map((c) => c.name);
      this.root.classList.toggle("is-merged", this.merged);
      const longest = list.reduce((n, c) => Math.max(n, String(c.name).length), 4);
      this.root.style.setProperty("--log-src-width", Math.min(longest, 24) + 1 + "ch");
      this.addMissingOptions(list);
      this.renderLegend(list);
    }

    colourOf(name) {
      let index = this.colours.get(name);
      if (index === undefined) {
        index = this.colours.size % PALETTE_SIZE;
        this.colours.set(name, index);
      }
      return index;
    }

    // A container the page did not know when it was rendered (an ephemeral debug container) can be picked.
    addMissingOptions(list) {
      const select = this.ui.container;
      if (!select) return;
      const known = new Set(Array.from(select.options, (o) => o.value));
      for (const c of list) {
        if (known.has(c.name)) continue;
        const option = document.createElement("option");
        option.value = c.name;
        option.textContent = c.kind && c.kind !== "container" ? `${c.name} (${c.kind})` : c.name;
        select.append(option);
      }
    }

    renderLegend(list) {
      const legend = this.ui.legend;
      if (!legend) return;
      const box = this.ui.toggles;
      box.textContent = "";
      for (const c of list) {
        const label = document.createElement("label");
        label.className = `log-toggle log-c${this.colourOf(c.name)}`;
        const input = document.createElement("input");
        input.type = "checkbox";
        input.checked = !this.hidden.has(c.name);
        input.dataset.logToggle = c.name;
        const name = document.createElement("span");
        name.textContent = c.name;
        label.append(input, name);
        if (c.kind && c.kind !== "container") {
          const kind = document.createElement("span");
          kind.className = "log-kind";
          kind.textContent = c.kind;
          label.append(" ", kind);
        }
        box.append(label);
      }
      legend.hidden = !this.merged || list.length === 0;
    }

    showContainer(name, show) {
      if (show) this.hidden.delete(name);
      else this.hidden.add(name);
      for (const e of this.entries) {
        if (e.c === name) e.row.classList.toggle("is-off", !show);
      }
      this.recountMatches();
      this.stickToBottom();
    }

    // ---- Receiving ---------------------------------------------------------------------------------

    addLines(lines) {
      let count = 0;
      for (const line of lines) {
        if (!Array.isArray(line)) continue;
        const c = String(line[0] ?? "");
        const ts = String(line[1] ?? "");
        const key = this.points.note(c, ts);
        this.pending.push({ c, ts, key, seq: ++this.seq, raw: String(line[2] ?? ""), m: 0, row: null });
        count += 1;
      }
      this.received += count;
      if (this.paused) this.pausedNew += count;
      this.trimPending(false);
      this.schedule();
      if (this.paused) this.updatePause();
    }

    // Keep the pending array within the buffer size: while paused the oldest lines are counted into a
    // skipped marker; otherwise (a background tab gets no animation frames) they would have scrolled out
    // of the buffer anyway. Trimming happens in chunks so the splice is paid rarely.
    trimPending(exact, room = 0) {
      const excess = this.pending.length - (this.cap - room);
      if (excess <= 0 || (!exact && excess < Math.max(256, this.cap >> 2))) return;
      const dropped = this.pending.splice(0, excess);
      const markers = dropped.filter((e) => e.marker);
      const lines = dropped.length - markers.length;
      if (markers.length) this.pending.unshift(...markers);
      if (this.paused) this.pausedDropped += lines;
      else if (lines) this.noteDropped();
    }

    addSkipped(c, count) {
      if (count <= 0) return;
      this.skipped += count;
      const who = this.merged && c ? c + ": " : "";
      // The gap is in this container's stream: right after the last line received from it.
      const text = `${who}${plural(count, "line", "lines")} skipped (the view fell behind)`;
      this.addMarker(c, "log-skipped", text, null, this.points.keyOf(c));
    }

    // A marker row goes at time `key`, after the lines received so far with that time; by default the
    // latest time received, i.e. now, where a restart is seen even if the container had been quiet.
    addMarker(c, cls, text, extra, key = this.points.latest) {
      this.pending.push({ c, key, seq: ++this.seq, marker: cls, text, extra, m: 0, row: null });
      this.schedule();
    }

    notice(msg) {
      const kind = String(msg.kind || "");
      const c = String(msg.container || "");
      const message = String(msg.message || "");
      const who = c ? c + " " : "";
      if (kind === "restarted" || kind === "terminated") {
        if (!this.awaitingReset) {
          // The server's message is a whole sentence naming the container ("producer restarted (restart 2)").
          const text = message || `${who}${NOTICE_TEXT[kind]}`;
          this.addMarker(c, "log-divider", text, kind === "restarted" ? c : null);
        }
        return;
      }
      const text = (c ? c + ": " : "") + (message || NOTICE_TEXT[kind] || kind);
      if ((kind === "deleted" || kind === "not-found") && !this.awaitingReset) {
        this.addMarker(c, "log-notice", text);
      }
      this.noticeText = text;
      if (kind === "started") {
        this.ended.delete(c);
        if (this.statusState === "ended") {
          this.statusState = "open";
          this.statusText = "Following";
        }
      }
      if (kind === "ended" || kind === "deleted") {
        this.ended.add(c);
        const all = !this.merged || this.containerNames.every((name) => this.ended.has(name));
        if (all || kind === "deleted") {
          this.setStatus("ended", "Ended");
          return;
        }
      }
      this.renderStatus();
    }

    // ---- Rendering ---------------------------------------------------------------------------------

    schedule() {
      if (!this.frame && !this.paused && this.pending.length) {
        this.frame = requestAnimationFrame(() => this.flush());
      }
    }

    flush() {
      this.frame = 0;
      if (this.paused || !this.pending.length) return;
      let batch;
      if (this.pending.length > ROWS_PER_FRAME) {
        batch = this.pending.slice(0, ROWS_PER_FRAME);
        this.pending = this.pending.slice(ROWS_PER_FRAME);
      } else {
        batch = this.pending;
        this.pending = [];
      }

      // Frames of different containers interleave in time, so the batch is merged into the tail of the
      // buffer it overlaps (usually empty or a few rows), and new rows are inserted before old ones.
      const entries = this.entries;
      let merged = mergeBatch(entries, batch);

      const overflow = entries.length + merged.length - this.cap;
      if (overflow > 0) {
        this.noteDropped();
        const fromOld = Math.min(overflow, entries.length);
        if (fromOld) {
          // One range over the oldest rows: whole chunks inside it go at once.
          const range = document.createRange();
          range.setStartBefore(entries[0].row);
          range.setEndAfter(entries[fromOld - 1].row);
          range.deleteContents();
          for (let i = 0; i < fromOld; i++) this.forget(entries[i]);
          entries.splice(0, fromOld);
        }
        const fromMerged = overflow - fromOld;
        if (fromMerged) {
          // Rows that would fall off at once are never built.
          for (let i = 0; i < fromMerged; i++) {
            if (merged[i].row) {
              merged[i].row.remove();
              this.forget(merged[i]);
            }
          }
          merged = merged.slice(fromMerged);
        }
        this.dropEmptyChunks();
      }

      // New rows go before the old row they precede (into that row's chunk), the rest at the end.
      let run = [];
      for (const e of merged) {
        if (e.row) {
          if (run.length) {
            const fragment = document.createDocumentFragment();
            fragment.append(...run);
            e.row.parentNode.insertBefore(fragment, e.row);
            run = [];
          }
        } else {
          e.row = this.buildRow(e);
          if (e.m && !this.hidden.has(e.c)) this.matchCount += e.m;
          run.push(e.row);
        }
        entries.push(e);
      }
      if (run.length) this.appendRows(run);

      if (this.searchRe) this.updateMatches();
      if (this.following) this.ui.lines.scrollTop = this.ui.lines.scrollHeight;
      this.schedule(); // the rest of a large backlog
    }

    // Rows live in chunks of CHUNK_ROWS with `content-visibility: auto`, so the browser lays out and paints
    // only the chunks on screen; with one flat list of 10,000 rows every frame re-walked all of them.
    appendRows(rows) {
      const lines = this.ui.lines;
      let chunk = lines.lastElementChild;
      let i = 0;
      while (i < rows.length) {
        if (!chunk || chunk.childElementCount >= CHUNK_ROWS) {
          chunk = document.createElement("div");
          chunk.className = "log-chunk";
          lines.appendChild(chunk);
        }
        const fragment = document.createDocumentFragment();
        const end = Math.min(rows.length, i + CHUNK_ROWS - chunk.childElementCount);
        for (; i < end; i++) fragment.appendChild(rows[i]);
        chunk.appendChild(fragment);
      }
    }

    dropEmptyChunks() {
      const lines = this.ui.lines;
      while (lines.firstElementChild && !lines.firstElementChild.firstElementChild) lines.firstElementChild.remove();
    }

    forget(e) {
      if (e.m && !this.hidden.has(e.c)) this.matchCount -= e.m;
      e.row = null;
    }

    buildRow(e) {
      if (e.marker) return this.buildMarker(e);
      const row = LINE_ROW.cloneNode(true);
      row.className = `log-row log-c${this.colourOf(e.c)}`;
      const ts = row.firstChild;
      const src = ts.nextSibling;
      const text = src.nextSibling;
      ts.textContent = e.key.slice(11, 23); // HH:MM:SS.mmm, UTC
      ts.title = e.ts;
      src.textContent = e.c;
      const parsed = parseLine(e.raw);
      e.plain = parsed.plain;
      e.segs = parsed.segs;
      e.raw = null;
      fillText(text, e, this.searchRe);
      if (this.searchRe && !e.m) row.classList.add("is-nomatch");
      if (this.hidden.has(e.c)) row.classList.add("is-off");
      return row;
    }

    buildMarker(e) {
      const row = document.createElement("div");
      row.className = `log-row log-marker ${e.marker}` + (e.c ? ` log-c${this.colourOf(e.c)}` : "");
      if (this.hidden.has(e.c)) row.classList.add("is-off");
      const text = document.createElement("span");
      text.className = "log-marker-text";
      text.textContent = e.text;
      row.append(text);
      if (e.extra) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "log-show-previous";
        button.dataset.logPrevious = e.extra;
        button.textContent = "show previous instance";
        button.setAttribute("aria-label", `show previous instance of ${e.extra}`);
        row.append(button);
      }
      return row;
    }

    noteDropped() {
      if (this.ui.dropped && this.ui.dropped.hidden) this.ui.dropped.hidden = false;
    }

    // ---- Following the bottom ----------------------------------------------------------------------

    nearBottom() {
      const el = this.ui.lines;
      return el.scrollHeight - el.scrollTop - el.clientHeight <= NEAR_BOTTOM_PX;
    }

    setFollowing(on) {
      if (on === this.following) return;
      this.following = on;
      if (this.ui.jump) this.ui.jump.hidden = on;
    }

    // Only the person stops the following. A scroll event can also come from layout: off-screen chunks keep
    // the height they last had on screen, so the box can grow or shrink under a view pinned to the bottom.
    onScroll() {
      if (this.nearBottom()) this.setFollowing(true);
      else if (this.pointerDown || performance.now() < this.userScrollUntil) this.setFollowing(false);
      else if (this.following) this.ui.lines.scrollTop = this.ui.lines.scrollHeight;
    }

    // Wheel, touch, keys and the scrollbar mark the next second of scroll events as the person's doing.
    onIntent(event) {
      if (event.type === "pointerdown") this.pointerDown = true;
      else if (event.type === "pointerup" || event.type === "pointercancel") this.pointerDown = false;
      else this.userScrollUntil = performance.now() + 1000;
      // Stop following as soon as the wheel turns upwards, before the next frame scrolls back down.
      if (event.type === "wheel" && event.deltaY < 0) this.setFollowing(false);
    }

    stickToBottom() {
      if (this.following) this.ui.lines.scrollTop = this.ui.lines.scrollHeight;
    }

    // ---- Controls ----------------------------------------------------------------------------------

    onEvent(event) {
      const el = event.target;
      if (event.type === "click") {
        const button = el.closest("button");
        if (!button || !this.root.contains(button)) return;
        if (button === this.ui.pause) this.togglePause();
        else if (button === this.ui.smaller) this.stepFont(-1);
        else if (button === this.ui.larger) this.stepFont(1);
        else if (button === this.ui.jump) {
          this.setFollowing(true);
          this.ui.lines.scrollTop = this.ui.lines.scrollHeight;
        } else if (button.dataset.logPrevious !== undefined) this.showPrevious(button.dataset.logPrevious);
        return;
      }
      if (el === this.ui.search) {
        if (event.type !== "input") return;
        clearTimeout(this.searchTimer);
        this.searchTimer = setTimeout(() => this.applySearch(), SEARCH_DELAY_MS);
        return;
      }
      if (event.type !== "change") return;
      if (el.dataset.logToggle !== undefined) this.showContainer(el.dataset.logToggle, el.checked);
      else if ([this.ui.container, this.ui.tail, this.ui.since, this.ui.previous].includes(el)) this.restart();
      else if ([this.ui.timestamps, this.ui.wrap, this.ui.filter].includes(el)) this.applyViewOptions();
    }

    applyViewOptions() {
      const { timestamps, wrap, filter } = this.ui;
      this.root.classList.toggle("show-ts", Boolean(timestamps && timestamps.checked));
      this.root.classList.toggle("is-wrapped", Boolean(wrap && wrap.checked));
      this.root.classList.toggle("is-filtered", Boolean(filter && filter.checked));
      this.updateDownload();
      this.stickToBottom();
    }

    // The diagram's "Logs of <container>" (podscope.js): that container's current log, followed.
    showContainerLog(container) {
      const select = this.ui.container;
      if (!select) return;
      if (!Array.from(select.options).some((o) => o.value === container)) {
        this.addMissingOptions([{ name: container, kind: "" }]);
      }
      const changed = select.value !== container || (this.ui.previous && this.ui.previous.checked);
      select.value = container;
      if (this.ui.previous) this.ui.previous.checked = false;
      this.setFollowing(true);
      if (changed) this.restart();
      else this.stickToBottom();
    }

    showPrevious(container) {
      if (this.ui.container) {
        if (!Array.from(this.ui.container.options).some((o) => o.value === container)) {
          this.addMissingOptions([{ name: container, kind: "" }]);
        }
        this.ui.container.value = container;
      }
      if (this.ui.previous) this.ui.previous.checked = true;
      this.restart();
    }

    updateDownload() {
      const link = this.ui.download;
      if (!link) return;
      const url = new URL(link.getAttribute("href"), window.location.href);
      const options = this.options();
      const params = new URLSearchParams({ container: options.container });
      if (options.since) params.set("since", options.since);
      if (options.previous) params.set("previous", "1");
      if (this.ui.timestamps && this.ui.timestamps.checked) params.set("timestamps", "1");
      url.search = params.toString();
      link.href = url.href;
    }

    togglePause() {
      if (!this.paused) {
        this.paused = true;
        this.updatePause();
        return;
      }
      // Trim while still paused, so what is dropped is counted. Leave room for the skipped marker, which
      // sorts first and would otherwise be the very row the bound drops.
      this.trimPending(true, this.pausedDropped || this.pending.length > this.cap ? 1 : 0);
      if (this.pausedDropped && this.pending.length) {
        // The lines dropped while paused came before the oldest line still pending.
        let first = this.pending[0];
        for (const e of this.pending) if (compareEntries(e, first) < 0) first = e;
        const text = `${plural(this.pausedDropped, "line", "lines")} skipped while paused`;
        this.pending.push({ c: "", key: first.key, seq: first.seq - 0.5, marker: "log-skipped", text, m: 0, row: null });
        this.skipped += this.pausedDropped;
      }
      this.paused = false;
      this.pausedNew = 0;
      this.pausedDropped = 0;
      this.updatePause();
      this.schedule();
    }

    updatePause() {
      const button = this.ui.pause;
      if (!button) return;
      button.setAttribute("aria-pressed", String(this.paused));
      button.textContent = !this.paused ? "Pause" : this.pausedNew ? `Resume (${this.pausedNew.toLocaleString("en")} new)` : "Resume";
      this.root.classList.toggle("is-paused", this.paused);
    }

    // ---- Search ------------------------------------------------------------------------------------

    applySearch() {
      const query = this.ui.search ? this.ui.search.value : "";
      const re = query ? new RegExp(escapeRegExp(query), "gi") : null;
      this.searchRe = re;
      for (const e of this.entries) {
        if (e.marker) continue;
        let matches = false;
        if (re) {
          re.lastIndex = 0;
          matches = re.test(e.plain);
        }
        // Only rows that gain or lose highlights are rebuilt.
        if (matches || e.m) fillText(e.row.lastChild, e, re);
        else e.m = 0;
        e.row.classList.toggle("is-nomatch", Boolean(re) && !e.m);
      }
      this.recountMatches();
      this.stickToBottom();
    }

    recountMatches() {
      let n = 0;
      for (const e of this.entries) if (e.m && !this.hidden.has(e.c)) n += e.m;
      this.matchCount = n;
      this.updateMatches();
    }

    updateMatches() {
      if (!this.ui.matches) return;
      this.ui.matches.textContent = this.searchRe ? plural(this.matchCount, "match", "matches") : "";
    }

    // ---- Text size ---------------------------------------------------------------------------------

    fontKey() {
      return FONT_KEY + (document.body.classList.contains("projector") ? ".projector" : "");
    }

    applyFontSize() {
      const stored = parseInt(readStorage(this.fontKey()), 10);
      if (stored >= FONT_MIN && stored <= FONT_MAX) this.root.style.setProperty("--log-font-size", stored + "px");
      else this.root.style.removeProperty("--log-font-size"); // the stylesheet's default for this mode
      this.updateFontButtons();
      this.stickToBottom();
    }

    // The computed size, since the stylesheet's default is in rem and scales with the page.
    currentFontSize() {
      return parseFloat(getComputedStyle(this.ui.lines).fontSize) || 16;
    }

    stepFont(direction) {
      const size = Math.max(FONT_MIN, Math.min(FONT_MAX, Math.round(this.currentFontSize()) + direction * FONT_STEP));
      this.root.style.setProperty("--log-font-size", size + "px");
      writeStorage(this.fontKey(), String(size));
      this.updateFontButtons();
      this.stickToBottom();
    }

    updateFontButtons() {
      const size = this.currentFontSize();
      if (this.ui.smaller) this.ui.smaller.disabled = size <= FONT_MIN;
      if (this.ui.larger) this.ui.larger.disabled = size >= FONT_MAX;
    }

    // ---- Status ------------------------------------------------------------------------------------

    // The connection's state and, while the stream is up or has ended, the latest container notice.
    setStatus(state, text) {
      this.statusState = state;
      this.statusText = text;
      this.renderStatus();
    }

    renderStatus() {
      const el = this.ui.status;
      if (!el) return;
      const state = this.statusState;
      const withNotice = this.noticeText && (state === "open" || state === "ended");
      const text = withNotice ? `${this.statusText} · ${this.noticeText}` : this.statusText;
      el.dataset.state = state;
      if (el.textContent !== text) el.textContent = text;
    }

    // ---- Public ------------------------------------------------------------------------------------

    stats() {
      return {
        loading: this.awaitingReset, // options sent, the server's view of them not begun yet
        lines: this.entries.length,
        received: this.received,
        skipped: this.skipped,
        rendered: this.ui.lines.getElementsByClassName("log-row").length,
      };
    }

    detach() {
      clearTimeout(this.retryTimer);
      clearTimeout(this.searchTimer);
      cancelAnimationFrame(this.frame);
      this.retryTimer = this.frame = 0;
      const socket = this.socket;
      this.socket = null;
      if (socket) {
        socket.onopen = socket.onmessage = socket.onclose = null;
        if (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN) socket.close(1000);
      }
      this.root.removeEventListener("change", this.onEvent);
      this.root.removeEventListener("input", this.onEvent);
      this.root.removeEventListener("click", this.onEvent);
      this.ui.lines.removeEventListener("scroll", this.onScroll);
      for (const type of INTENT_EVENTS) this.ui.lines.removeEventListener(type, this.onIntent);
      window.removeEventListener("pointerup", this.onIntent);
      window.removeEventListener("pointercancel", this.onIntent);
      window.removeEventListener("online", this.onOnline);
      this.bodyObserver.disconnect();
      if (this.root.logView === this.api) delete this.root.logView;
    }
  }

  function attach(root) {
    if (!root || root.logView) return root && root.logView;
    const view = new LogView(root);
    view.api = {
      stats: () => view.stats(),
      detach: () => view.detach(),
      showContainer: (name) => view.showContainerLog(name),
      // Drop the socket as a network failure would (for tests and the console); the view resumes by itself.
      dropConnection: () => view.dropConnection(),
    };
    root.logView = view.api;
    return view.api;
  }

  function detach(root) {
    if (root && root.logView) root.logView.detach();
  }

  function attachWithin(node) {
    if (!(node instanceof Element)) return;
    if (node.matches("[data-log-socket]")) attach(node);
    node.querySelectorAll("[data-log-socket]").forEach(attach);
  }

  window.PodscopeLogView = { attach, detach };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => attachWithin(document.body));
  } else {
    attachWithin(document.body);
  }
  // Fragments swapped in by htmx later attach too; ones swapped out close their socket.
  document.addEventListener("htmx:load", (event) => attachWithin((event.detail && event.detail.elt) || event.target));
  document.addEventListener("podscope:show-logs", (event) => {
    const container = event.detail && event.detail.container;
    if (!container) return;
    document.querySelectorAll("[data-log-socket]").forEach((root) => {
      if (root.logView) root.logView.showContainer(String(container));
    });
  });
  document.addEventListener("htmx:beforeCleanupElement", (event) => {
    const el = (event.detail && event.detail.elt) || event.target;
    if (el && el.logView) el.logView.detach();
  });
})();
