// Podscope's terminal replay: plays an asciicast v2 recording in xterm.js (templates/dashboard/audit_replay.html).
//
// The page embeds the recording as JSON ({header, events, idleLimit}); events are [seconds, code, data] with
// code "o" (output) or "r" (resize to "COLSxROWS"). Pauses longer than idleLimit are shortened to it, as
// asciinema's idle_time_limit does, so a terminal left open over lunch replays in seconds. Playback runs on a
// virtual clock: position = where play started + wall time since then × speed; each animation frame writes
// every event up to the position in one go. Seeking back resets the terminal and writes everything up to
// the new position at once. Resets and resizes go through xterm.js's write queue (as write callbacks), so they
// happen in order with the output around them. Recorded output is untrusted, but xterm.js only draws it; it never becomes HTML.
(function () {
  "use strict";

  const FONT_MIN = 10;
  const FONT_MAX = 40;
  const FIT_MAX = 28; // the largest text fitting picks; A+ goes further
  const FIT_READABLE = 14; // fitting the height never goes below this; only a narrow window does
  const FONT_KEY = "podscope.replay.fontSize";
  const STEP_SECONDS = 5;
  const SPEEDS = [1, 2, 4];

  function formatTime(seconds) {
    const whole = Math.floor(Math.max(0, seconds));
    const h = Math.floor(whole / 3600);
    const m = Math.floor((whole % 3600) / 60);
    const s = String(whole % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  }

  // The recording's events on the replay's own timeline: gaps over `limit` shortened to `limit`.
  function timeline(events, limit) {
    const frames = [];
    let at = 0;
    let previous = 0;
    for (const [time, code, data] of events) {
      if (code !== "o" && code !== "r") continue;
      at += Math.min(Math.max(0, time - previous), limit);
      previous = time;
      frames.push({ at, code, data });
    }
    return frames;
  }

  function parseSize(text) {
    const m = /^(\d+)x(\d+)$/.exec(text);
    return m ? { cols: Math.max(2, Number(m[1])), rows: Math.max(1, Number(m[2])) } : null;
  }

  function storedFontSize() {
    try {
      const value = Number(window.localStorage.getItem(FONT_KEY));
      return value >= FONT_MIN && value <= FONT_MAX ? value : null;
    } catch {
      return null; // storage refused (private mode, policy): fall back to fitting the width
    }
  }

  function storeFontSize(value) {
    try {
      window.localStorage.setItem(FONT_KEY, String(value));
    } catch {
      // nothing to do: the size still applies to this page
    }
  }

  class Player {
    constructor(root, cast) {
      this.root = root;
      this.header = cast.header;
      const limit = Number(cast.idleLimit) || 2;
      const own = Number(this.header.idle_time_limit);
      this.frames = timeline(cast.events, own > 0 ? Math.min(own, limit) : limit);
      this.duration = this.frames.length ? this.frames[this.frames.length - 1].at : 0;
      this.index = 0; // next frame to write
      this.position = 0; // seconds on the replay's timeline
      this.speed = 1;
      this.playing = false;
      this.anchor = null; // {wall, position} when play (or a speed change) last started the clock
      this.raf = 0;
      this.dragging = false;
      this.autoFit = false;

      this.screen = root.querySelector("[data-replay-screen]");
      this.playButton = root.querySelector("[data-replay-play]");
      this.seek = root.querySelector("[data-replay-seek]");
      this.time = root.querySelector("[data-replay-time]");
      this.seek.max = String(this.duration);

      this.term = new window.Terminal({
        cols: this.header.width,
        rows: this.header.height,
        disableStdin: true,
        cursorBlink: false,
        scrollback: 5000,
        fontSize: storedFontSize() || 18,
        fontFamily: getComputedStyle(document.documentElement).getPropertyValue("--font-mono") || "monospace",
      });
      this.term.open(this.screen);
      // Fitted to the window until the viewer picks a text size with A− or A+ (remembered for next time).
      this.autoFit = !storedFontSize();
      if (this.autoFit) this.fit();
      this.bind();
      this.render();
    }

    bind() {
      this.playButton.addEventListener("click", () => (this.playing ? this.pause() : this.play()));
      this.root.querySelector("[data-replay-restart]").addEventListener("click", () => {
        this.seekTo(0);
        this.play();
      });
      for (const button of this.root.querySelectorAll("[data-replay-speed]")) {
        button.addEventListener("click", () => this.setSpeed(Number(button.dataset.replaySpeed)));
      }
      for (const button of this.root.querySelectorAll("[data-replay-font]")) {
        button.addEventListener("click", () => this.setFontSize(this.term.options.fontSize + Number(button.dataset.replayFont)));
      }
      this.seek.addEventListener("input", () => this.seekTo(Number(this.seek.value)));
      // While the slider is held, playback must not move it out from under the pointer.
      this.seek.addEventListener("pointerdown", () => (this.dragging = true));
      for (const type of ["pointerup", "pointercancel", "change"]) {
        this.seek.addEventListener(type, () => (this.dragging = false));
      }
      document.addEventListener("keydown", (event) => this.onKey(event));
      let pending = 0;
      window.addEventListener("resize", () => {
        if (!this.autoFit || pending) return;
        pending = requestAnimationFrame(() => {
          pending = 0;
          this.fit();
        });
      });
    }

    onKey(event) {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      // Buttons, links and the slider handle their own keys; the terminal's hidden textarea is the player's.
      const target = event.target;
      if (target.closest("button, input, select, a, [contenteditable]")) return;
      if (target.matches("textarea") && !target.classList.contains("xterm-helper-textarea")) return;
      if (event.key === " " || event.key === "k") {
        event.preventDefault();
        this.playing ? this.pause() : this.play();
      } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
        event.preventDefault();
        this.seekTo(this.position + (event.key === "ArrowRight" ? STEP_SECONDS : -STEP_SECONDS));
      }
    }

    // The largest text (up to FIT_MAX) at which the recorded columns fit the page's width and the rows fit the
    // window below the controls, so a projector shows the whole terminal without scrolling.
    fit() {
      const stage = this.root.querySelector(".replay-stage");
      const style = getComputedStyle(stage);
      const padX = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
      const padY = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
      // The stage shrinks to the terminal, so the room is the player's width, less the stage's padding and border.
      const roomX = this.root.clientWidth - padX - (stage.offsetWidth - stage.clientWidth);
      const roomY = window.innerHeight - stage.getBoundingClientRect().top - padY - 16;
      const measured = this.screenSize();
      if (!measured.width || !measured.height || roomX <= 0) return;
      const size = this.term.options.fontSize;
      const byWidth = Math.floor((size * roomX) / measured.width);
      // A short window makes the page scroll rather than the text unreadable.
      const byHeight = Math.max(FIT_READABLE, Math.floor((size * roomY) / measured.height));
      let next = Math.max(FONT_MIN, Math.min(FIT_MAX, byWidth, byHeight));
      this.term.options.fontSize = next;
      // Glyph widths do not scale exactly with the size: step down until it really fits.
      while (next > FONT_MIN && this.screenSize().width > roomX) {
        next -= 1;
        this.term.options.fontSize = next;
      }
    }

    screenSize() {
      const screen = this.screen.querySelector(".xterm-screen");
      return screen ? screen.getBoundingClientRect() : { width: 0, height: 0 };
    }

    setFontSize(size) {
      this.autoFit = false;
      const value = Math.min(FONT_MAX, Math.max(FONT_MIN, size));
      this.term.options.fontSize = value;
      storeFontSize(value);
    }

    setSpeed(speed) {
      if (!SPEEDS.includes(speed)) return;
      this.clock(); // bank the time played at the old speed
      this.speed = speed;
      for (const button of this.root.querySelectorAll("[data-replay-speed]")) {
        button.setAttribute("aria-pressed", String(Number(button.dataset.replaySpeed) === speed));
      }
    }

    play() {
      if (this.playing) return;
      if (this.position >= this.duration) this.seekTo(0);
      this.playing = true;
      this.anchor = { wall: performance.now(), position: this.position };
      this.raf = requestAnimationFrame(() => this.tick());
      this.render();
    }

    pause() {
      if (!this.playing) return;
      this.clock();
      this.playing = false;
      cancelAnimationFrame(this.raf);
      this.render();
    }

    // Move the position to where the clock says, and restart the clock from there.
    clock() {
      if (!this.playing || !this.anchor) return;
      const now = performance.now();
      this.position = Math.min(this.duration, this.anchor.position + ((now - this.anchor.wall) / 1000) * this.speed);
      this.anchor = { wall: now, position: this.position };
    }

    tick() {
      if (!this.playing) return;
      this.clock();
      this.writeUpTo(this.position);
      if (this.position >= this.duration && this.index >= this.frames.length) {
        this.playing = false;
        this.render();
        return;
      }
      this.render();
      this.raf = requestAnimationFrame(() => this.tick());
    }

    seekTo(seconds) {
      const target = Math.min(this.duration, Math.max(0, seconds));
      if (target < this.position || (target === 0 && this.index > 0)) {
        // Queued behind output xterm.js has not parsed yet, so none of that lands on the cleared screen.
        this.term.write("", () => {
          this.term.reset();
          this.term.resize(this.header.width, this.header.height);
          if (this.autoFit) this.fit();
        });
        this.index = 0;
      }
      this.position = target;
      if (this.playing) this.anchor = { wall: performance.now(), position: target };
      this.writeUpTo(target);
      this.render();
    }

    // Write every frame due by `position`: output joined into one write, resizes applied in order.
    writeUpTo(position) {
      let text = "";
      while (this.index < this.frames.length && this.frames[this.index].at <= position) {
        const frame = this.frames[this.index++];
        if (frame.code === "o") {
          text += frame.data;
        } else {
          const size = parseSize(frame.data);
          if (!size) continue;
          // Resize after the output before it has been parsed, not before.
          this.term.write(text, () => {
            this.term.resize(size.cols, size.rows);
            if (this.autoFit) this.fit();
          });
          text = "";
        }
      }
      if (text) this.term.write(text);
    }

    render() {
      const ended = !this.playing && this.duration > 0 && this.position >= this.duration;
      this.playButton.textContent = this.playing ? "Pause" : ended ? "Play again" : "Play";
      this.root.dataset.state = this.playing ? "playing" : ended ? "ended" : "paused";
      this.time.textContent = `${formatTime(this.position)} / ${formatTime(this.duration)}`;
      if (!this.dragging) this.seek.value = String(this.position);
    }
  }

  function start() {
    const root = document.querySelector("[data-replay]");
    const data = document.getElementById("replay-cast");
    if (!root || !data || typeof window.Terminal !== "function") return;
    window.podscopeReplay = new Player(root, JSON.parse(data.textContent));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
