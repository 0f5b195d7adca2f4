"""The log view's parts on their own, in a real browser: static/js/ansi.js and static/js/logmerge.js.

Each script is loaded alone into a blank page under Podscope's Content-Security-Policy, and its API (one
global each) is called directly. The whole view is tested in test_logview_unit.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.dashboard.e2e.browser import CSP_REPORT, ORIGIN, serve

# A page of Podscope's with nothing on it but the script under test, loaded as the pod page loads it.
BLANK = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Blank</title>{script}</head>
<body></body>
</html>"""

Run = list[str]  # [text, style]: the style's classes and inline colours ("fg=…", "bg=…"), "" for plain text
Line = tuple[str, str, str]  # container, timestamp ("" for none), text


def open_blank(browser: Browser, errors: list[str], script: str | None) -> Page:
    """The blank page with static/js/`script` (or no script); errors and refusals of the policy go to `errors`."""
    page = browser.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if CSP_REPORT in message.text else None)
    tag = f'<script src="/static/js/{script}" defer></script>' if script else ""
    serve(page, BLANK.format(script=tag))
    page.goto(ORIGIN + "/")
    return page


def loaded(browser: Browser, script: str) -> Iterator[Page]:
    errors: list[str] = []
    page = open_blank(browser, errors, script)
    try:
        yield page
    finally:
        page.close()
    assert errors == []


@pytest.fixture(scope="module")
def ansi(browser: Browser) -> Iterator[Page]:
    """A blank page with static/js/ansi.js alone, shared by the tests of this module."""
    yield from loaded(browser, "ansi.js")


@pytest.fixture(scope="module")
def merge(browser: Browser) -> Iterator[Page]:
    """A blank page with static/js/logmerge.js alone, shared by the tests of this module."""
    yield from loaded(browser, "logmerge.js")


@pytest.mark.parametrize(
    ("script", "name", "api"),
    [
        ("ansi.js", "PodscopeAnsi", ["parseLine", "styledSpan"]),
        ("logmerge.js", "PodscopeLogMerge", ["timeKey", "compareEntries", "mergeBatch", "ResumePoints"]),
    ],
)
def test_each_part_adds_one_global(browser: Browser, script: str, name: str, api: list[str]) -> None:
    errors: list[str] = []
    pages = [open_blank(browser, errors, None), open_blank(browser, errors, script)]
    try:
        without, with_script = (set(page.evaluate("Object.keys(window)")) for page in pages)
        assert with_script - without == {name}
        assert pages[1].evaluate(f"Object.keys(window.{name})") == api
    finally:
        for page in pages:
            page.close()
    assert errors == []


# ---- ANSI -------------------------------------------------------------------------------------------------

ESC = "\x1b"

PARSE = """raw => {
  const { plain, segs } = window.PodscopeAnsi.parseLine(raw);
  const describe = (s) =>
    s === null ? "" : [s.cls, s.fg && "fg=" + s.fg, s.bg && "bg=" + s.bg].filter(Boolean).join(" ");
  return { plain, runs: segs && segs.map((seg) => [seg.t, describe(seg.s)]) };
}"""


def parse(page: Page, raw: str) -> tuple[str, list[Run] | None]:
    """parseLine(raw): the plain text, and the styled runs or None when the line has no style at all."""
    result: dict[str, Any] = page.evaluate(PARSE, raw)
    return result["plain"], result["runs"]


def sgr(params: str, text: str = "x") -> str:
    """`text` in the style of SGR `params`, then reset."""
    return f"{ESC}[{params}m{text}{ESC}[0m"


@pytest.mark.parametrize("code", range(30, 38))
def test_the_eight_colours_are_palette_classes(ansi: Page, code: int) -> None:
    assert parse(ansi, sgr(str(code)) + "y") == ("xy", [["x", f"ansi-fg{code - 30}"], ["y", ""]])


@pytest.mark.parametrize("code", range(90, 98))
def test_the_bright_colours_are_the_palettes_second_half(ansi: Page, code: int) -> None:
    assert parse(ansi, sgr(str(code))) == ("x", [["x", f"ansi-fg{code - 90 + 8}"]])


@pytest.mark.parametrize(("code", "index"), [(40, 0), (47, 7), (100, 8), (107, 15)])
def test_backgrounds_are_palette_classes_too(ansi: Page, code: int, index: int) -> None:
    assert parse(ansi, sgr(str(code))) == ("x", [["x", f"ansi-bg{index}"]])


