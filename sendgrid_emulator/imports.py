"""CSV imports: ImportContact hands out an upload link, and the uploaded file becomes an import job.

Follows ImportContact in tsg_mc_contacts_v3.yaml: the body names ``file_type: csv`` and ``field_mappings``
(one field id per column, ``null`` to skip one; reserved ids as ``_rf1`` or ``_rf1_T``), the answer a
``job_id``, an ``upload_uri`` and ``upload_headers`` for a second ``PUT`` of the file (gzip allowed);
404 when a list does not exist. The file's first row is its header; the job is then polled like an upsert's.
The link is a pre-signed object-store link, as export links are: it takes no key. Files are capped at
``MAX_FRAME_BYTES`` (SendGrid takes up to 5 GB; the emulator is for tests).
"""

from __future__ import annotations

import csv
import gzip
import io
import time
import uuid

from sendgrid_emulator.account import Account, ApiError, Job, Request, Response, Route, valid_email
from sendgrid_emulator.checks import body_object, string_list
from sendgrid_emulator.fields import RESERVED_BY_ID
from sendgrid_emulator.limits import IDENTIFIERS

ROUTES: tuple[Route, ...] = (
    ("PUT", r"/v3/marketing/contacts/imports", "_import_csv", "contacts_write"),
    ("PUT", r"/_emulator/uploads/(?P<job_id>[^/]+)", "_admin_upload", None),
)

# The header the upload must carry, as a pre-signed link's signature covers it (the value is the emulator's).
UPLOAD_HEADER = ("x-amz-server-side-encryption", "aws:kms")


class ImportsEndpoints(Account):
    """The CSV import endpoint and its upload link."""

    def _import_csv(self, req: Request) -> Response:
        body = body_object(req)
        if body.get("file_type") != "csv":
            raise ApiError(400, "file_type must be csv", "file_type")
        mappings = body.get("field_mappings")
        if not isinstance(mappings, list) or not mappings or not all(m is None or isinstance(m, str) for m in mappings):
            raise ApiError(400, "field_mappings must be a non-empty array of field ids or nulls", "field_mappings")
        list_ids = string_list(body, "list_ids")
        with self._lock:
            unknown = [m for m in mappings if m is not None and m not in RESERVED_BY_ID and m not in self.custom_fields]
            if unknown:
                raise ApiError(400, f"unknown field ids in field_mappings: {', '.join(unknown)}", "field_mappings")
            read_only = [m for m in mappings if m in RESERVED_BY_ID and RESERVED_BY_ID[m]["read_only"]]
            if read_only:
                raise ApiError(400, f"read-only fields cannot be imported: {', '.join(read_only)}", "field_mappings")
            names = {RESERVED_BY_ID[m]["name"] for m in mappings if m in RESERVED_BY_ID}
            if not names & set(IDENTIFIERS):
                raise ApiError(400, "at least one identifier field must be mapped", "field_mappings")
            missing = [i for i in list_ids if i not in self.lists]
            if missing:
                raise ApiError(404, f"list ids do not exist: {', '.join(missing)}", "list_ids")
            job = Job(id=str(uuid.uuid4()), job_type="import", due=float("inf"), payload={})
            job.payload = {"mappings": mappings, "list_ids": list_ids, "awaiting_upload": True}
            self.jobs[job.id] = job
        return 200, {
            "job_id": job.id,
            "upload_uri": f"{self.url}/_emulator/uploads/{job.id}",
            "upload_headers": [{"header": UPLOAD_HEADER[0], "value": UPLOAD_HEADER[1]}],
        }

    def _admin_upload(self, req: Request) -> Response:
        if req.headers.get("Authorization"):
            raise ApiError(400, "Only one auth mechanism allowed; the pre-signed link already authenticates")
        if req.headers.get(UPLOAD_HEADER[0]) != UPLOAD_HEADER[1]:
            raise ApiError(403, f"the upload must carry the header {UPLOAD_HEADER[0]}: {UPLOAD_HEADER[1]}")
        with self._lock:
            job = self.jobs.get(req.params["job_id"])
            if job is None or not job.payload.get("awaiting_upload"):
                raise ApiError(404, "no import waits for this upload")
        raw = req.body
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError):
                raise ApiError(400, "the gzip file is corrupt") from None
        try:
            rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ApiError(400, f"the file is not UTF-8 CSV: {exc}") from None
        with self._lock:
            contacts, errors = self._rows_to_contacts(rows[1:], job.payload["mappings"])
            job.payload = {"list_ids": job.payload["list_ids"], "contacts": contacts}
            job.errors = errors
            job.due = time.monotonic() + self.job_delay
            self._queue.append(job)
        return 200, {}

    def _rows_to_contacts(self, rows: list[list[str]], mappings: list[str | None]) -> tuple[list[dict], list]:
        contacts, errors = [], []
        for row in rows:
            if not any(cell.strip() for cell in row):
                continue
            contact: dict = {}
            for cell, field_id in zip(row, mappings, strict=False):  # short rows leave fields unset
                if field_id is None or cell == "":
                    continue
                if field_id in RESERVED_BY_ID:
                    name = RESERVED_BY_ID[field_id]["name"]
                    contact[name] = [a for a in cell.split(",") if a] if name == "alternate_emails" else cell
                else:
                    contact.setdefault("custom_fields", {})[field_id] = self._typed(field_id, cell)
            if "email" in contact and not valid_email(contact["email"]):
                errors.append([contact["email"], "invalid email"])
            elif not any(contact.get(k) for k in IDENTIFIERS):
                errors.append(["", "the row has no identifier"])
            else:
                contacts.append(contact)
        return contacts, errors

    def _typed(self, field_id: str, cell: str) -> object:
        if self.custom_fields[field_id]["field_type"] == "Number":
            try:
                return float(cell) if "." in cell else int(cell)
            except ValueError:
                return cell  # the job reports it, as for an upsert
        return cell
