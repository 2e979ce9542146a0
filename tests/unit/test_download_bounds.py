"""A download is untrusted input: bounded in bytes, line length and time, and every way it breaks named in one line."""

from __future__ import annotations

import gzip
import http.client
import io
import time

import pytest
import urllib3
from typing_extensions import override

from target_sendgrid.sendgrid.api_errors import SendGridError
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.sendgrid.export_files import Bounds, bounded_lines, contact_rows

LATER = time.monotonic() + 3600


def lines(data: bytes, bounds: Bounds | None = None) -> list[str]:
    return list(bounded_lines(io.BytesIO(data), "export url", bounds or Bounds(10**6, LATER)))


class BrokenOff(io.RawIOBase):
    """A body whose connection breaks after its first bytes, as urllib3 raises it (not an OSError)."""

    def __init__(self, first: bytes, error: Exception) -> None:
        self._first = first
        self._error = error

    @override
    def readable(self) -> bool:
        return True

    @override
    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._first:
            raise self._error
        size = len(self._first)
        buffer[:size] = self._first
        self._first = b""
        return size


def test_lines_are_read_with_a_byte_order_mark_dropped() -> None:
    assert lines(b"\xef\xbb\xbfa,b\n1,2\n") == ["a,b\n", "1,2\n"]


def test_a_file_larger_than_its_bound_once_inflated_is_refused() -> None:
    """The bound counts bytes after gunzip: a small gzip that inflates past it is stopped."""
    bomb = gzip.compress(b"x,y\n" * 10_000)
    with pytest.raises(SendGridError, match="more than 1,000 bytes once inflated"):
        lines(bomb, Bounds(1_000, LATER))


def test_a_line_longer_than_a_contact_can_make_is_refused() -> None:
    with pytest.raises(SendGridError, match="a line longer than 10 bytes"):
        lines(b"short\n" + b"y" * 50 + b"\n", Bounds(10**6, LATER, max_line=10))


def test_a_download_past_its_deadline_is_refused() -> None:
    with pytest.raises(SendGridError, match="export url: not read within its time"):
        lines(b"a\nb\n", Bounds(10**6, time.monotonic() - 1))


def test_a_line_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(SendGridError, match="a line that is not UTF-8"):
        lines(b"ok\n\xff\xfe\xfa\n")


def test_a_gzip_cut_off_midway_is_not_a_whole_file() -> None:
    whole = gzip.compress(b"row\n" * 1_000)
    with pytest.raises(SendGridError, match=r"not a whole file \(EOFError\)"):
        lines(whole[: len(whole) // 2])


@pytest.mark.parametrize(
    "error",
    [
        urllib3.exceptions.ProtocolError("reset"),  # urllib3's own, which is not an OSError
        urllib3.exceptions.ReadTimeoutError(None, "/files/0", "read timed out"),  # type: ignore[arg-type]
        http.client.IncompleteRead(b"par"),
    ],
)
@pytest.mark.parametrize("before", [b"first\n", b""])  # b"": the very first read (the gzip sniff) fails
def test_a_body_that_breaks_off_while_read_is_named_by_the_errors_type(error: Exception, before: bytes) -> None:
    raw = io.BufferedReader(BrokenOff(before, error))
    with pytest.raises(SendGridError, match=rf"the download broke off \({type(error).__name__}\)"):
        list(bounded_lines(raw, "export url", Bounds(10**6, LATER)))


def test_a_bug_while_reading_is_raised_as_it_is_not_as_a_broken_download() -> None:
    raw = io.BufferedReader(BrokenOff(b"first\n", TypeError("a bug")))
    with pytest.raises(TypeError, match="a bug"):
        list(bounded_lines(raw, "export url", Bounds(10**6, LATER)))


def test_a_link_that_is_not_https_is_refused_without_naming_it() -> None:
    client = SendGridClient("SG.fake-key", "https://api.sendgrid.com")
    link = "http://files.example.com/export/0?sig=secret"
    with pytest.raises(SendGridError) as refused, client.download(link, "export url", Bounds(10**6, LATER)):
        pass
    assert str(refused.value) == "download of an export url refused: not an https:// link"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('{"email": "a@x.io"}\n{"email": \n', "line 2 is not a JSON row"),
        ('{"email": "a@x.io"}\n[1, 2]\n', "line 2 is not a JSON object"),
    ],
)
def test_a_json_export_with_a_bad_row_is_refused_naming_its_line(text: str, said: str) -> None:
    with pytest.raises(SendGridError, match=said):
        list(contact_rows(io.StringIO(text)))


def test_a_csv_export_that_csv_cannot_read_is_refused() -> None:
    text = "EMAIL,CONTACT_ID\na@x.io,1\n" + "b" * 200_000 + "@x.io,2\n"  # past csv's field size limit
    with pytest.raises(SendGridError, match="not a CSV file SendGrid would write"):
        list(contact_rows(io.StringIO(text)))
