// Podscope's ANSI colours: log text with SGR escape sequences (ESC[31m, ESC[1;38;5;208m …) as styled runs.
//
// parseLine(raw) splits a raw log line into its plain text and, when it has colours or other SGR styles,
// segments {t, s} of text and style; every other escape sequence and control character is dropped.
// styledSpan(s) makes the empty <span> that shows style `s`. The text itself is never parsed as markup: the
// caller puts it into text nodes. Used by static/js/logview.js.
(function () {
  "use strict";

  // A page that includes the script twice keeps the first copy.
  if (window.PodscopeAnsi) return;

  // One escape sequence: CSI (group 1 parameters, group 2 final byte), OSC ended by BEL or ST, DCS/SOS/PM/APC
  // ended by ST, a two-byte escape, or a lone ESC. Only SGR (CSI … m) is rendered; the rest is dropped.
  const ESCAPE_RE =
    /\x1b(?:\[([\x30-\x3f]*)[\x20-\x2f]*([\x40-\x7e])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[\x20-\x2f]*[\x30-\x7e])?/g;
  // Other control characters (a carriage return from a progress bar, a bell) would render as boxes.
  const CONTROL_RE = /[\x00-\x08\x0a-\x1f\x7f]/g;
  const NEEDS_PARSE_RE = /[\x00-\x08\x0a-\x1f\x7f]/;
  const CUBE = [0, 95, 135, 175, 215, 255];

  function xterm256(n) {
    if (n < 16) return n; // a palette entry, themed by the stylesheet
    if (n < 232) {
      n -= 16;
      return `rgb(${CUBE[Math.floor(n / 36)]}, ${CUBE[Math.floor(n / 6) % 6]}, ${CUBE[n % 6]})`;
    }
    const grey = 8 + 10 * (n - 232);
    return `rgb(${grey}, ${grey}, ${grey})`;
  }

  function byte(value) {
    const n = parseInt(value, 10);
    return Number.isNaN(n) ? 0 : Math.max(0, Math.min(255, n));
  }

  // An extended colour (38/48 followed by 5;n or 2;r;g;b), or undefined if the parameters are malformed.
  function extendedColour(params) {
    if (params[0] === "5" && params.length >= 2) {
      const n = parseInt(params[1], 10);
      return n >= 0 && n <= 255 ? xterm256(n) : undefined;
    }
    if (params[0] === "2" && params.length >= 4) {
      // The colon form may carry a colour-space id first: 38:2::r:g:b.
      const rgb = params.length >= 5 ? params.slice(-3) : params.slice(1, 4);
      return `rgb(${byte(rgb[0])}, ${byte(rgb[1])}, ${byte(rgb[2])})`;
    }
    return undefined;
  }

  // Apply one SGR parameter string ("1;31", "38;5;208", "38:2::255:0:0") to the style state `st`.
  function applySgr(st, params) {
    const groups = params === "" ? ["0"] : params.split(";");
    for (let i = 0; i < groups.length; i++) {
      const group = groups[i];
      let code;
      let extended;
      if (group.includes(":")) {
        const sub = group.split(":");
        code = parseInt(sub[0], 10);
        extended = sub.slice(1);
      } else {
        code = group === "" ? 0 : parseInt(group, 10);
        if (code === 38 || code === 48) {
          const width = groups[i + 1] === "5" ? 2 : groups[i + 1] === "2" ? 4 : 1;
          extended = groups.slice(i + 1, i + 1 + width);
          i += width;
        }
      }
      if (code === 0) {
        st.fg = st.bg = null;
        st.bold = st.dim = st.italic = st.underline = false;
      } else if (code === 1) st.bold = true;
      else if (code === 2) st.dim = true;
      else if (code === 3) st.italic = true;
      else if (code === 4) st.underline = true;
      else if (code === 22) st.bold = st.dim = false;
      else if (code === 23) st.italic = false;
      else if (code === 24) st.underline = false;
      else if (code >= 30 && code <= 37) st.fg = code - 30;
      else if (code >= 90 && code <= 97) st.fg = code - 90 + 8;
      else if (code === 39) st.fg = null;
      else if (code >= 40 && code <= 47) st.bg = code - 40;
      else if (code >= 100 && code <= 107) st.bg = code - 100 + 8;
      else if (code === 49) st.bg = null;
      else if (code === 38 || code === 48) {
        const colour = extendedColour(extended || []);
        if (colour !== undefined) st[code === 38 ? "fg" : "bg"] = colour;
      }
    }
  }

  // The style of a run of text as a span's classes and inline colours, or null for plain text.
  function styleOf(st) {
    const classes = [];
    if (typeof st.fg === "number") classes.push("ansi-fg" + st.fg);
    if (typeof st.bg === "number") classes.push("ansi-bg" + st.bg);
    if (st.bold) classes.push("ansi-bold");
    if (st.dim) classes.push("ansi-dim");
    if (st.italic) classes.push("ansi-italic");
    if (st.underline) classes.push("ansi-underline");
    const fg = typeof st.fg === "string" ? st.fg : "";
    const bg = typeof st.bg === "string" ? st.bg : "";
    if (!classes.length && !fg && !bg) return null;
    return { cls: classes.join(" "), fg, bg };
  }

  function sameStyle(a, b) {
    return a === b || (a !== null && b !== null && a.cls === b.cls && a.fg === b.fg && a.bg === b.bg);
  }

  // Split a raw log line into its plain text and, if it has SGR colours, styled segments {t, s}.
  function parseLine(raw) {
    if (!NEEDS_PARSE_RE.test(raw)) return { plain: raw, segs: null };
    const st = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false };
    const segs = [];
    let style = null;
    let plain = "";
    let at = 0;
    const push = function (text) {
      text = text.replace(CONTROL_RE, "");
      if (!text) return;
      plain += text;
      const last = segs[segs.length - 1];
      if (last && sameStyle(last.s, style)) last.t += text;
      else segs.push({ t: text, s: style });
    };
    ESCAPE_RE.lastIndex = 0;
    let m;
    while ((m = ESCAPE_RE.exec(raw))) {
      push(raw.slice(at, m.index));
      at = ESCAPE_RE.lastIndex;
      // SGR only: a private-mode CSI such as ESC[?25h also ends in a letter but is not a colour.
      if (m[2] === "m" && !/[<=>?]/.test(m[1])) {
        applySgr(st, m[1]);
        style = styleOf(st);
      }
    }
    push(raw.slice(at));
    const styled = segs.some((seg) => seg.s !== null);
    return { plain, segs: styled ? segs : null };
  }

  // An empty span in style `s` of a segment: palette colours and attributes as classes (.ansi-* in
  // logview.css), other colours inline.
  function styledSpan(s) {
    const span = document.createElement("span");
    if (s.cls) span.className = s.cls;
    // CSSOM properties, not a style attribute: no markup is parsed and a strict CSP still allows it.
    if (s.fg) span.style.color = s.fg;
    if (s.bg) span.style.backgroundColor = s.bg;
    return span;
  }

  window.PodscopeAnsi = { parseLine, styledSpan };
})();
