"""The emulated account's state, what every endpoint module shares, and its persistence.

Follows docs/sendgrid-api.md; each endpoint module says which section it follows.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec

from sendgrid_emulator.limits import IDENTIFIERS

# Request bodies are parsed with msgspec: upserts of 30,000 contacts took the stdlib parser a
# tenth of a second each, and the emulator's own time is in every benchmark figure.
decode_json = msgspec.json.decode

EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


def valid_email(value: Any) -> bool:
    """Whether SendGrid would take ``value`` as an email address."""
    return isinstance(value, str) and len(value) <= 254 and EMAIL_RE.match(value) is not None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class ApiError(Exception):
    """An error answered with SendGrid's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        field: str | None = None,
        errors: list | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors or [{"field": field, "message": message}]
        self.headers = headers or {}  # e.g. a 405's Allow


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
    headers: Any = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON, or a 400 as SendGrid gives for a malformed body."""
        try:
            return decode_json(self.body or b"null")
        except ValueError:
            raise ApiError(400, "invalid JSON in request body") from None
        except RecursionError:  # msgspec's depth guard: a body nested past the interpreter's limit
            raise ApiError(400, "the JSON body is nested too deeply") from None


Response = tuple[int, Any]


# (method, path pattern, handler name, rate-limit group; None: admin, no key needed)
Route = tuple[str, str, str, str | None]


class Account:
    """The account: lists, contacts, custom fields, jobs and exports, with the emulator's knobs."""

    def __init__(
        self,
        *,
        job_delay: float,
        rate_limit: int | None,
        rate_window: float,
        max_body_bytes: int,
        faults: Faults | None,
        data_path: str | Path | None,
        seed: int | None,
    ) -> None:
        # False: a 400 says what is wrong but not which contact (field null), as some SendGrid
        # answers do; clients must then find the bad contacts themselves.
        self.itemised_errors = True
        self.job_delay = job_delay
        # Seconds a job takes per 1,000 contacts, on top of job_delay: SendGrid's import jobs take
        # longer the larger they are ("Import jobs", recorded: a one-contact upsert ~30 s pending).
        self.job_seconds_per_1000 = 0.0
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.max_body_bytes = max_body_bytes
        self.faults = faults or Faults()
        # A plan's contact limit: an upsert job that would take the account past it ends "failed", its
        # errors saying "you have hit your contact limit" (docs/sendgrid-api.md, "Import jobs": sendgrid-go #413).
        # Where SendGrid puts that text is unconfirmed: here, in the job's errors file.
        self.contact_limit: int | None = None
        self.data_path = Path(data_path) if data_path else None
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._windows: dict[str, tuple[float, int]] = {}
        self.lists: dict[str, dict] = {}
        self.contacts: dict[str, dict] = {}  # by contact id
        self._by_identifier: dict[tuple[str, str], str] = {}
        self.custom_fields: dict[str, dict] = {}  # by field id
        self.field_numbers_issued = 0  # the N of the last e<N>_T id: ids are not reused after a deletion
        self.jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self.exports: dict[str, dict] = {}
        self.request_log: list[dict] = []
        self.duplicate_emails: list[str] = []
        self._load()

    @property
    def url(self) -> str:
        """The base URL clients use (links in answers point here)."""
        raise NotImplementedError

    def _enqueue(self, job_type: str, payload: dict) -> Job:
        size = len(payload.get("contacts") or payload.get("ids") or ())
        due = time.monotonic() + self.job_delay + self.job_seconds_per_1000 * size / 1000
        job = Job(id=str(uuid.uuid4()), job_type=job_type, due=due, payload=payload)
        self.jobs[job.id] = job
        self._queue.append(job)
        return job

    def _apply_identifier_deletion(self, job: Job) -> None:
        """Run a DeleteContactIdentifier job (the identifiers module defines it)."""
        raise NotImplementedError

    def _public(self, contact: dict) -> dict:
        """A contact as reads return it: custom fields by name, list_ids and segment_ids (spec: required)."""
        out = {k: v for k, v in contact.items() if k != "custom_fields"}
        out["list_ids"] = list(contact["list_ids"])
        out["segment_ids"] = []  # the emulator has no segments
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
