"""The emulator as a whole: the HTTP server, dispatch to the endpoint modules, inspection, the CLI.

Every endpoint is defined once, in the ``ROUTES`` of its resource's module; ``/_emulator``
endpoints are for inspection by tests and need no key.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
from dataclasses import asdict
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import requests
from typing_extensions import override

from sendgrid_emulator.account import ApiError, Faults, Request, Response, Route, decode_json
from sendgrid_emulator.checks import body_object
from sendgrid_emulator.contacts import ROUTES as CONTACT_ROUTES
from sendgrid_emulator.contacts import ContactsEndpoints
from sendgrid_emulator.exports import ROUTES as EXPORT_ROUTES
from sendgrid_emulator.exports import ExportsEndpoints, ExportVariants
from sendgrid_emulator.fields import ROUTES as FIELD_ROUTES
from sendgrid_emulator.fields import FieldsEndpoints
from sendgrid_emulator.framing import handler_for
from sendgrid_emulator.identifiers import ROUTES as IDENTIFIER_ROUTES
from sendgrid_emulator.identifiers import IdentifiersEndpoints
from sendgrid_emulator.imports import ROUTES as IMPORT_ROUTES
from sendgrid_emulator.imports import ImportsEndpoints
from sendgrid_emulator.limits import MAX_BODY_BYTES, MAX_FRAME_BYTES
from sendgrid_emulator.lists import ROUTES as LIST_ROUTES
from sendgrid_emulator.lists import ListsEndpoints
from sendgrid_emulator.routing import Dispatch
from sendgrid_emulator.search import ROUTES as SEARCH_ROUTES
from sendgrid_emulator.search import SearchEndpoints

DEFAULT_API_KEY = "SG.emulator-key"
READ_TIMEOUT = 5.0  # seconds a started request may stall between bytes before a 408

# GET /v3/scopes answers the calling key's scopes (tsg_scopes_v3.yaml). marketing.read is the one
# Marketing scope a source names (docs/sendgrid-api.md, "Transport"); keys without it answer 403 on /v3/marketing/*.
SCOPES_ROUTE: Route = ("GET", r"/v3/scopes", "_get_scopes", "scopes")
MARKETING_SCOPES = ["mail.send", "marketing.read"]

ADMIN_ROUTES: tuple[Route, ...] = (
    ("GET", r"/_emulator/requests", "_admin_requests", None),
    ("GET", r"/_emulator/contacts", "_admin_contacts", None),
    ("POST", r"/_emulator/faults", "_admin_faults", None),
)


class SendGridEmulator(
    ContactsEndpoints,
    IdentifiersEndpoints,
    ImportsEndpoints,
    SearchEndpoints,
    ListsEndpoints,
    FieldsEndpoints,
    ExportsEndpoints,
    Dispatch,
):
    """A stateful SendGrid Marketing Contacts API on a real HTTP server."""

    ROUTES: tuple[Route, ...] = (
        *CONTACT_ROUTES,
        *IMPORT_ROUTES,
        *IDENTIFIER_ROUTES,
        *SEARCH_ROUTES,
        *EXPORT_ROUTES,
        *LIST_ROUTES,
        *FIELD_ROUTES,
        SCOPES_ROUTE,
        *ADMIN_ROUTES,
    )
    _compiled = [(m, re.compile(p + r"\Z"), h, g) for m, p, h, g in ROUTES]

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
        super().__init__(
            job_delay=job_delay,
            rate_limit=rate_limit,
            rate_window=rate_window,
            max_body_bytes=max_body_bytes,
            faults=faults,
            data_path=data_path,
            seed=seed,
        )
        self.export_variants = ExportVariants()
        self.api_key = api_key
        self.forbidden_keys = set(forbidden_keys)  # keys without Marketing scopes: 403 on /v3/marketing/*
        self.scopes_endpoint = True  # False: GET /v3/scopes answers 404, as where it does not answer
        self.disabled_operations: set[str] = set()  # handler names or operationIds that answer 501
        self.read_timeout = READ_TIMEOUT
        self.max_frame_bytes = max(MAX_FRAME_BYTES, max_body_bytes)  # any body; upserts are capped lower
        self._server = ThreadingHTTPServer((host, port), handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- life cycle -------------------------------------------------------------

    @property
    @override
    def url(self) -> str:
        """The base URL clients use, e.g. ``http://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

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

    def create_list(self, name: str) -> str:
        """Create a list directly; returns its id."""
        return self._create_list(Request("POST", "", {}, json.dumps({"name": name}).encode(), {}))[1]["id"]

    def create_custom_field(self, name: str, field_type: str) -> str:
        """Create a custom field directly; returns its id."""
        body = json.dumps({"name": name, "field_type": field_type}).encode()
        return self._create_field(Request("POST", "", {}, body, {}))[1]["id"]

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
        changes = body_object(req, optional=True)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in changes.values()):
            raise ApiError(400, "fault settings are numbers")
        try:
            self.set_faults(**changes)
        except TypeError as exc:
            raise ApiError(400, str(exc)) from None
        return 200, asdict(self.faults)

    def _get_scopes(self, req: Request) -> Response:
        if not self.scopes_endpoint:
            raise ApiError(404, "resource not found")
        key = str(req.headers.get("Authorization", ""))[len("Bearer ") :]
        scopes = [s for s in MARKETING_SCOPES if key not in self.forbidden_keys or not s.startswith("marketing")]
        return 200, {"scopes": scopes}

    def log(self, method: str, path: str, status: int, body: bytes) -> None:
        """Record a request for inspection (an upsert's contact count, list ids and emails too)."""
        entry = {"method": method, "path": path, "status": status, "bytes": len(body), "contacts": 0, "at": time.time()}
        if method == "PUT" and path == "/v3/marketing/contacts":
            try:
                logged = _decode_logged(body)  # only the emails, not whole contacts: 7x faster
                entry["contacts"] = len(logged.contacts)
                entry["list_ids"] = logged.list_ids or []
                entry["emails"] = [c.email for c in logged.contacts]
            except (msgspec.ValidationError, RecursionError):  # a malformed upsert: read what can be read
                entry.update(_read_malformed_upsert(body))
            except ValueError:  # not JSON at all
                pass
        with self._lock:
            self.request_log.append(entry)


