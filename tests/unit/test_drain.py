"""A failed run reads what is left of its piped input, so the writer on the other side finishes cleanly."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from target_sendgrid.singer.command import drain_pipe


def test_a_writer_finishes_without_a_broken_pipe_when_the_reader_drains() -> None:
    read_end, write_end = os.pipe()
    written: list[int] = []

    def write() -> None:  # more than a pipe's buffer: it blocks until the other side reads
        with os.fdopen(write_end, "wb") as out:
            written.append(out.write(b"x" * 3_000_000))

    writer = threading.Thread(target=write)
    writer.start()
    with os.fdopen(read_end, "r") as stream:
        drain_pipe(stream, seconds=60)  # returns at the end of input, long before its bound
    writer.join(timeout=60)
    assert written == [3_000_000]


def test_a_file_is_left_where_it_was(tmp_path: Path) -> None:
    path = tmp_path / "input.singer"
    path.write_text('{"type": "STATE", "value": {}}\n')
    with path.open() as stream:
        drain_pipe(stream, seconds=60)
        assert stream.tell() == 0
