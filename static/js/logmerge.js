// Podscope's log merge: the lines of several containers in one order by time, and where each stream got to.
//
// Entries are objects with a time `key` (timeKey) and an arrival number `seq`; they order by time, then by
// arrival. mergeBatch puts a batch of new entries into the sorted list of those shown, late ones included;
// ResumePoints remembers what a reconnect asks the server to resume from. Used by static/js/logview.js.
(function () {
  "use strict";

  // A page that includes the script twice keeps the first copy.
  if (window.PodscopeLogMerge) return;

  const TS_RE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)$/;

  // RFC3339Nano drops trailing zeros ("…:05.1Z" is later than "…:05.12Z" as a string but earlier in time),
  // so lines are ordered by a key with exactly nine fractional digits in UTC, which sorts as a string.
  function timeKey(ts) {
    const m = TS_RE.exec(ts);
    if (!m) return ts;
    let seconds = m[1];
    if (m[3] !== "Z") {
      const ms = Date.parse(seconds + m[3]);
      if (!Number.isNaN(ms)) seconds = new Date(ms).toISOString().slice(0, 19);
    }
    return seconds + "." + (m[2] || "").padEnd(9, "0");
  }

  // Entries order by time, then by arrival (`seq`), so equal timestamps keep the order they came in.
  function sortsBefore(a, b) {
    return a.key < b.key || (a.key === b.key && a.seq <= b.seq);
  }

  function compareEntries(a, b) {
    if (a.key !== b.key) return a.key < b.key ? -1 : 1;
    return a.seq - b.seq;
  }

  // The index at which `item` goes into the sorted `list`: after every entry that sorts before it. New lines
  // almost always belong at or near the end, so search backwards from there in growing steps first.
  function insertionIndex(list, item) {
    const n = list.length;
    if (n === 0 || sortsBefore(list[n - 1], item)) return n;
    let hi = n - 1; // list[hi] sorts after item
    let step = 1;
    let lo = hi - step;
    while (lo >= 0 && !sortsBefore(list[lo], item)) {
      hi = lo;
      step *= 2;
      lo = hi - step;
    }
    if (lo < -1) lo = -1; // list[lo] sorts before item, or lo is before the start
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (sortsBefore(list[mid], item)) lo = mid;
      else hi = mid;
    }
    return hi;
  }

  function mergeSorted(a, b) {
    const out = new Array(a.length + b.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < a.length && j < b.length) out[k++] = sortsBefore(a[i], b[j]) ? a[i++] : b[j++];
    while (i < a.length) out[k++] = a[i++];
    while (j < b.length) out[k++] = b[j++];
    return out;
  }

  // Merge the non-empty `batch` of new entries (in arrival order) into `entries` (sorted): the batch is
  // sorted, the tail of `entries` that its earliest entry goes before is taken out of `entries`, and that
  // tail and the batch come back merged, in order. Lines of different containers interleave in time, so the
  // tail is usually empty or a few entries.
  function mergeBatch(entries, batch) {
    batch.sort(compareEntries); // stable: equal timestamps keep their arrival order
    const at = insertionIndex(entries, batch[0]);
    return at === entries.length ? batch : mergeSorted(entries.splice(at), batch);
  }

  // Where the log has got to: per container the last timestamp received and how many lines carried exactly
  // it, which a resume tells the server, and the latest time key received from any container.
  class ResumePoints {
    constructor() {
      this.last = new Map(); // container -> {ts, key, n}
      this.latest = "";
    }

    // The time key of a line of container `c` stamped `ts`, noted for the resume. A line without a timestamp
    // takes the latest time received, so it goes after the lines that came before it.
    note(c, ts) {
      const key = ts ? timeKey(ts) : this.latest;
      if (!ts) return key;
      const last = this.last.get(c);
      if (!last) this.last.set(c, { ts, key, n: 1 });
      else if (key === last.key) last.n += 1;
      else if (key > last.key) {
        last.ts = ts;
        last.key = key;
        last.n = 1;
      }
      if (key > this.latest) this.latest = key;
      return key;
    }

    // The time of container `c`'s last line, or the latest of any container if `c` has sent none.
    keyOf(c) {
      const last = this.last.get(c);
      return last ? last.key : this.latest;
    }

    // The `resume` of a `start` frame, {container: [timestamp, lines with exactly it]}; null before any line.
    resume() {
      if (!this.last.size) return null;
      const resume = {};
      for (const [name, last] of this.last) resume[name] = [last.ts, last.n];
      return resume;
    }

    clear() {
      this.last.clear();
      this.latest = "";
    }
  }

  window.PodscopeLogMerge = { timeKey, compareEntries, mergeBatch, ResumePoints };
})();
