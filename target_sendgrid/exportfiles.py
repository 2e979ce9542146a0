"""Reading SendGrid's contact export files, defensively: what production serves varies.

Gzip-compressed or plain (judged from the bytes, not from headers), newline-delimited JSON or
CSV with an upper-case header, keys in any case, the contact's id as ``contact_id`` or ``id``
(see "Export files" in the API notes). Rows are read one at a time: memory stays flat.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Iterator
from typing import IO, Any

import msgspec

_GZIP_MAGIC = b"\x1f\x8b"


def text_lines(raw: IO[bytes]) -> io.TextIOWrapper:
    """The lines of a download, gunzipped if its first bytes say so."""
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
    stream: IO[bytes] = gzip.GzipFile(fileobj=buffered) if buffered.peek(2)[:2] == _GZIP_MAGIC else buffered
    return io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")


def contact_rows(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Each contact of an export file, keys lower-cased, its id under ``id``; JSON lines or CSV."""
    lines = iter(lines)
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        return
    if first.lstrip().startswith("{"):
        for line in _chain(first, lines):
            if line.strip():
                yield _normalised(msgspec.json.decode(line))
        return
    for row in csv.DictReader(_chain(first, lines)):
        yield _normalised(row)


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _normalised(row: dict[str, Any]) -> dict[str, Any]:
    out = {str(k).strip().lower(): v for k, v in row.items()}
    if "contact_id" in out:
        out["id"] = out.pop("contact_id")
    if isinstance(out.get("email"), str):
        out["email"] = out["email"].strip().lower()
    return out