@pytest.mark.parametrize(
    ("n", "style"),
    [
        (1, "ansi-fg1"),  # the first 16 are the themed palette
        (15, "ansi-fg15"),
        (16, "fg=rgb(0, 0, 0)"),  # then a 6x6x6 cube
        (21, "fg=rgb(0, 0, 255)"),
        (196, "fg=rgb(255, 0, 0)"),
        (208, "fg=rgb(255, 135, 0)"),
        (231, "fg=rgb(255, 255, 255)"),
        (232, "fg=rgb(8, 8, 8)"),  # and 24 greys
        (255, "fg=rgb(238, 238, 238)"),
    ],
)
def test_256_colours(ansi: Page, n: int, style: str) -> None:
    assert parse(ansi, sgr(f"38;5;{n}")) == ("x", [["x", style]])


@pytest.mark.parametrize(
    ("params", "style"),
    [
        ("38;2;0;160;120", "fg=rgb(0, 160, 120)"),
        ("48;2;1;2;3", "bg=rgb(1, 2, 3)"),
        ("38;2;300;0;999", "fg=rgb(255, 0, 255)"),  # out of range: clamped
        ("38:2::255:128:0", "fg=rgb(255, 128, 0)"),  # the colon form, with an empty colour space
        ("38:2:10:20:30", "fg=rgb(10, 20, 30)"),  # the colon form without it
        ("38:5:208", "fg=rgb(255, 135, 0)"),
        ("48;5;208", "bg=rgb(255, 135, 0)"),
        ("38;5;208;1", "ansi-bold fg=rgb(255, 135, 0)"),  # parameters after an extended colour still count
        ("38;2;1;2;3;48;5;4", "ansi-bg4 fg=rgb(1, 2, 3)"),
    ],
)
def test_true_colours_and_extended_forms(ansi: Page, params: str, style: str) -> None:
    assert parse(ansi, sgr(params)) == ("x", [["x", style]])


@pytest.mark.parametrize(
    ("raw", "runs"),
    [
        (f"{ESC}[1mbold{ESC}[0m plain", [["bold", "ansi-bold"], [" plain", ""]]),
        (f"{ESC}[1;31mA{ESC}[22mB{ESC}[39mC", [["A", "ansi-fg1 ansi-bold"], ["B", "ansi-fg1"], ["C", ""]]),
        (
            f"{ESC}[2;3;4mx{ESC}[23;24my{ESC}[22mz",
            [["x", "ansi-dim ansi-italic ansi-underline"], ["y", "ansi-dim"], ["z", ""]],
        ),
        (f"{ESC}[97;41m hi {ESC}[49m!", [[" hi ", "ansi-fg15 ansi-bg1"], ["!", "ansi-fg15"]]),
        (f"{ESC}[31mred{ESC}[mplain", [["red", "ansi-fg1"], ["plain", ""]]),  # no parameters: a reset
        (f"{ESC}[31mred{ESC}[;mplain", [["red", "ansi-fg1"], ["plain", ""]]),  # an empty one is 0
        (f"{ESC}[31mre{ESC}[31md{ESC}[0m", [["red", "ansi-fg1"]]),  # the same style twice: one run
        (f"{ESC}[1mA{ESC}[32mB", [["A", "ansi-bold"], ["B", "ansi-fg2 ansi-bold"]]),  # styles add up
    ],
    ids=["bold-reset", "bold-colour-off", "dim-italic-underline", "bright-on-red", "empty", "0", "joined", "adds-up"],
)
def test_attributes_and_resets(ansi: Page, raw: str, runs: list[Run]) -> None:
    plain, got = parse(ansi, raw)
    assert plain == "".join(text for text, _ in runs)
    assert got == runs


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("plain text <i>", "plain text <i>"),
        (f"{ESC}[31m{ESC}[39mno style left", "no style left"),
        (f"{ESC}[31m{ESC}[0m", ""),
        (f"abc{ESC}", "abc"),  # a lone ESC at the end
        (f"abc{ESC}[31", "abc31"),  # an unterminated CSI: ESC [ goes, the rest is text
        (f"{ESC}]0;no end", "0;no end"),  # an unterminated OSC likewise
        (f"{ESC}[38;5mx", "x"),  # 256 colours without the colour
        (f"{ESC}[38;5;256mx", "x"),  # out of range
        (f"{ESC}[38;2;1;2mx", "x"),  # true colour missing blue
        (f"{ESC}[38mx", "x"),
        (f"{ESC}[999mx", "x"),  # an unknown code
        (f"{ESC}[?25lx{ESC}[?25h", "x"),  # private modes (the cursor) are not colours
        (f"{ESC}[>4;1mx", "x"),  # even one that ends in m (xterm's key modifiers), though 1 is bold
        (f"{ESC}[2Jx{ESC}[Hy", "xy"),  # other CSI sequences are dropped
        (f"{ESC}]0;window title\x07x", "x"),  # OSC ended by BEL
        (f"{ESC}]8;;https://example.com{ESC}\\link{ESC}]8;;{ESC}\\", "link"),  # OSC ended by ST
        (f"{ESC}Pdevice control{ESC}\\x", "x"),
        (f"{ESC}(Bx", "x"),  # a charset switch
        ("50%\r100%\x07", "50%100%"),  # carriage returns and bells
        ("a\x00b\x7fc\x1fd", "abcd"),
        ("a\tb", "a\tb"),  # tabs stay
    ],
)
def test_malformed_and_other_sequences_leave_plain_text(ansi: Page, raw: str, plain: str) -> None:
    assert parse(ansi, raw) == (plain, None)


