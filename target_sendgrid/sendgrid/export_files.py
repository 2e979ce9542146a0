"""Reading SendGrid's contact export files, defensively: what production serves varies.

Gzip-compressed or plain (judged from the bytes, not from headers), newline-delimited JSON or
CSV with an upper-case header, keys (custom field names too) in any case, the contact's id as ``contact_id`` or ``id``
(see "Export files" in the API notes). Rows are read one at a time: memory stays flat.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import IO, Any

import msgspec

from target_sendgrid.gunzip import maybe_gunzipped


def text_lines(raw: IO[bytes]) -> io.TextIOWrapper:
    """The lines of a download, gunzipped if its first bytes say so."""
    return io.TextIOWrapper(maybe_gunzipped(raw), encoding="utf-8-sig", newline="")


def contact_rows(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Each contact of an export file, keys lower-cased, its id under ``id``; JSON lines or CSV."""
    lines = iter(lines)
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        return
    if first.lstrip().startswith("{"):
        for line in chain([first], lines):
            if line.strip():
                yield _normalised(msgspec.json.decode(line))
        return
    for row in csv.DictReader(chain([first], lines)):
        yield _normalised(row)


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
