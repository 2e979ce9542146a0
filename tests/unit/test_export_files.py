"""SendGrid's contact export files, read as production serves them: gzip or not, JSON lines or CSV."""

from __future__ import annotations

import gzip
import io
import time

from target_sendgrid.files.gunzip import maybe_gunzipped
from target_sendgrid.sendgrid.export_files import Bounds, bounded_lines, contact_rows, custom_value

JSON_LINES = b'{"contact_id": "c1", "email": " Ann@X.io ", "custom_fields": {"LTV": 3}}\n\n{"contact_id": "c2"}\n'
CSV = b"EMAIL,FIRST_NAME,CONTACT_ID,LTV\r\nann@x.io,Ann,c1,3\r\n"


def rows(data: bytes) -> list[dict]:
    return list(contact_rows(bounded_lines(io.BytesIO(data), "export", Bounds(10**9, time.monotonic() + 60))))


def test_json_lines_with_contact_id_and_custom_fields_by_name() -> None:
    first, second = rows(JSON_LINES)
    assert first == {"id": "c1", "email": "ann@x.io", "custom_fields": {"ltv": 3}}
    assert second == {"id": "c2"}
    assert custom_value(first, "LTV") == 3


def test_csv_with_an_upper_case_header() -> None:
    [row] = rows(CSV)
    assert row == {"email": "ann@x.io", "first_name": "Ann", "id": "c1", "ltv": "3"}
    assert custom_value(row, "ltv") == "3"


def test_upper_case_json_keys_are_read_too() -> None:
    [row] = rows(b'{"CONTACT_ID": "c9", "EMAIL": "B@x.io"}\n')
    assert row == {"id": "c9", "email": "b@x.io"}


def test_gzip_is_judged_from_the_bytes() -> None:
    assert rows(gzip.compress(JSON_LINES)) == rows(JSON_LINES)
    assert maybe_gunzipped(io.BytesIO(b"plain")).read() == b"plain"


def test_an_empty_file_has_no_rows() -> None:
    assert rows(b"") == [] and rows(gzip.compress(b"\n\n")) == []