def test_controls_inside_a_styled_run_are_dropped(ansi: Page) -> None:
    assert parse(ansi, f"{ESC}{ESC}[31mA\rB{ESC}[0m\x07") == ("AB", [["AB", "ansi-fg1"]])


RENDER = """raw => {
  const { parseLine, styledSpan } = window.PodscopeAnsi;
  const el = document.createElement("div");
  for (const seg of parseLine(raw).segs) (seg.s ? el.appendChild(styledSpan(seg.s)) : el).append(seg.t);
  return el.innerHTML;
}"""


def test_markup_in_a_line_stays_text(ansi: Page) -> None:
    raw = f'{ESC}[31m<b>bold?</b>{ESC}[0m & <img src=x onerror="window.pwned = 1">'
    plain, runs = parse(ansi, raw)
    assert plain == '<b>bold?</b> & <img src=x onerror="window.pwned = 1">'
    assert runs == [["<b>bold?</b>", "ansi-fg1"], [' & <img src=x onerror="window.pwned = 1">', ""]]
    # Rendered as logview.js does, into text nodes: styledSpan only ever makes an empty span.
    assert ansi.evaluate(RENDER, raw) == (
        '<span class="ansi-fg1">&lt;b&gt;bold?&lt;/b&gt;</span> &amp; &lt;img src=x onerror="window.pwned = 1"&gt;'
    )
    assert ansi.evaluate("window.pwned") is None


def test_a_styled_span_carries_classes_and_colours_only(ansi: Page) -> None:
    html = ansi.evaluate(
        """() => [
          window.PodscopeAnsi.styledSpan({ cls: "ansi-bold", fg: "rgb(255, 135, 0)", bg: "rgb(1, 2, 3)" }).outerHTML,
          window.PodscopeAnsi.styledSpan({ cls: "ansi-fg1", fg: "", bg: "" }).outerHTML,
        ]"""
    )
    assert html == [
        '<span class="ansi-bold" style="color: rgb(255, 135, 0); background-color: rgb(1, 2, 3);"></span>',
        '<span class="ansi-fg1"></span>',
    ]


# ---- Merge by time ----------------------------------------------------------------------------------------


def ts(seconds: str) -> str:
    """A timestamp within one minute, written as the server would: ts("01.5") is 09:30:01.5."""
    return f"2025-01-14T09:30:{seconds}Z"


def nth(n: int, fraction: str = ".5") -> str:
    """The timestamp `n` seconds after 09:30, with `fraction`."""
    when = datetime(2025, 1, 14, 9, 30, tzinfo=UTC) + timedelta(seconds=n)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


@pytest.mark.parametrize(
    ("timestamp", "key"),
    [
        (ts("05"), "2025-01-14T09:30:05.000000000"),
        (ts("05.1"), "2025-01-14T09:30:05.100000000"),
        (ts("05.12"), "2025-01-14T09:30:05.120000000"),
        (ts("05.123456789"), "2025-01-14T09:30:05.123456789"),
        ("2025-01-14T10:30:05.5+01:00", "2025-01-14T09:30:05.500000000"),
        ("2025-01-14T04:00:05-05:30", "2025-01-14T09:30:05.000000000"),
        ("2025-01-15T00:30:05+01:00", "2025-01-14T23:30:05.000000000"),  # the day changes too
        ("not a time", "not a time"),
        (ts("05.1234567891"), ts("05.1234567891")),  # more than nanoseconds: left as it is
    ],
)
def test_time_keys_have_nine_digits_in_utc(merge: Page, timestamp: str, key: str) -> None:
    assert merge.evaluate("ts => window.PodscopeLogMerge.timeKey(ts)", timestamp) == key


