// A terminal in a container: xterm.js on one exec websocket (see dashboard/sockets/terminals.py ExecConsumer).
//
// Frames: binary both ways for keystrokes and output; JSON text for resize, ping (from here) and started,
// notice, error, exit, pong (from the server).
(function () {
  "use strict";

  const root = document.querySelector("[data-terminal]");
  if (!root || !window.Terminal) return;

  // What each close code means is in dashboard/sockets/codes.py; these are the sentences this page shows.
  const CLOSE_REASONS = {
    1001: "Podscope stopped, so the command in the container was ended. Reload the page when it is back.",
    1009: "A message was too large for Podscope, so the terminal was closed.",
    1011: "Podscope failed while serving this terminal. Reload the page.",
    4400: "Podscope could not read a message from this page. Reload the page.",
    4401: "You are signed out. Reload the page to sign in again.",
    4403: "You do not have the permission to open terminals.",
    4404: "Not found.",
    4429: "Too many terminals are open.",
  };
  const FONT_KEY = "podscope.terminal.font";
  const PROJECTOR_FONT = 26;
  const encoder = new TextEncoder();

  const form = root.querySelector("[data-terminal-form]");
  const status = root.querySelector("[data-terminal-status]");
  const where = root.querySelector("[data-terminal-where]");
  const ended = root.querySelector("[data-terminal-ended]");
  const endedText = root.querySelector("[data-terminal-ended-text]");
  const stopButton = root.querySelector("[data-terminal-stop]");
  const startButton = root.querySelector("[data-terminal-start]");
  const screen = root.querySelector("[data-terminal-screen]");
  const commandField = root.querySelector("[data-terminal-command]");
  const keepalive = Math.max(0.2, parseFloat(root.dataset.keepalive) || 20) * 1000;

  let fontSize = parseInt(localStorage.getItem(FONT_KEY), 10) || 16;
  const term = new window.Terminal({
    cursorBlink: true,
    fontFamily: '"DejaVu Sans Mono", "Liberation Mono", ui-monospace, Menlo, Consolas, monospace',
    fontSize: currentFont(),
    scrollback: 5000,
    convertEol: false,
    theme: {
      background: "#0b1020",
      foreground: "#e8edf7",
      cursor: "#8fb5ff",
      selectionBackground: "#3d5a99",
    },
  });
  const fit = new window.FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(screen);
  sizeScreen();

  let socket = null;
  let pinger = null;
  let maxInput = 64 * 1024;
  let session = 0; // which connection the handlers belong to; an old socket's late events are ignored

  function currentFont() {
    return document.body.classList.contains("projector") ? Math.max(fontSize, PROJECTOR_FONT) : fontSize;
  }

  function fitNow() {
    try {
      fit.fit();
    } catch (e) {
      // Hidden or zero-sized: the next resize fits it.
    }
  }

  // The terminal takes the window's height below the bar, whatever the bar's height (it wraps on narrow
  // windows). Set from the window, never from xterm's content, so fitting cannot feed back into it.
  function sizeScreen() {
    const top = screen.getBoundingClientRect().top + window.scrollY;
    const below = parseFloat(getComputedStyle(document.querySelector("main")).paddingBottom) || 16;
    screen.style.height = Math.max(288, Math.floor(window.innerHeight - top - below)) + "px";
    fitNow();
  }

  function setStatus(text, state) {
    status.textContent = text;
    status.dataset.state = state;
  }

  function running() {
    return socket !== null && socket.readyState === WebSocket.OPEN;
  }

  function showEnded(text) {
    endedText.textContent = text;
    ended.hidden = false;
    stopButton.hidden = true;
    startButton.hidden = false;
  }

  function send(data) {
    if (!running()) return;
    // Pastes larger than the server takes in one frame go in pieces.
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    for (let at = 0; at < bytes.length; at += maxInput) socket.send(bytes.subarray(at, at + maxInput));
  }

  function sendJSON(message) {
    if (running()) socket.send(JSON.stringify(message));
  }

  function connect() {
    disconnect();
    const params = new URLSearchParams();
    const data = new FormData(form);
    params.set("container", data.get("container") || "");
    params.set("command", data.get("shell") === "custom" ? String(data.get("command") || "").trim() || "auto" : "auto");
    fitNow();
    params.set("cols", String(cells(term.cols)));
    params.set("rows", String(cells(term.rows)));
    // The socket address carries the page's token already; the terminal's own parameters are added to it.
    const url = new URL(root.dataset.socketUrl, window.location.href);
    url.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
    params.forEach(function (value, key) {
      url.searchParams.set(key, value);
    });
    const mine = ++session;
    let exited = false;
    where.textContent = params.get("container");
    ended.hidden = true;
    stopButton.hidden = false;
    // While a session runs, Connect comes back only when the form changes (another container or command).
    startButton.hidden = true;
    term.reset();
    setStatus("Connecting to " + params.get("container") + "…", "connecting");
    socket = new WebSocket(url.href);
    socket.binaryType = "arraybuffer";
    socket.onmessage = function (event) {
      if (mine !== session) return;
      if (typeof event.data !== "string") {
        term.write(new Uint8Array(event.data));
        return;
      }
      const message = JSON.parse(event.data);
      if (message.type === "started") {
        maxInput = message.maxInput || maxInput;
        setStatus("Connected: " + message.command + " in " + message.container, "open");
        term.focus();
      } else if (message.type === "notice") {
        term.write("\r\n\x1b[33m" + message.message + "\x1b[0m\r\n");
      } else if (message.type === "error") {
        exited = true;
        setStatus("Refused", "refused");
        showEnded(message.message);
      } else if (message.type === "exit") {
        exited = true;
        const how = message.code === null ? "ended: " + message.message : "exited with code " + message.code;
        setStatus(message.code === null ? "Ended" : "Ended: exit code " + message.code, message.code === 0 ? "idle" : "ended");
        term.write("\r\n\x1b[2m[the command " + how + "]\x1b[0m\r\n");
        showEnded("The command " + how + ".");
      }
    };
    socket.onclose = function (event) {
      if (mine !== session) return;
      stopPinging();
      socket = null;
      if (exited) return;
      setStatus("Connection lost", "closed");
      const reason = CLOSE_REASONS[event.code];
      showEnded(reason || "The connection to Podscope was lost; the command in the container was ended.");
    };
    socket.onopen = function () {
      stopPinging();
      // Some proxies close a websocket that is quiet for a minute; a small message now and then keeps it open.
      pinger = window.setInterval(function () {
        sendJSON({ type: "ping" });
      }, keepalive);
    };
  }

  function stopPinging() {
    if (pinger !== null) window.clearInterval(pinger);
    pinger = null;
  }

  function disconnect() {
    session++;
    stopPinging();
    if (socket !== null) socket.close(1000);
    socket = null;
  }

  term.onData(function (data) {
    send(data);
  });
  term.onBinary(function (data) {
    const bytes = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 0xff;
    send(bytes);
  });
  // The server takes sizes from 1 to 1000 cells (dashboard/terminals.py MAX_CELLS).
  function cells(n) {
    return Math.max(1, Math.min(1000, n));
  }

  term.onResize(function (size) {
    sendJSON({ type: "resize", cols: cells(size.cols), rows: cells(size.rows) });
  });

  // Ctrl+Shift+C and Ctrl+Shift+V copy and paste as in desktop terminals; Ctrl+C with a selection copies it
  // instead of interrupting, as Windows Terminal does.
  term.attachCustomKeyEventHandler(function (event) {
    if (event.type !== "keydown") return true;
    const key = event.key.toLowerCase();
    if (event.ctrlKey && event.shiftKey && key === "c") {
      copySelection();
      return false;
    }
    if (event.ctrlKey && event.shiftKey && key === "v") {
      pasteClipboard();
      event.preventDefault();
      return false;
    }
    if (event.ctrlKey && !event.shiftKey && key === "c" && term.hasSelection()) {
      copySelection();
      return false;
    }
    return true;
  });

  function copySelection() {
    const text = term.getSelection();
    if (text && navigator.clipboard) navigator.clipboard.writeText(text).catch(function () {});
    term.focus();
  }

  function pasteClipboard() {
    if (!navigator.clipboard || !navigator.clipboard.readText) {
      setStatus("This browser lets pages paste only with Ctrl+V", status.dataset.state);
      return;
    }
    navigator.clipboard
      .readText()
      .then(function (text) {
        if (text) term.paste(text);
        term.focus();
      })
      .catch(function () {
        term.focus();
      });
  }

  function setFont(size) {
    fontSize = Math.min(40, Math.max(9, size));
    localStorage.setItem(FONT_KEY, String(fontSize));
    term.options.fontSize = currentFont();
    fitNow();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    connect();
  });
  form.addEventListener("input", function () {
    if (running()) startButton.hidden = false;
  });
  form.addEventListener("change", function (event) {
    if (running()) startButton.hidden = false;
    if (event.target.name === "shell") {
      commandField.hidden = event.target.value !== "custom";
      if (!commandField.hidden) commandField.querySelector("input").focus();
    }
  });
  root.addEventListener("click", function (event) {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.matches("[data-terminal-stop]")) {
      disconnect();
      setStatus("Disconnected", "idle");
      showEnded("Disconnected; the command in the container was ended.");
    } else if (button.matches("[data-terminal-restart]")) connect();
    else if (button.matches("[data-terminal-copy]")) copySelection();
    else if (button.matches("[data-terminal-paste]")) pasteClipboard();
    else if (button.dataset.terminalFont) setFont(fontSize + parseInt(button.dataset.terminalFont, 10));
  });

  // Follow the window (and projector mode, which changes the font) with the terminal's size.
  new ResizeObserver(fitNow).observe(screen);
  new ResizeObserver(sizeScreen).observe(form);
  window.addEventListener("resize", sizeScreen);
  const projectorLink = root.querySelector("[data-projector-toggle]");
  function followProjector() {
    const on = document.body.classList.contains("projector");
    projectorLink.textContent = on ? "Exit projector" : "Projector";
    term.options.fontSize = currentFont();
    sizeScreen();
  }
  new MutationObserver(followProjector).observe(document.body, { attributes: true, attributeFilter: ["class"] });
  followProjector();
  window.addEventListener("beforeunload", disconnect);

  // What tests and the benchmark read: the visible rows as text.
  root.terminal = {
    text: function () {
      const buffer = term.buffer.active;
      const lines = [];
      for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true));
      return lines.join("\n");
    },
    size: function () {
      return { cols: term.cols, rows: term.rows, fontSize: term.options.fontSize };
    },
  };

  if (root.dataset.autostart === "1") connect();
  else setStatus("Not connected", "idle");
})();
