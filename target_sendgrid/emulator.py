"""A stateful emulator of SendGrid's Marketing Contacts API.

It is the test bed of this project and the default destination of a first run: a real
HTTP server on loopback that is at least as strict as SendGrid where SendGrid is strict
(see the facts it follows in the project's SendGrid API notes). Upserts answer 202 and
are applied later, when their import job runs, just as at SendGrid.

Every endpoint is defined once, in ``SendGridEmulator.ROUTES``. Endpoints under
``/_emulator`` are for inspection by tests and need no key.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from target_sendgrid.limits import (
    CUSTOM_FIELD_NAME,
    FIELD_LIMITS,
    IDENTIFIERS,
    MAX_ALTERNATE_EMAILS,
    MAX_BODY_BYTES,
    MAX_CONTACTS_PER_UPSERT,
    MAX_CUSTOM_FIELDS,
    MAX_LISTS,
    MAX_SEARCH_EMAILS,
    MAX_TEXT_VALUE,
    RESERVED_NAMES,
)

FIELD_TYPE_CODES = {"Text": "T", "Number": "N", "Date": "D"}
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
DEFAULT_API_KEY = "SG.emulator-key"
# Observed per-endpoint limits per window: 200 on contact writes and searches, 600 elsewhere.
STRICT_LIMIT, DEFAULT_LIMIT = 200, 600


def valid_email(value: Any) -> bool:
    """Whether SendGrid would take ``value`` as an email address."""
    return isinstance(value, str) and len(value) <= 254 and EMAIL_RE.match(value) is not None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class ApiError(Exception):
    """An error answered with SendGrid's error body."""

    def __init__(self, status: int, message: str, field: str | None = None, errors: list | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors or [{"field": field, "message": message}]


@dataclass
class Faults:
    """Faults injected into ``/v3`` requests and import jobs; all off by default."""

    error_rate: float = 0.0  # share of requests answered 500 or 503
    reset_rate: float = 0.0  # share of connections reset without a response
    latency: float = 0.0  # seconds added to every request
    job_failure_rate: float = 0.0  # share of jobs that end "failed"


@dataclass
class Job:
    """An import job (an upsert, a deletion, or a removal from a list)."""

    id: str
    job_type: str
    due: float
    payload: dict
    status: str = "pending"
    results: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    started_at: str = field(default_factory=_now)
    finished_at: str | None = None


@dataclass
class Request:
    """What a handler sees of one HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    params: dict[str, str]

    def json(self) -> Any:
        """The body as JSON, or a 400 as SendGrid gives for a malformed body."""
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise ApiError(400, "invalid JSON in request body") from None


Response = tuple[int, Any]


class SendGridEmulator:
    """The emulator: state, endpoints, and the server that serves them."""

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        job_delay: float = 0.05,
        rate_limit: int | None = None,
        rate_window: float = 1.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        faults: Faults | None = None,
        data_path: str | Path | None = None,
        forbidden_keys: tuple[str, ...] = (),
        seed: int | None = None,
    ) -> None:
        self.api_key = api_key
        self.forbidden_keys = set(forbidden_keys)  # keys without Marketing scopes: 403
        # False: a 400 says what is wrong but not which contact (field null), as some SendGrid
        # answers do; clients must then find the bad contacts themselves.
        self.itemised_errors = True
        self.job_delay = job_delay
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.max_body_bytes = max_body_bytes
        self.faults = faults or Faults()
        self.data_path = Path(data_path) if data_path else None
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._windows: dict[str, tuple[float, int]] = {}
        self.lists: dict[str, dict] = {}
        self.contacts: dict[str, dict] = {}  # by contact id
        self._by_identifier: dict[tuple[str, str], str] = {}
        self.custom_fields: dict[str, dict] = {}  # by field id
        self.jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self.exports: dict[str, dict] = {}
        self.request_log: list[dict] = []
        self.duplicate_emails: list[str] = []
        self._load()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- life cycle -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL clients use, e.g. ``http://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SendGridEmulator:
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="sendgrid-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and keep the state if a data file was given."""
        self._server.shutdown()
        self._server.server_close()
        self._save()

    def __enter__(self) -> SendGridEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- inspection (Python API; the same is served under /_emulator) --------------

    def run_due_jobs(self) -> None:
        """Apply every job whose delay has passed (they also run on every request)."""
        with self._lock:
            now = time.monotonic()
            while self._queue and self._queue[0].due <= now:
                self._run_job(self._queue.popleft())

    def wait_for_jobs(self, timeout: float = 10.0) -> None:
        """Block until no job is pending."""
        deadline = time.monotonic() + timeout
        while True:
            self.run_due_jobs()
            with self._lock:
                if not self._queue:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError("emulator jobs still pending")
            time.sleep(0.01)

    def list_contacts(self, list_id: str | None = None) -> list[dict]:
        """Contacts as SendGrid returns them (custom fields by name), optionally of one list."""
        self.run_due_jobs()
        with self._lock:
            return [self._public(c) for c in self.contacts.values() if list_id is None or list_id in c["list_ids"]]

    def list_emails(self, list_id: str | None = None) -> set[str]:
        """The set of emails in a list (or in the account)."""
        return {c["email"] for c in self.list_contacts(list_id) if c.get("email")}

    def requests_made(self, path_prefix: str = "/v3") -> list[dict]:
        """The request log: method, path, status, bytes, contacts."""
        with self._lock:
            return [r for r in self.request_log if r["path"].startswith(path_prefix)]

    def set_faults(self, **changes: float) -> None:
        """Change fault injection at run time (fields of :class:`Faults`)."""
        with self._lock:
            self.faults = Faults(**{**asdict(self.faults), **changes})

    def create_list(self, name: str) -> str:
        """Create a list directly; returns its id."""
        return self._create_list(Request("POST", "", {}, json.dumps({"name": name}).encode(), {}))[1]["id"]

    def create_custom_field(self, name: str, field_type: str) -> str:
        """Create a custom field directly; returns its id."""
        body = json.dumps({"name": name, "field_type": field_type}).encode()
        return self._create_field(Request("POST", "", {}, body, {}))[1]["id"]

    # --- the endpoints ------------------------------------------------------------

    # (method, path pattern, handler name, rate-limit group; None: admin, no key needed)
    ROUTES: tuple[tuple[str, str, str, str | None], ...] = (
        ("PUT", r"/v3/marketing/contacts", "_upsert", "contacts_write"),
        ("DELETE", r"/v3/marketing/contacts", "_delete_contacts", "contacts_delete"),
        ("GET", r"/v3/marketing/contacts/count", "_count", "contacts_count"),
        ("GET", r"/v3/marketing/contacts/imports/(?P<job_id>[^/]+)", "_get_job", "imports"),
        ("POST", r"/v3/marketing/contacts/search/emails", "_search_emails", "contacts_search"),
        ("POST", r"/v3/marketing/contacts/exports", "_create_export", "exports"),
        ("GET", r"/v3/marketing/contacts/exports/(?P<export_id>[^/]+)", "_get_export", "exports"),
        ("GET", r"/v3/marketing/lists", "_get_lists", "lists"),
        ("POST", r"/v3/marketing/lists", "_create_list", "lists"),
        ("GET", r"/v3/marketing/lists/(?P<list_id>[^/]+)", "_get_list", "lists"),
        ("GET", r"/v3/marketing/lists/(?P<list_id>[^/]+)/contacts/count", "_get_list_count", "lists"),
        ("DELETE", r"/v3/marketing/lists/(?P<list_id>[^/]+)/contacts", "_remove_from_list", "lists"),
        ("GET", r"/v3/marketing/field_definitions", "_get_fields", "field_definitions"),
        ("POST", r"/v3/marketing/field_definitions", "_create_field", "field_definitions"),
        ("GET", r"/_emulator/requests", "_admin_requests", None),
        ("GET", r"/_emulator/contacts", "_admin_contacts", None),
        ("POST", r"/_emulator/faults", "_admin_faults", None),
        ("GET", r"/_emulator/downloads/(?P<export_id>[^/]+)", "_admin_download", None),
        ("GET", r"/_emulator/jobs/(?P<job_id>[^/]+)/errors", "_admin_job_errors", None),
    )
    _compiled = [(m, re.compile(p + r"\Z"), h, g) for m, p, h, g in ROUTES]
    STRICT_GROUPS = {"contacts_write", "contacts_delete", "contacts_search"}

    def _upsert(self, req: Request) -> Response:
        if len(req.body) > self.max_body_bytes:
            raise ApiError(413, f"request body exceeds {self.max_body_bytes} bytes")
        body = req.json()
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be an object")
        contacts = body.get("contacts")
        if not isinstance(contacts, list) or not 1 <= len(contacts) <= MAX_CONTACTS_PER_UPSERT:
            raise ApiError(400, f"contacts must hold 1 to {MAX_CONTACTS_PER_UPSERT} contacts", "contacts")
        list_ids = body.get("list_ids") or []
        with self._lock:
            unknown = [i for i in list_ids if i not in self.lists]
            if not isinstance(list_ids, list) or unknown:
                raise ApiError(400, f"list ids do not exist: {', '.join(map(str, unknown))}", "list_ids")
            errors = [e for i, c in enumerate(contacts) for e in self._contact_errors(i, c)]
            if errors:
                if not self.itemised_errors:
                    errors = [{"field": None, "message": errors[0]["message"]}]
                raise ApiError(400, errors[0]["message"], errors=errors)
            seen: set[str] = set()
            for email in (c["email"].lower() for c in contacts if "email" in c):
                if email in seen:
                    self.duplicate_emails.append(email)  # SendGrid leaves this undefined; tests check we never do it
                seen.add(email)
            job = self._enqueue("upsert", {"list_ids": list_ids, "contacts": contacts})
        return 202, {"job_id": job.id}

    def _contact_errors(self, i: int, contact: Any) -> list[dict]:
        at = f"contacts[{i}]"
        if not isinstance(contact, dict):
            return [{"field": at, "message": "contact must be an object"}]
        errors = []
        if not any(contact.get(k) for k in IDENTIFIERS):
            errors.append({"field": at, "message": f"contact must have one of: {', '.join(IDENTIFIERS)}"})
        for name, value in contact.items():
            where = f"{at}.{name}"
            if name in FIELD_LIMITS:
                limit = FIELD_LIMITS[name]
                if not isinstance(value, str):
                    errors.append({"field": where, "message": f"{name} must be a string"})
                elif limit is not None and len(value) > limit:
                    errors.append({"field": where, "message": f"{name} must be at most {limit} characters"})
                elif name == "email" and not valid_email(value):
                    errors.append({"field": where, "message": f"email '{value}' is not valid"})
            elif name == "alternate_emails":
                if not isinstance(value, list) or len(value) > MAX_ALTERNATE_EMAILS or not all(map(valid_email, value)):
                    errors.append({"field": where, "message": "alternate_emails must be 0-5 valid emails"})
            elif name == "custom_fields":
                unknown = [k for k in (value if isinstance(value, dict) else {}) if k not in self.custom_fields]
                if not isinstance(value, dict) or unknown:
                    names = ", ".join(unknown) or "custom_fields must be an object"
                    errors.append({"field": where, "message": f"invalid custom field ids supplied - {names}"})
            # Unknown keys are ignored, as at SendGrid.
        return errors

    def _delete_contacts(self, req: Request) -> Response:
        ids = [i for i in ",".join(req.query.get("ids", [])).split(",") if i]
        if not ids:
            raise ApiError(400, "ids are required", "ids")
        with self._lock:
            job = self._enqueue("delete", {"ids": ids})
        return 202, {"job_id": job.id}

    def _count(self, req: Request) -> Response:
        with self._lock:
            return 200, {"contact_count": len(self.contacts), "billable_count": len(self.contacts)}

    def _get_job(self, req: Request) -> Response:
        job = self.jobs.get(req.params["job_id"])
        if job is None:
            raise ApiError(404, "job not found", "id")
        return 200, {
            "id": job.id,
            "status": job.status,
            "job_type": job.job_type,
            "results": job.results,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
        }

    def _search_emails(self, req: Request) -> Response:
        body = req.json()
        emails = body.get("emails") if isinstance(body, dict) else None
        if not isinstance(emails, list) or not 1 <= len(emails) <= MAX_SEARCH_EMAILS:
            raise ApiError(400, f"emails must hold 1 to {MAX_SEARCH_EMAILS} addresses", "emails")
        bad = [e for e in emails if not valid_email(e)]
        if bad:
            raise ApiError(400, f"email '{bad[0]}' is not valid", "emails")
        result: dict[str, dict] = {}
        with self._lock:
            for email in emails:
                cid = self._by_identifier.get(("email", email.lower()))
                found = cid and self._public(self.contacts[cid])
                result[email] = {"contact": found} if found else {"error": "contact not found"}
        if not any("contact" in r for r in result.values()):
            raise ApiError(404, "no contacts found", "emails")
        return 200, {"result": result}

    def _create_export(self, req: Request) -> Response:
        body = req.json() or {}
        list_ids = body.get("list_ids") or []
        with self._lock:
            if any(i not in self.lists for i in list_ids):
                raise ApiError(400, "list ids do not exist", "list_ids")
            export_id = str(uuid.uuid4())
            self.exports[export_id] = {"id": export_id, "list_ids": list_ids, "due": time.monotonic() + self.job_delay}
        return 202, {"id": export_id}

    def _get_export(self, req: Request) -> Response:
        with self._lock:
            export = self.exports.get(req.params["export_id"])
            if export is None:
                raise ApiError(404, "export not found", "id")
            if export["due"] > time.monotonic():
                return 200, {"id": export["id"], "status": "pending"}
            if "rows" not in export:  # the file is made once, when the export is ready
                wanted = set(export["list_ids"])
                export["rows"] = [
                    self._public(c) for c in self.contacts.values() if not wanted or wanted & set(c["list_ids"])
                ]
            return 200, {
                "id": export["id"],
                "status": "ready",
                "contact_count": len(export["rows"]),
                "urls": [f"{self.url}/_emulator/downloads/{export['id']}"],
            }

    def _get_lists(self, req: Request) -> Response:
        try:
            size = int(req.query.get("page_size", ["100"])[0])
            start = int(req.query.get("page_token", ["0"])[0])
        except ValueError:
            raise ApiError(400, "page_size and page_token must be numbers", "page_size") from None
        if not 1 <= size <= 1000:
            raise ApiError(400, "page_size must be between 1 and 1000", "page_size")
        with self._lock:
            lists = list(self.lists.values())[start : start + size]
            counts = self._list_counts()
            meta = {"self": f"{self.url}{req.path}?page_size={size}&page_token={start}", "count": len(self.lists)}
            if start + size < len(self.lists):
                meta["next"] = f"{self.url}{req.path}?page_size={size}&page_token={start + size}"
            return 200, {
                "result": [{**lst, "contact_count": counts.get(lst["id"], 0)} for lst in lists],
                "_metadata": meta,
            }

    def _create_list(self, req: Request) -> Response:
        body = req.json()
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise ApiError(400, "name must be 1 to 100 characters", "name")
        with self._lock:
            if any(lst["name"] == name for lst in self.lists.values()):
                raise ApiError(400, "a list with this name already exists", "name")
            if len(self.lists) >= MAX_LISTS:
                raise ApiError(400, f"an account can have at most {MAX_LISTS} lists", "name")
            lst = {"id": str(uuid.uuid4()), "name": name}
            self.lists[lst["id"]] = lst
            self._save()
            return 201, {**lst, "contact_count": 0}

    def _get_list(self, req: Request) -> Response:
        with self._lock:
            lst = self._list_or_404(req.params["list_id"])
            return 200, {**lst, "contact_count": self._list_counts().get(lst["id"], 0)}

    def _get_list_count(self, req: Request) -> Response:
        count = self._get_list(req)[1]["contact_count"]
        return 200, {"contact_count": count, "billable_count": count}

    def _remove_from_list(self, req: Request) -> Response:
        ids = [i for i in ",".join(req.query.get("contact_ids", [])).split(",") if i]
        with self._lock:
            self._list_or_404(req.params["list_id"])
            if not ids:
                raise ApiError(400, "contact_ids are required", "contact_ids")
            job = self._enqueue("remove_from_list", {"list_id": req.params["list_id"], "ids": ids})
        return 202, {"job_id": job.id}

    def _get_fields(self, req: Request) -> Response:
        with self._lock:
            reserved = [{"id": n, "name": n, "field_type": "Text", "read_only": False} for n in sorted(RESERVED_NAMES)]
            return 200, {"custom_fields": list(self.custom_fields.values()), "reserved_fields": reserved}

    def _create_field(self, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be an object")
        name, field_type = body.get("name"), body.get("field_type")
        if field_type not in FIELD_TYPE_CODES:
            raise ApiError(400, "field_type must be Text, Number or Date", "field_type")
        if not isinstance(name, str) or not CUSTOM_FIELD_NAME.match(name) or name.lower() in RESERVED_NAMES:
            raise ApiError(
                400, "name must be 1-100 letters, digits or _, start with a letter or _, and not be reserved", "name"
            )
        with self._lock:
            if any(f["name"].lower() == name.lower() for f in self.custom_fields.values()):
                raise ApiError(400, "a custom field with this name already exists", "name")
            if len(self.custom_fields) >= MAX_CUSTOM_FIELDS:
                raise ApiError(400, f"an account can have at most {MAX_CUSTOM_FIELDS} custom fields", "name")
            definition = {
                "id": f"e{len(self.custom_fields) + 1}_{FIELD_TYPE_CODES[field_type]}",
                "name": name,
                "field_type": field_type,
            }
            self.custom_fields[definition["id"]] = definition
            self._save()
            return 200, definition

    def _admin_requests(self, req: Request) -> Response:
        return 200, {"requests": self.requests_made(req.query.get("prefix", ["/v3"])[0])}

    def _admin_contacts(self, req: Request) -> Response:
        with self._lock:
            duplicates = list(self.duplicate_emails)
        return 200, {
            "contacts": self.list_contacts(req.query.get("list_id", [None])[0]),
            "duplicate_emails": duplicates,
        }

    def _admin_faults(self, req: Request) -> Response:
        try:
            self.set_faults(**(req.json() or {}))
        except TypeError as exc:
            raise ApiError(400, str(exc)) from None
        return 200, asdict(self.faults)

    def _admin_download(self, req: Request) -> Response:
        export = self.exports.get(req.params["export_id"])
        if export is None or "rows" not in export:
            raise ApiError(404, "export not ready")
        return 200, "".join(json.dumps(row) + "\n" for row in export["rows"]).encode()

    def _admin_job_errors(self, req: Request) -> Response:
        job = self.jobs.get(req.params["job_id"])
        if job is None:
            raise ApiError(404, "job not found")
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["email", "error"])
        writer.writerows(job.errors)
        return 200, out.getvalue().encode()

    # --- jobs ---------------------------------------------------------------------

    def _enqueue(self, job_type: str, payload: dict) -> Job:
        job = Job(id=str(uuid.uuid4()), job_type=job_type, due=time.monotonic() + self.job_delay, payload=payload)
        self.jobs[job.id] = job
        self._queue.append(job)
        return job

    def _run_job(self, job: Job) -> None:
        if self._random.random() < self.faults.job_failure_rate:
            job.status, job.results = (
                "failed",
                {"requested_count": self._requested(job), "errored_count": self._requested(job)},
            )
        elif job.job_type == "upsert":
            self._apply_upsert(job)
        else:
            ids = [i for i in job.payload["ids"] if i in self.contacts]
            for cid in ids:
                if job.job_type == "delete":
                    self._forget(self.contacts.pop(cid))
                elif job.payload["list_id"] in self.contacts[cid]["list_ids"]:
                    self.contacts[cid]["list_ids"].remove(job.payload["list_id"])
            job.status = "completed"
            job.results = {"requested_count": len(job.payload["ids"]), "deleted_count": len(ids), "errored_count": 0}
        job.finished_at = _now()
        job.payload = {}  # free the contacts once applied
        self._save()

    @staticmethod
    def _requested(job: Job) -> int:
        return len(job.payload.get("contacts") or job.payload.get("ids") or [])

    def _apply_upsert(self, job: Job) -> None:
        created = updated = 0
        for contact in job.payload["contacts"]:
            error = self._value_error(contact.get("custom_fields") or {})
            if error:
                job.errors.append([contact.get("email", ""), error])
                continue
            key = next((k, contact[k].lower() if k == "email" else contact[k]) for k in IDENTIFIERS if contact.get(k))
            cid = self._by_identifier.get(key)
            stored = self.contacts.get(cid) if cid else None
            if stored is None:
                created += 1
                stored = {"id": str(uuid.uuid4()), "list_ids": [], "custom_fields": {}, "created_at": _now()}
                self.contacts[stored["id"]] = stored
            else:
                updated += 1
            for name, value in contact.items():
                if name == "custom_fields":
                    stored["custom_fields"].update(value)
                elif name in FIELD_LIMITS or name == "alternate_emails":
                    stored[name] = value.lower() if name == "email" else value
            stored["list_ids"] += [i for i in job.payload["list_ids"] if i not in stored["list_ids"]]
            stored["updated_at"] = _now()
            for k in IDENTIFIERS:
                if stored.get(k):
                    self._by_identifier[(k, stored[k])] = stored["id"]
        requested = len(job.payload["contacts"])
        errored = len(job.errors)
        job.status = "completed" if not errored else ("failed" if errored == requested else "errored")
        job.results = {
            "requested_count": requested,
            "created_count": created,
            "updated_count": updated,
            "deleted_count": 0,
            "errored_count": errored,
        }
        if errored:
            job.results["errors_url"] = f"{self.url}/_emulator/jobs/{job.id}/errors"

    def _value_error(self, custom: dict) -> str | None:
        for field_id, value in custom.items():
            field_type = self.custom_fields[field_id]["field_type"]
            name = self.custom_fields[field_id]["name"]
            if field_type == "Number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                return f"custom field {name} expects a Number"
            if field_type == "Text" and (not isinstance(value, str) or len(value) > MAX_TEXT_VALUE):
                return f"custom field {name} expects Text of at most 1000 characters"
            if field_type == "Date":
                try:
                    datetime.fromisoformat(value)
                except (TypeError, ValueError):
                    return f"custom field {name} expects an ISO-8601 Date"
        return None

    def _forget(self, contact: dict) -> None:
        for k in IDENTIFIERS:
            if contact.get(k):
                self._by_identifier.pop((k, contact[k]), None)

    # --- helpers ------------------------------------------------------------------

    def _public(self, contact: dict) -> dict:
        out = {k: v for k, v in contact.items() if k != "custom_fields"}
        out["list_ids"] = list(contact["list_ids"])
        out["custom_fields"] = {
            self.custom_fields[i]["name"]: v for i, v in contact["custom_fields"].items() if i in self.custom_fields
        }
        return out

    def _list_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for contact in self.contacts.values():
            for list_id in contact["list_ids"]:
                counts[list_id] = counts.get(list_id, 0) + 1
        return counts

    def _list_or_404(self, list_id: str) -> dict:
        if list_id not in self.lists:
            raise ApiError(404, "list not found", "id")
        return self.lists[list_id]

    def _rate_limit(self, group: str) -> dict[str, str]:
        """Count a request against its endpoint's window; raise 429 when it is spent."""
        limit = self.rate_limit or (STRICT_LIMIT if group in self.STRICT_GROUPS else DEFAULT_LIMIT)
        now = time.monotonic()
        with self._lock:
            start, used = self._windows.get(group, (now, 0))
            if now - start >= self.rate_window:
                start, used = now, 0
            used += 1
            self._windows[group] = (start, used)
        reset = max(1, math.ceil(start + self.rate_window - now))
        headers = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(0, limit - used)),
            "x-ratelimit-reset": str(reset),
        }
        if used > limit:
            raise _RateLimited(headers)
        return headers

    def _load(self) -> None:
        if self.data_path and self.data_path.exists():
            data = json.loads(self.data_path.read_text())
            self.lists, self.contacts, self.custom_fields = data["lists"], data["contacts"], data["custom_fields"]
            for contact in self.contacts.values():
                for k in IDENTIFIERS:
                    if contact.get(k):
                        self._by_identifier[(k, contact[k])] = contact["id"]

    def _save(self) -> None:
        if self.data_path:
            with self._lock:
                data = {"lists": self.lists, "contacts": self.contacts, "custom_fields": self.custom_fields}
                tmp = self.data_path.with_suffix(".tmp")
                tmp.write_text(json.dumps(data))
                tmp.replace(self.data_path)

    # --- dispatch -----------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> tuple[int, dict[str, str], bytes | None]:
        """Answer one request: (status, headers, body); body None resets the connection."""
        parts = urlsplit(raw_path)
        path = parts.path
        route = next(
            ((h, g, m.groupdict()) for mm, rx, h, g in self._compiled if mm == method and (m := rx.match(path))), None
        )
        admin = route is not None and route[1] is None
        if not admin:
            faults = self.faults
            if faults.latency:
                time.sleep(faults.latency)
            roll = self._random.random()
            if roll < faults.reset_rate:
                return 0, {}, None
            if roll < faults.reset_rate + faults.error_rate:
                status = self._random.choice((500, 503))
                return status, {}, _error_body(["internal server error" if status == 500 else "service unavailable"])
        if path.endswith("/") and path != "/":
            return 404, {}, b""  # SendGrid answers a trailing slash with an empty 404
        if route is None:
            return 404, {}, _error_body(["resource not found"])
        handler, group, params = route
        extra: dict[str, str] = {}
        try:
            if not admin:
                self._authorize(headers.get("Authorization"))
                extra = self._rate_limit(group)
                self.run_due_jobs()
            status, payload = getattr(self, handler)(Request(method, path, parse_qs(parts.query), body, params))
        except _RateLimited as exc:
            return 429, exc.headers, _error_body(["too many requests"])
        except ApiError as exc:
            return exc.status, extra, json.dumps({"errors": exc.errors}).encode()
        if isinstance(payload, bytes):
            return status, {**extra, "Content-Type": "application/octet-stream"}, payload
        return status, {**extra, "Content-Type": "application/json"}, json.dumps(payload).encode()

    def _authorize(self, header: str | None) -> None:
        if not header or not header.startswith("Bearer "):
            raise ApiError(401, "authorization required")
        key = header[len("Bearer ") :]
        if key in self.forbidden_keys:
            raise ApiError(403, "access forbidden")
        if key != self.api_key:
            raise ApiError(401, "The provided authorization grant is invalid, expired, or revoked")

    def log(self, method: str, path: str, status: int, body: bytes) -> None:
        """Record a request for inspection (an upsert's contact count, list ids and emails too)."""
        entry = {"method": method, "path": path, "status": status, "bytes": len(body), "contacts": 0, "at": time.time()}
        if method == "PUT" and path.startswith("/v3/marketing/contacts"):
            try:
                parsed = json.loads(body)
                entry["contacts"] = len(parsed.get("contacts") or [])
                entry["list_ids"] = parsed.get("list_ids") or []
                entry["emails"] = [c.get("email") for c in parsed.get("contacts") or [] if isinstance(c, dict)]
            except (ValueError, AttributeError, TypeError):
                pass
        with self._lock:
            self.request_log.append(entry)