ARRIVE = """batches => {
  const { mergeBatch, ResumePoints } = window.PodscopeLogMerge;
  const points = new ResumePoints();
  const shown = [];
  let seq = 0;
  for (const batch of batches) {
    const entries = batch.map(([c, ts, text]) => ({ key: points.note(c, ts), seq: ++seq, text }));
    shown.push(...mergeBatch(shown, entries));
  }
  return { order: shown.map((e) => e.text), resume: points.resume() };
}"""


def arrive(page: Page, *batches: list[Line]) -> list[str]:
    """The order of the lines after `batches` arrived one after another, merged as the log view merges them."""
    return page.evaluate(ARRIVE, [[list(line) for line in batch] for batch in batches])["order"]


def resume(page: Page, *batches: list[Line]) -> dict[str, list[Any]] | None:
    """The `resume` a reconnect would send after `batches`."""
    return page.evaluate(ARRIVE, [[list(line) for line in batch] for batch in batches])["resume"]


def test_precision_orders_by_time_not_by_text(merge: Page) -> None:
    # As text, "05.12Z" < "05.1Z" and "05.1Z" < "05Z": RFC3339Nano trims trailing zeros.
    stamps = ["05.1", "05", "05.12", "04.999999999", "06", "05.000000001", "05.100000001"]
    order = ["04.999999999", "05", "05.000000001", "05.1", "05.100000001", "05.12", "06"]
    assert arrive(merge, [("c", ts(s), s) for s in stamps]) == order
    assert arrive(merge, *([("c", ts(s), s)] for s in stamps)) == order


def test_offsets_are_compared_in_utc(merge: Page) -> None:
    batch = [("a", ts("06"), "utc"), ("b", "2025-01-14T10:30:05+01:00", "offset"), ("c", ts("05.5"), "utc-early")]
    assert arrive(merge, batch) == ["offset", "utc-early", "utc"]


def test_equal_timestamps_keep_their_arrival_order(merge: Page) -> None:
    second = [("b", ts("05"), "b1"), ("a", ts("05"), "a2"), ("b", ts("05"), "b2")]
    assert arrive(merge, [("a", ts("05"), "a1")], second, [("c", ts("05"), "c1")]) == ["a1", "b1", "a2", "b2", "c1"]
    # Written with and without trailing zeros, an instant is the same instant.
    assert arrive(merge, [("a", ts("05.1"), "short"), ("b", ts("05.100"), "long")]) == ["short", "long"]
    assert arrive(merge, [("a", ts("05.100"), "long"), ("b", ts("05.1"), "short")]) == ["long", "short"]


def test_lines_arriving_out_of_order_land_in_place(merge: Page) -> None:
    first = [("a", ts("01"), "a1"), ("a", ts("03"), "a3"), ("a", ts("05"), "a5")]
    late = [("b", ts("04"), "b4"), ("b", ts("00"), "b0"), ("b", ts("02"), "b2")]
    assert arrive(merge, first, late, [("a", ts("06"), "a6")]) == ["b0", "a1", "b2", "a3", "b4", "a5", "a6"]


MERGE_ONCE = """({ shown, batch }) => {
  const { timeKey, mergeBatch } = window.PodscopeLogMerge;
  let seq = 0;
  const entry = ([ts, text]) => ({ key: timeKey(ts), seq: ++seq, text });
  const entries = shown.map(entry);
  const merged = mergeBatch(entries, batch.map(entry));
  return [entries.map((e) => e.text), merged.map((e) => e.text)];
}"""


@pytest.mark.parametrize(
    ("shown", "batch", "kept", "merged"),
    [
        ([], ["03", "01", "02"], [], ["01", "02", "03"]),
        (["01", "02"], ["03"], ["01", "02"], ["03"]),  # all later: nothing shown moves
        (["01", "02", "04", "05"], ["03"], ["01", "02"], ["03", "04", "05"]),
        (["02", "03"], ["01"], [], ["01", "02", "03"]),  # earlier than everything
        (["01", "03", "05"], ["06", "02"], ["01"], ["02", "03", "05", "06"]),
    ],
    ids=["nothing-shown", "later", "late", "earliest", "spread"],
)
def test_a_batch_takes_back_only_the_tail_it_overlaps(
    merge: Page, shown: list[str], batch: list[str], kept: list[str], merged: list[str]
) -> None:
    arg = {"shown": [(ts(s), s) for s in shown], "batch": [(ts(s), s) for s in batch]}
    assert merge.evaluate(MERGE_ONCE, arg) == [kept, merged]


