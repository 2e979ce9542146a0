"""Reading SendGrid's contact export files, defensively: what production serves varies.

Gzip-compressed or plain (judged from the bytes, not from headers), newline-delimited JSON or
CSV with an upper-case header, keys (custom field names too) in any case, the contact's id as ``contact_id`` or ``id``
(see "Export files" in docs/sendgrid-api.md). Rows are read one at a time: memory stays flat.

A download is untrusted input (docs/sendgrid-api.md): :func:`bounded_lines` bounds what it may cost, in bytes
after inflating, in the length of one line and in time, and names what went wrong in one line.
"""

from __future__ import annotations

import csv
import http.client
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import IO, Any, TypeVar

import msgspec
import requests
import urllib3

from target_sendgrid.files.gunzip import maybe_gunzipped
from target_sendgrid.sendgrid.api_errors import SendGridError
from target_sendgrid.sendgrid.limits import MAX_CUSTOM_FIELDS, MAX_TEXT_VALUE

# max_download_bytes's default: SendGrid splits exports into files of at most 5,000 MB by default.
DEFAULT_MAX_DOWNLOAD_BYTES = 5_000_000_000

# The longest row a contact can make: every custom field full, with room for the reserved fields
# and the JSON around them.
_A = TypeVar("_A")
_R = TypeVar("_R")

MAX_ROW_BYTES = MAX_CUSTOM_FIELDS * (MAX_TEXT_VALUE + 120) * 4 + 65_536  # 4 bytes a character at most


@dataclass(frozen=True)
class Bounds:
    """What one download may cost: bytes after inflating, bytes in one line, and a monotonic deadline."""

    max_bytes: int
    deadline: float
    max_line: int = MAX_ROW_BYTES


def bounded_lines(raw: IO[bytes], what: str, bounds: Bounds) -> Iterator[str]:
    """The lines of a download, gunzipped if its first bytes say so, within ``bounds``; SendGridError past them."""
    stream = _guarded(what, maybe_gunzipped, raw)  # its first read: the gzip sniff
    read = 0
    encoding = "utf-8-sig"  # a byte-order mark on the first line only
    while True:
        line = _guarded(what, stream.readline, bounds.max_line + 1)
        if not line:
            return
        read += len(line)
        if len(line) > bounds.max_line:
            raise SendGridError(f"{what}: a line longer than {bounds.max_line:,} bytes, more than a contact can make")
        if read > bounds.max_bytes:
            raise SendGridError(f"{what}: more than {bounds.max_bytes:,} bytes once inflated (max_download_bytes)")
        if time.monotonic() > bounds.deadline:
            raise SendGridError(f"{what}: not read within its time")
        try:
            yield line.decode(encoding)
        except UnicodeDecodeError:
            raise SendGridError(f"{what}: a line that is not UTF-8") from None
        encoding = "utf-8"


def _guarded(what: str, read: Callable[[_A], _R], argument: _A) -> _R:
    """One read of a download, its failures as a SendGridError naming ``what`` (never the bytes)."""
    try:
        return read(argument)
    except (EOFError, OSError, zlib.error, ValueError) as exc:  # cut off, not gzip, reset midway
        raise SendGridError(f"{what}: not a whole file ({type(exc).__name__})") from None
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, requests.RequestException) as exc:
        # urllib3's and requests' own errors while reading the body (a protocol error, a read timeout)
        raise SendGridError(f"{what}: the download broke off ({type(exc).__name__})") from None


def contact_rows(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Each contact of an export file, keys lower-cased, its id under ``id``; JSON lines or CSV."""
    lines = iter(lines)
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        return
    if first.lstrip().startswith("{"):
        for number, line in enumerate(chain([first], lines), start=1):
            if line.strip():
                try:
                    row = msgspec.json.decode(line)
                except (msgspec.DecodeError, RecursionError):  # not JSON, or nested past what can be read
                    raise SendGridError(f"export file: line {number} is not a JSON row") from None
                if not isinstance(row, dict):
                    raise SendGridError(f"export file: line {number} is not a JSON object")
                yield _normalised(row)
        return
    try:
        for row in csv.DictReader(chain([first], lines)):
            yield _normalised(row)
    except csv.Error as exc:
        raise SendGridError(f"export file: not a CSV file SendGrid would write ({exc})") from None


def custom_value(row: dict[str, Any], name: str) -> Any:
    """A custom field's value in a row: JSON nests them by name; a CSV has a column (assumed: the name)."""
    custom = row.get("custom_fields")
    return (custom if isinstance(custom, dict) else row).get(name.lower())


def _normalised(row: dict[str, Any]) -> dict[str, Any]:
    out = {str(k).strip().lower(): v for k, v in row.items()}
    if isinstance(out.get("custom_fields"), dict):  # keyed by name: in any case too
        out["custom_fields"] = {str(k).lower(): v for k, v in out["custom_fields"].items()}
    if "contact_id" in out:
        out["id"] = out.pop("contact_id")
    if isinstance(out.get("email"), str):
        out["email"] = out["email"].strip().lower()
    return out