class _RateLimited(Exception):
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


def _error_body(messages: list[str]) -> bytes:
    return json.dumps({"errors": [{"field": None, "message": m} for m in messages]}).encode()


def _handler_for(emulator: SendGridEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so clients can pool connections
        server_version = "sendgrid-emulator"

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, payload = emulator.handle(self.command, self.path, self.headers, body)
            path = urlsplit(self.path).path
            if payload is None:  # fault: reset the connection without answering
                emulator.log(self.command, path, 0, body)
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                return
            emulator.log(self.command, path, status, body)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request log replaces the stderr access log

    return Handler


def fetch(url: str, path: str, **params: str) -> Any:
    """Read an admin endpoint of a running emulator (for tests of the CLI)."""
    response = requests.get(f"{url}/_emulator/{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Console script ``sendgrid-emulator``: serve until interrupted."""
    parser = argparse.ArgumentParser(prog="sendgrid-emulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback by default)")
    parser.add_argument("--port", type=int, default=3030, help="port; 0 picks a free one")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the key clients must send")
    parser.add_argument("--job-delay", type=float, default=0.05, help="seconds before an import job runs")
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per window on every endpoint")
    parser.add_argument("--rate-window", type=float, default=1.0, help="rate-limit window in seconds")
    parser.add_argument("--max-body-bytes", type=int, default=MAX_BODY_BYTES, help="upsert body cap")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 500/503")
    parser.add_argument("--reset-rate", type=float, default=0.0, help="share of connections reset")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    parser.add_argument("--job-failure-rate", type=float, default=0.0, help="share of jobs that end failed")
    parser.add_argument("--seed", type=int, default=None, help="seed for fault injection")
    parser.add_argument("--data", default=None, help="JSON file that keeps the state between runs")
    args = parser.parse_args(argv)
    faults = Faults(args.error_rate, args.reset_rate, args.latency, args.job_failure_rate)
    emulator = SendGridEmulator(
        args.api_key,
        host=args.host,
        port=args.port,
        job_delay=args.job_delay,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        max_body_bytes=args.max_body_bytes,
        faults=faults,
        data_path=args.data,
        seed=args.seed,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    print(emulator.url, flush=True)
    try:
        emulator._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator._server.server_close()
        emulator._save()
        sys.stderr.write("sendgrid-emulator stopped\n")
