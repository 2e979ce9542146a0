"""Contact exports: start one, poll it, and download its files.

Follows "Finding contacts" and "Export files" in docs/sendgrid-api.md. The files are what production
serves: gzip-compressed, newline-delimited JSON with ``contact_id`` (``file_type: json``) or
CSV with an upper-case header (``csv``, the default), split past ``max_file_size``, behind
pre-signed links that take no key (an object store refuses a second auth mechanism).

Unconfirmed facts are switches (see ``ExportVariants``); the defaults are the likeliest.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sendgrid_emulator.account import Account, ApiError, Request, Response, Route, _now
from sendgrid_emulator.checks import body_object, string_list

ROUTES: tuple[Route, ...] = (
    ("POST", r"/v3/marketing/contacts/exports", "_create_export", "exports"),
    ("GET", r"/v3/marketing/contacts/exports", "_list_exports", "exports"),
    ("GET", r"/v3/marketing/contacts/exports/(?P<export_id>[^/]+)", "_get_export", "exports"),
    ("GET", r"/_emulator/downloads/(?P<export_id>[^/]+)/(?P<part>\d+)", "_admin_download", None),
)

# CSV columns in the order of Airbyte's recorded fixture (docs/sendgrid-api.md, "Export files").
CSV_COLUMNS = (
    "EMAIL", "FIRST_NAME", "LAST_NAME", "ADDRESS_LINE_1", "ADDRESS_LINE_2", "CITY", "STATE_PROVINCE_REGION",
    "POSTAL_CODE", "COUNTRY", "ALTERNATE_EMAILS", "PHONE_NUMBER", "WHATSAPP", "LINE", "FACEBOOK", "UNIQUE_NAME",
    "CREATED_AT", "UPDATED_AT", "CONTACT_ID",
)  # fmt: skip
# "Newer accounts add identifier and custom-field columns" (Export files): a custom field's column is
# assumed to be its name in upper case, like the header's other columns (unconfirmed).


@dataclass
class ExportVariants:
    """Export facts no source settles, each a switch (defaults first)."""

    gzip: bool = True  # confirmed for CSV (Airbyte decodes gzip); assumed for JSON
    json_keys: str = "lower"  # "lower" (assumed, as elsewhere in the API) or "upper" (as the CSV header)
    file_type: str | None = None  # None: as requested; "csv" or "json" forces one (a client must read both)
    split_bytes: int | None = None  # None: max_file_size MB as requested; a number splits smaller, for tests
    fail: bool = False  # the export ends "failure" with a message (spec: status failure, message)


class ExportsEndpoints(Account):
    """The export endpoints, and the download links they hand out."""

    export_variants: ExportVariants

    def _create_export(self, req: Request) -> Response:
        """ExportContact: lists (all contacts without any) as csv or json, split past max_file_size MB.

        The emulator has no segments, so any ``segment_ids`` names segments that do not exist: a 400,
        as unknown ``list_ids`` get (never the whole account exported in their place).
        """
        body = body_object(req, optional=True)
        list_ids = string_list(body, "list_ids")
        segment_ids = string_list(body, "segment_ids")
        file_type = body.get("file_type", "csv")
        if file_type not in ("csv", "json"):
            raise ApiError(400, "file_type must be csv or json", "file_type")
        max_file_size = body.get("max_file_size", 5000)
        if type(max_file_size) is not int or max_file_size < 1:
            raise ApiError(400, "max_file_size must be a positive integer (MB)", "max_file_size")
        notifications = body.get("notifications", {})
        if not isinstance(notifications, dict) or not isinstance(notifications.get("email", False), bool):
            raise ApiError(400, "notifications must be an object with a boolean email", "notifications")
        if segment_ids:
            raise ApiError(400, f"segment ids do not exist: {', '.join(segment_ids)}", "segment_ids")
        with self._lock:
            unknown = [i for i in list_ids if i not in self.lists]
            if unknown:
                raise ApiError(400, f"list ids do not exist: {', '.join(unknown)}", "list_ids")
            export_id = str(uuid.uuid4())
            self.exports[export_id] = {
                "id": export_id,
                "list_ids": list_ids,
                "file_type": self.export_variants.file_type or file_type,
                "max_bytes": min(max_file_size, 10**6) * 1_000_000,
                "created_at": _now(),
                "due": time.monotonic() + self.job_delay,
            }
        return 202, {"id": export_id, "_metadata": {"self": f"{self.url}/v3/marketing/contacts/exports/{export_id}"}}

    def _list_exports(self, req: Request) -> Response:
        """ListExportContact: every export with its status (``urls`` once ready) and ``export_type``."""
        with self._lock:
            ids = list(self.exports)
        result = [self._export_status(i) for i in ids]
        for export in result:
            export.pop("_metadata", None)
            export["export_type"] = "contacts_export"  # the spec names the field, not its values (unconfirmed)
        return 200, {"result": result, "_metadata": {"self": f"{self.url}{req.path}"}}

    def _get_export(self, req: Request) -> Response:
        """GetExportContact: pending until its delay has passed, then ready with its file links."""
        with self._lock:
            if req.params["export_id"] not in self.exports:
                raise ApiError(404, "export not found", "id")
        return 200, self._export_status(req.params["export_id"])

    def _export_status(self, export_id: str) -> dict:
        with self._lock:
            export = self.exports[export_id]
            # Always present (spec: id, status, created_at, updated_at, expires_at).
            answer = {
                "id": export["id"],
                "status": "pending",
                "created_at": export["created_at"],
                "updated_at": export["created_at"],
                "expires_at": _in_hours(72),
                "_metadata": {"self": f"{self.url}/v3/marketing/contacts/exports/{export['id']}"},
            }
            if export["due"] > time.monotonic():
                return answer
            if self.export_variants.fail:
                return {**answer, "status": "failure", "message": "export failed (emulated)"}
            if "files" not in export:  # the files are made once, when the export is ready
                wanted = set(export["list_ids"])
                rows = [self._public(c) for c in self.contacts.values() if not wanted or wanted & set(c["list_ids"])]
                export["files"] = self._files(rows, export["file_type"], export["max_bytes"])
                export["completed_at"] = _now()
                export["count"] = len(rows)
            urls = [f"{self.url}/_emulator/downloads/{export['id']}/{n}" for n in range(len(export["files"]))]
            return {
                **answer,
                "status": "ready",
                "updated_at": export["completed_at"],
                "completed_at": export["completed_at"],
                "urls": urls,
                "contact_count": export["count"],
            }

    def _files(self, rows: list[dict], file_type: str, max_bytes: int) -> list[bytes]:
        """The export's files: one per ``max_bytes`` of content (at least one, even when empty)."""
        limit = self.export_variants.split_bytes or max_bytes
        lines = [self._json_line(r) for r in rows] if file_type == "json" else self._csv_lines(rows)
        header = b"" if file_type == "json" else lines.pop(0)
        files: list[bytes] = []
        current = bytearray(header)
        for line in lines:
            if len(current) > len(header) and len(current) + len(line) > limit:
                files.append(bytes(current))
                current = bytearray(header)
            current += line
        files.append(bytes(current))
        return [gzip.compress(f) if self.export_variants.gzip else f for f in files]

    def _json_line(self, contact: dict) -> bytes:
        row = {("contact_id" if k == "id" else k): v for k, v in contact.items()}
        if self.export_variants.json_keys == "upper":
            row = {k.upper(): v for k, v in row.items()}
        return json.dumps(row).encode() + b"\n"

    def _csv_lines(self, rows: list[dict]) -> list[bytes]:
        custom = sorted(f["name"] for f in self.custom_fields.values())
        header = [*CSV_COLUMNS, *(n.upper() for n in custom)]
        table = [header]
        table += [
            [*(_csv_value(r, c) for c in CSV_COLUMNS), *(_csv_text(r["custom_fields"].get(n)) for n in custom)]
            for r in rows
        ]
        lines = []
        for values in table:
            out = io.StringIO()
            csv.writer(out).writerow(values)
            lines.append(out.getvalue().encode())
        return lines

    def _admin_download(self, req: Request) -> Response:
        # A pre-signed object-store link: it refuses a second auth mechanism, and so any key.
        if req.headers.get("Authorization"):
            raise ApiError(400, "Only one auth mechanism allowed; the pre-signed link already authenticates")
        export = self.exports.get(req.params["export_id"])
        part = int(req.params["part"][:9])
        if export is None or "files" not in export or part >= len(export["files"]):
            raise ApiError(404, "no such file")
        return 200, export["files"][part]


def _csv_value(contact: dict, column: str) -> str:
    return _csv_text(contact.get("id" if column == "CONTACT_ID" else column.lower()))


def _csv_text(value: object) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return "" if value is None else str(value)


def _in_hours(hours: int) -> str:
    later = datetime.now(timezone.utc) + timedelta(hours=hours)
    return later.isoformat(timespec="seconds").replace("+00:00", "Z")
