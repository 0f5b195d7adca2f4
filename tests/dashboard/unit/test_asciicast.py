"""Terminal recordings: the asciicast v2 files Recorder writes, and what read() accepts and refuses."""

from __future__ import annotations

import json
import re
import stat
import time
from pathlib import Path

import pytest

from dashboard import asciicast


def record(directory: Path, **header: object) -> asciicast.Recorder:
    options = {"width": 80, "height": 24, "title": "alice in default/web -c main", "command": "bash"} | header
    return asciicast.Recorder.start(directory, **options)


def lines_of(path: Path) -> list:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def test_header_names_size_time_title_and_command(tmp_path: Path) -> None:
    before = int(time.time())
    recorder = record(tmp_path / "new" / "dir", width=132, height=43, command="sh")
    recorder.close()

    header = lines_of(tmp_path / "new" / "dir" / recorder.name)[0]
    assert header == {
        "version": 2,
        "width": 132,
        "height": 43,
        "timestamp": header["timestamp"],
        "title": "alice in default/web -c main",
        "command": "sh",
        "env": {"TERM": "xterm-256color", "SHELL": "sh"},
    }
    assert before <= header["timestamp"] <= time.time()


def test_file_names_are_unique_and_private(tmp_path: Path) -> None:
    recorders = [record(tmp_path) for _ in range(20)]
    for each in recorders:
        each.close()

    names = {r.name for r in recorders}
    assert len(names) == 20
    assert all(re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}\.cast", name) for name in names)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    assert stat.S_IMODE((tmp_path / recorders[0].name).stat().st_mode) == 0o600


def test_output_becomes_timed_events(tmp_path: Path) -> None:
    recorder = record(tmp_path)
    recorder.output(b"$ ls\r\n")
    time.sleep(0.05)
    recorder.output(b"\x1b[1;34mbin\x1b[0m  etc\r\n")
    recorder.close()

    events = lines_of(tmp_path / recorder.name)[1:]
    assert [e[1:] for e in events] == [["o", "$ ls\r\n"], ["o", "\x1b[1;34mbin\x1b[0m  etc\r\n"]]
    assert 0 <= events[0][0] < events[1][0]
    assert events[1][0] - events[0][0] >= 0.049  # six decimals each
    # Six decimals, as asciinema writes them.
    assert re.match(r"\[\d+\.\d{6}, ", (tmp_path / recorder.name).read_text().split("\n")[1])


def test_times_never_go_back(tmp_path: Path) -> None:
    recorder = record(tmp_path)
    for n in range(200):
        recorder.output(f"line {n}\n".encode())
    recorder.close()

    times = [e[0] for e in lines_of(tmp_path / recorder.name)[1:]]
    assert len(times) == 200
    assert times == sorted(times)


@pytest.mark.parametrize("split", [1, 2, 3])
def test_a_character_split_across_reads_stays_whole(tmp_path: Path, split: int) -> None:
    data = "naïve 🙂 ok\n".encode()
    cut = data.index("🙂".encode()) + split
    recorder = record(tmp_path)
    recorder.output(data[:cut])
    recorder.output(data[cut:])
    recorder.close()

    events = lines_of(tmp_path / recorder.name)[1:]
    assert "".join(e[2] for e in events) == "naïve 🙂 ok\n"
    assert "\ufffd" not in (tmp_path / recorder.name).read_text(encoding="utf-8")


def test_invalid_bytes_become_replacement_characters(tmp_path: Path) -> None:
    recorder = record(tmp_path)
    recorder.output(b"bad \xff byte\n")
    recorder.output(b"cut short \xf0\x9f")  # the rest of the character never comes
    recorder.close()

    text = "".join(e[2] for e in lines_of(tmp_path / recorder.name)[1:])
    assert text == "bad \ufffd byte\ncut short \ufffd"


def test_separators_in_output_do_not_break_lines(tmp_path: Path) -> None:
    odd = 'quote " backslash \\ nul \x00 nel \x85 ls \u2028 ps \u2029 esc \x1b[0m\r\n'
    recorder = record(tmp_path)
    recorder.output(odd.encode())
    recorder.close()

    _, events = asciicast.read(tmp_path / recorder.name)
    assert events == [[events[0][0], "o", odd]]


def test_resize_is_recorded(tmp_path: Path) -> None:
    recorder = record(tmp_path)
    recorder.output(b"a")
    recorder.resize(100, 30)
    recorder.output(b"b")
    recorder.close()

    assert [e[1:] for e in lines_of(tmp_path / recorder.name)[1:]] == [["o", "a"], ["r", "100x30"], ["o", "b"]]


def test_close_is_idempotent_and_later_output_is_dropped(tmp_path: Path) -> None:
    recorder = record(tmp_path)
    recorder.output(b"kept\n")
    recorder.close()
    recorder.close()
    recorder.output(b"dropped\n")
    recorder.resize(10, 10)

    assert recorder.closed
    assert [e[2] for e in lines_of(tmp_path / recorder.name)[1:]] == ["kept\n"]


