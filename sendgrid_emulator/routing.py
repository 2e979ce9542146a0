"""Dispatch: authentication before routing, then the route, its rate limit and its handler.

SendGrid checks the key before it looks at the path (an unknown path without a key answers 401),
so the emulator does too. Every answer is JSON in SendGrid's error shape, except the empty 404 of a
trailing slash (docs/sendgrid-api.md, "Transport") and downloads. The 26 operations of the three spec
files are named in ``OPERATIONS``; one switched off (``disabled_operations``) answers 501 naming itself.
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sendgrid_emulator.account import Account, ApiError, Request, Route
from sendgrid_emulator.faults import FaultInjection, RateLimited
from sendgrid_emulator.framing import json_error

MAX_REQUEST_LINE = 8_150  # characters of URL that RudderStack found nginx to take before a 414

# Handler -> "<spec file> <operationId>" (tsg_mc_{contacts,lists,custom_fields}_v3.yaml): all 26.
OPERATIONS = {
    "_upsert": "contacts UpdateContact",
    "_delete_contacts": "contacts DeleteContact",
    "_sample": "contacts ListContact",
    "_get_contact": "contacts GetContact",
    "_get_batch": "contacts ListBatchedContact",
    "_delete_identifier": "contacts DeleteContactIdentifier",
    "_count": "contacts ListContactCount",
    "_create_export": "contacts ExportContact",
    "_list_exports": "contacts ListExportContact",
    "_get_export": "contacts GetExportContact",
    "_import_csv": "contacts ImportContact",
    "_get_job": "contacts GetImportContact",
    "_search_query": "contacts SearchContact",
    "_search_emails": "contacts ListContactByEmail",
    "_search_identifiers": "contacts GetContactByIdentifiers",
    "_create_list": "lists CreateMarketingList",
    "_get_lists": "lists ListMarketingList",
    "_get_list": "lists GetMarketingList",
    "_rename_list": "lists UpdateMarketingList",
    "_delete_list": "lists DeleteMarketingList",
    "_remove_from_list": "lists DeleteContact",
    "_get_list_count": "lists ListContactCount",
    "_create_field": "custom_fields CreateFieldDefinition",
    "_get_fields": "custom_fields ListFieldDefinition",
    "_rename_field": "custom_fields UpdateFieldDefinition",
    "_delete_field": "custom_fields DeleteFieldDefinition",
}

JSON = {"Content-Type": "application/json"}
Answer = tuple[int, dict[str, str], bytes | None]  # status, headers, body (None: reset the connection)


class Dispatch(FaultInjection, Account):
    """``handle``: one request in, one answer out, for any bytes a client may send."""

    ROUTES: tuple[Route, ...] = ()
    _compiled: list[tuple[str, re.Pattern[str], str, str | None]] = []
    api_key: str
    forbidden_keys: set[str]
    # Operations answered 501 naming themselves, as an emulator that does not offer them would.
    disabled_operations: set[str]

    def run_due_jobs(self) -> None:
        """Apply the import jobs that are due (the contacts module defines it)."""
        raise NotImplementedError

    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> Answer:
        """Answer one request: (status, headers, body); body None resets the connection."""
        try:
            return self._handle(method, raw_path, headers, body)
        except Exception:  # a bug, not the client's fault: a JSON 500, and the server keeps serving
            traceback.print_exc(file=sys.stderr)
            return 500, dict(JSON), json_error("internal error in the emulator (a bug: please report it)")

    def _handle(
        self, method: str, raw_path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes | None]:
        if len(raw_path) > MAX_REQUEST_LINE:  # nginx in front of SendGrid: 414 (docs/sendgrid-api.md, "Lists")
            return 414, dict(JSON), json_error("Request-URI Too Large")
        parts = urlsplit(raw_path)
        path = parts.path
        admin = path.startswith("/_emulator/")
        if not admin and (fault := self.injected_fault()):
            return fault[0], dict(JSON), fault[1]
        extra: dict[str, str] = {}
        try:
            if not admin:
                self._authorize(headers.get("Authorization"), path)  # before routing, as SendGrid
            if path.endswith("/") and path != "/":
                return 404, dict(JSON), b""  # SendGrid answers a trailing slash with an empty 404
            handler, group, params = self._route(method, path)
            if self.disabled_operations and handler in OPERATIONS:
                # By handler, "<file> <operationId>" or the bare operationId (which may name two).
                operation = OPERATIONS[handler]
                if {handler, operation, operation.split(" ", 1)[1]} & self.disabled_operations:
                    raise ApiError(501, f"{operation} is not offered by this emulator", "operation")
            if group is not None:
                extra = self._rate_limit(group)
                self.run_due_jobs()
            query = parse_qs(parts.query)  # blank values dropped: "?page_token=" is no token
            status, payload = getattr(self, handler)(Request(method, path, query, body, params, headers))
        except RateLimited as exc:
            return 429, {**exc.headers, **JSON}, json_error("too many requests")
        except ApiError as exc:
            return exc.status, {**extra, **exc.headers, **JSON}, json.dumps({"errors": exc.errors}).encode()
        if isinstance(payload, bytes):
            return status, {**extra, "Content-Type": "application/octet-stream"}, payload
        if payload is None:  # 204
            return status, {**extra, **JSON}, b""
        return status, {**extra, **JSON}, json.dumps(payload).encode()

    def _route(self, method: str, path: str) -> tuple[str, str | None, dict[str, str]]:
        allowed = []
        for m, rx, handler, group in self._compiled:
            if (match := rx.match(path)) is not None:
                if m == method or (method == "HEAD" and m == "GET"):
                    return handler, group, match.groupdict()
                allowed.append(m)
        if allowed:  # RFC 9110 15.5.6: a 405 names the methods the resource takes in Allow
            names = ", ".join(sorted({*allowed, *(["HEAD"] if "GET" in allowed else [])}))
            raise ApiError(405, f"{method} is not allowed here; allowed: {names}", headers={"Allow": names})
        raise ApiError(404, "resource not found")

    def _authorize(self, header: str | None, path: str) -> None:
        if not header or not header.startswith("Bearer "):
            raise ApiError(401, "authorization required")
        key = header[len("Bearer ") :]
        if key in self.forbidden_keys:
            if path.startswith("/v3/marketing/"):
                raise ApiError(403, "access forbidden")
            return
        if key != self.api_key:
            raise ApiError(401, "The provided authorization grant is invalid, expired, or revoked")