class _LoggedContact(msgspec.Struct):
    email: Any = None


class _LoggedUpsert(msgspec.Struct):
    """What the request log keeps of an upsert body."""

    contacts: list[_LoggedContact] = []
    list_ids: Any = None


_decode_logged = msgspec.json.Decoder(_LoggedUpsert).decode


def _read_malformed_upsert(body: bytes) -> dict[str, Any]:
    """What the request log can read of an upsert body of the wrong shape (nothing if it is not an object)."""
    try:
        parsed = decode_json(body)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(parsed, dict):
        return {}
    contacts = parsed.get("contacts")
    if not isinstance(contacts, list):
        contacts = []
    return {
        "contacts": len(contacts),
        "list_ids": parsed.get("list_ids") or [],
        "emails": [c.get("email") for c in contacts if isinstance(c, dict)],
    }


def fetch(url: str, path: str, **params: str) -> Any:
    """Read an admin endpoint of a running emulator (for tests of the CLI)."""
    response = requests.get(f"{url}/_emulator/{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Console script ``sendgrid-emulator``: serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="sendgrid-emulator", description="A stateful emulator of SendGrid's Marketing Contacts API, on loopback."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback by default)")
    parser.add_argument("--port", type=int, default=3030, help="port; 0 picks a free one")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the key clients must send")
    parser.add_argument("--job-delay", type=float, default=0.05, help="seconds before an import job runs")
    parser.add_argument(
        "--job-seconds-per-1000", type=float, default=0.0, help="seconds an import job takes per 1,000 contacts"
    )
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per window on every endpoint")
    parser.add_argument("--rate-window", type=float, default=1.0, help="rate-limit window in seconds")
    parser.add_argument("--max-body-bytes", type=int, default=MAX_BODY_BYTES, help="upsert body cap")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 500/503")
    parser.add_argument("--reset-rate", type=float, default=0.0, help="share of connections reset")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    parser.add_argument("--job-failure-rate", type=float, default=0.0, help="share of jobs that end failed")
    parser.add_argument("--seed", type=int, default=None, help="seed for fault injection")
    parser.add_argument("--data", default=None, help="JSON file that keeps the state between runs")
    parser.add_argument(
        "--read-timeout", type=float, default=READ_TIMEOUT, help="seconds a started request may stall before a 408"
    )
    parser.add_argument(
        "--disable-operation",
        action="append",
        default=[],
        metavar="OPERATION_ID",
        help="answer this spec operation (e.g. ImportContact) with a 501 naming it; repeatable",
    )
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
    emulator.job_seconds_per_1000 = args.job_seconds_per_1000
    emulator.read_timeout = args.read_timeout
    emulator.disabled_operations.update(args.disable_operation)
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