def test_empty_output_writes_no_event(tmp_path: Path) -> None:
    recorder = record(tmp_path)
    recorder.output(b"")
    recorder.output("é".encode()[:1])  # half a character: nothing to show yet
    recorder.close()

    assert [e[2] for e in lines_of(tmp_path / recorder.name)[1:]] == ["\ufffd"]


def test_read_returns_what_was_recorded(tmp_path: Path) -> None:
    recorder = record(tmp_path, width=90, height=20)
    recorder.output(b"hello from the pod\r\n")
    recorder.resize(120, 40)
    recorder.close()

    header, events = asciicast.read(tmp_path / recorder.name)
    assert (header["version"], header["width"], header["height"]) == (2, 90, 20)
    assert [e[1:] for e in events] == [["o", "hello from the pod\r\n"], ["r", "120x40"]]


def test_read_accepts_asciinemas_own_example(tmp_path: Path) -> None:
    path = tmp_path / "demo.cast"
    path.write_text(
        '{"version": 2, "width": 80, "height": 24, "timestamp": 1504467315, "title": "Demo",'
        ' "env": {"TERM": "xterm-256color", "SHELL": "/bin/zsh"}}\n'
        '[0.248848, "o", "\\u001b[1;31mHello \\u001b[32mWorld!\\u001b[0m\\n"]\n'
        '[1.001376, "o", "That was ok\\rThis is better."]\n'
        '[1.500000, "m", ""]\n'
        '[2.143733, "o", " "]\n'
        '[4.050000, "r", "80x24"]\n'
        '[6.541828, "o", "Bye!"]\n'
    )

    header, events = asciicast.read(path)
    assert header["title"] == "Demo"
    assert [e[1] for e in events] == ["o", "o", "m", "o", "r", "o"]
    assert events[-1] == [6.541828, "o", "Bye!"]


HEADER = '{"version": 2, "width": 80, "height": 24}\n'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b" \n\n", "empty"),
        (b'\n[0.1, "o", "x"]\n', "not a JSON header"),
        (b"not json\n", "not a JSON header"),
        (b"[1, 2, 3]\n", "not a JSON object"),
        (b'{"version": 1, "width": 80, "height": 24, "stdout": []}\n', "version 1"),
        (b'{"version": 3, "term": {"cols": 80, "rows": 24}}\n', "version 3"),
        (b'{"version": 2, "height": 24}\n', "no usable width"),
        (b'{"version": 2, "width": 80, "height": "24"}\n', "no usable height"),
        (b'{"version": 2, "width": 0, "height": 24}\n', "no usable width"),
        (HEADER.encode() + b'[0.5, "o", "hi"]\n[0.7, "o", "cut sh', "Line 3 .* not JSON"),
        (HEADER.encode() + b'{"t": 1}\n', "Line 2 .* not an event"),
        (HEADER.encode() + b'[0.5, "o"]\n', "Line 2 .* not an event"),
        (HEADER.encode() + b'["0.5", "o", "hi"]\n', "Line 2 .* not an event"),
        (HEADER.encode() + b'[-1, "o", "hi"]\n', "Line 2 .* not an event"),
        (HEADER.encode() + b'[NaN, "o", "hi"]\n', "Line 2 .* not an event"),
        (HEADER.encode() + b'[0.5, "z", "hi"]\n', "Line 2 .* not an event"),
        (HEADER.encode() + b'[0.5, ["o"], "hi"]\n', "Line 2 .* not an event"),
        (HEADER.encode() + b'[0.5, "o", 7]\n', "Line 2 .* not an event"),
        (HEADER.encode() + b'[2.0, "o", "a"]\n[1.0, "o", "b"]\n', "Line 3 .* back in time"),
        (HEADER.encode() + b'[0.5, "o", "\xff"]\n', "not UTF-8"),
    ],
)
def test_read_refuses_broken_files_with_a_sentence(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken.cast"
    path.write_bytes(content)

    with pytest.raises(ValueError, match=message) as raised:
        asciicast.read(path)
    assert str(raised.value).endswith(".")
    assert str(raised.value)[0].isupper()


def test_read_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "blank.cast"
    path.write_text(HEADER + '\n[0.5, "o", "a"]\n\n[0.6, "o", "b"]\n\n')

    assert asciicast.read(path)[1] == [[0.5, "o", "a"], [0.6, "o", "b"]]


def test_read_of_a_growing_recording_leaves_out_a_half_written_line(tmp_path: Path) -> None:
    path = tmp_path / "live.cast"
    path.write_bytes(HEADER.encode() + b'[0.5, "o", "done"]\n[0.7, "o", "half \xf0\x9f')

    assert asciicast.read(path, growing=True)[1] == [[0.5, "o", "done"]]
    with pytest.raises(ValueError, match="not UTF-8"):
        asciicast.read(path)


def test_read_of_a_growing_recording_keeps_complete_lines(tmp_path: Path) -> None:
    recorder = record(tmp_path)
    recorder.output(b"first\n")
    recorder.output(b"second\n")  # not closed: the terminal is still open

    assert [e[2] for e in asciicast.read(tmp_path / recorder.name, growing=True)[1]] == ["first\n", "second\n"]
    recorder.close()