@pytest.mark.parametrize("position", [0, 1, 2, 3, 500, 997, 998, 999, 1000])
def test_a_late_line_finds_its_place_in_a_full_buffer(merge: Page, position: int) -> None:
    shown = [(nth(n), str(n)) for n in range(1000)]
    late = (nth(position, ".25"), "late")  # just before the line of that second
    kept, merged = merge.evaluate(MERGE_ONCE, {"shown": shown, "batch": [late]})
    assert kept == [str(n) for n in range(position)]
    assert merged == ["late", *(str(n) for n in range(position, 1000))]


def test_a_line_with_the_same_time_as_a_full_buffer_goes_last(merge: Page) -> None:
    shown = [(ts("05"), str(n)) for n in range(1000)]
    kept, merged = merge.evaluate(MERGE_ONCE, {"shown": shown, "batch": [(ts("05"), "new")]})
    assert (len(kept), merged) == (1000, ["new"])


def test_a_line_without_timestamp_follows_the_latest_line(merge: Page) -> None:
    first = [("a", ts("05"), "a5"), ("b", ts("07"), "b7")]
    second = [("a", "", "a, no time"), ("c", ts("06"), "c6"), ("a", ts("07.5"), "a7.5")]
    assert arrive(merge, first, second) == ["a5", "c6", "b7", "a, no time", "a7.5"]
    # Before any time is known, it goes first.
    assert arrive(merge, [("a", "", "no time"), ("a", ts("05"), "a5")]) == ["no time", "a5"]


def test_resume_points_count_the_lines_of_the_last_timestamp(merge: Page) -> None:
    batches = [
        [("a", ts("05"), "a1"), ("a", ts("05"), "a2"), ("b", ts("04"), "b1")],
        [("a", ts("06.1"), "a3"), ("a", ts("06.1"), "a4"), ("a", ts("06.100"), "a5")],
        [("a", ts("05.5"), "late"), ("a", "", "no time"), ("b", ts("04"), "b2")],
    ]
    # A late line does not move a container back, a line without a timestamp does not count, and the same
    # instant counts however it is written (the first spelling is what the server is told).
    assert resume(merge, *batches) == {"a": [ts("06.1"), 3], "b": [ts("04"), 2]}
    assert resume(merge, [("a", ts("05"), "a1"), ("a", ts("05.000000001"), "a2")]) == {"a": [ts("05.000000001"), 1]}


def test_resume_points_before_any_line_and_after_clear(merge: Page) -> None:
    assert resume(merge) is None
    assert resume(merge, [("a", "", "no time")]) is None
    found = merge.evaluate(
        """() => {
          const points = new window.PodscopeLogMerge.ResumePoints();
          const keys = [points.note("a", ""), points.note("a", "2025-01-14T09:30:05.1Z")];
          points.note("b", "2025-01-14T09:30:07Z");
          keys.push(points.keyOf("a"), points.keyOf("b"), points.keyOf("never"), points.latest);
          points.clear();
          return { keys, resume: points.resume(), latest: points.latest, never: points.keyOf("a") };
        }"""
    )
    assert found == {
        "keys": [
            "",
            "2025-01-14T09:30:05.100000000",
            "2025-01-14T09:30:05.100000000",
            "2025-01-14T09:30:07.000000000",
            "2025-01-14T09:30:07.000000000",  # a container with no line yet: the latest of any
            "2025-01-14T09:30:07.000000000",
        ],
        "resume": None,
        "latest": "",
        "never": "",
    }


def test_compare_entries_orders_by_time_then_arrival(merge: Page) -> None:
    order = merge.evaluate(
        """() => {
          const { compareEntries } = window.PodscopeLogMerge;
          const entries = [{ key: "b", seq: 1 }, { key: "a", seq: 3 }, { key: "a", seq: 2 }, { key: "c", seq: 0 }];
          return entries.sort(compareEntries).map((e) => e.key + e.seq);
        }"""
    )
    assert order == ["a2", "a3", "b1", "c0"]
