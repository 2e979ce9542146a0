"""Contacts and their import jobs: upsert, delete, count, job status and errors.

Follows "Upsert", "Import jobs" and "Finding contacts" in docs/sendgrid-api.md: an upsert is checked
whole (one bad contact fails the request with a 400 naming it), answered 202 with a job id,
and applied later when its job runs.
"""

from __future__ import annotations

import csv
import gzip
import io
import time
import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from sendgrid_emulator.account import (
    EMAIL_RE,
    Account,
    ApiError,
    Job,
    Request,
    Response,
    Route,
    _now,
    valid_email,
)
from sendgrid_emulator.limits import (
    FIELD_LIMITS,
    IDENTIFIERS,
    MAX_ALTERNATE_EMAILS,
    MAX_CONTACTS_PER_UPSERT,
    MAX_TEXT_VALUE,
)

ROUTES: tuple[Route, ...] = (
    ("PUT", r"/v3/marketing/contacts", "_upsert", "contacts_write"),
    ("DELETE", r"/v3/marketing/contacts", "_delete_contacts", "contacts_delete"),
    ("GET", r"/v3/marketing/contacts/count", "_count", "contacts_count"),
    ("GET", r"/v3/marketing/contacts/imports/(?P<job_id>[^/]+)", "_get_job", "imports"),
    ("GET", r"/_emulator/jobs/(?P<job_id>[^/]+)/errors", "_admin_job_errors", None),
)


# job_type as served: "upsert_contacts" was recorded from production (the spec says "upsert");
# the other two are guesses. Clients should depend on status alone.
SERVED_JOB_TYPES = {
    "upsert": "upsert_contacts",
    "delete": "delete_contacts",
    "remove_from_list": "delete_list_contacts",
    "delete_identifier": "delete_identifier",
    "import": "import_contacts",
}


# The fields an upsert stores; SendGrid ignores other keys, and so does the emulator.
STORED_FIELDS = frozenset({*FIELD_LIMITS, "alternate_emails", "custom_fields"})

_Email = Annotated[str, msgspec.Meta(max_length=254, pattern=EMAIL_RE.pattern)]


def _text(name: str, limit: int | None) -> Any:
    if name == "email":
        return _Email
    return Annotated[str, msgspec.Meta(max_length=limit)] if limit else str


# The same per-field rules as ``_contact_errors``, checked in C while the body is decoded. A body
# that breaks any of them (or one these types are stricter about) takes the itemising check, so
# answers are unchanged: the fast path only spares the emulator's time in every benchmark figure.
_Contact = msgspec.defstruct(
    "_Contact",
    [
        *((name, _text(name, limit) | msgspec.UnsetType, msgspec.UNSET) for name, limit in FIELD_LIMITS.items()),
        (
            "alternate_emails",
            Annotated[list[_Email], msgspec.Meta(max_length=MAX_ALTERNATE_EMAILS)] | msgspec.UnsetType,
            msgspec.UNSET,
        ),
        ("custom_fields", dict[str, Any] | msgspec.UnsetType, msgspec.UNSET),
    ],
)


class _Upsert(msgspec.Struct):
    contacts: Annotated[list[_Contact], msgspec.Meta(min_length=1, max_length=MAX_CONTACTS_PER_UPSERT)]  # type: ignore[valid-type]
    list_ids: list[str] | None = None


_decode_upsert = msgspec.json.Decoder(_Upsert).decode
_OTHER_IDENTIFIERS = frozenset(IDENTIFIERS) - {"email"}


class ContactsEndpoints(Account):
    """The contact endpoints, and the job queue that applies upserts, deletions and list removals.

    Switches for what varies at SendGrid: ``invalid_email_field`` names the suffix of a 400's
    field for a bad email (``email``, or ``identifier`` as in Segment's fixtures), and
    ``errors_url_gzip`` compresses the errors file (its format is undocumented: CSV is a guess).
    """

    invalid_email_field = "email"
    errors_url_gzip = False
    errors_url_expired = False  # the errors file's link answers 403, as an expired pre-signed link does

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

    def _upsert(self, req: Request) -> Response:
        if len(req.body) > self.max_body_bytes:
            raise ApiError(413, f"request body exceeds {self.max_body_bytes} bytes")
        try:
            typed = _decode_upsert(req.body)
        except (msgspec.DecodeError, RecursionError):  # some rule is broken: find and itemise what is wrong
            typed = None
        list_ids: Any  # a list of ids, or (from a body the typed decoder refused) any JSON value
        if typed is not None:
            contacts, list_ids = msgspec.to_builtins(typed.contacts), typed.list_ids or []
            # Left to check: an identifier when email is absent, and custom field ids.
            suspects = [(i, c) for i, c in enumerate(contacts) if not c.get("email") or "custom_fields" in c]
        else:
            body = req.json()
            if not isinstance(body, dict):
                raise ApiError(400, "request body must be an object")
            contacts = body.get("contacts")
            if not isinstance(contacts, list) or not 1 <= len(contacts) <= MAX_CONTACTS_PER_UPSERT:
                raise ApiError(400, f"contacts must hold 1 to {MAX_CONTACTS_PER_UPSERT} contacts", "contacts")
            list_ids = body.get("list_ids") or []  # any JSON: checked below
            suspects = list(enumerate(contacts))
        if not isinstance(list_ids, list) or not all(isinstance(i, str) for i in list_ids):
            raise ApiError(400, "list_ids must be an array of list ids (strings)", "list_ids")
        with self._lock:
            unknown = [i for i in list_ids if i not in self.lists]
            if unknown:
                raise ApiError(400, f"list ids do not exist: {', '.join(map(str, unknown))}", "list_ids")
            errors = [e for i, c in suspects for e in self._contact_errors(i, c)]
            if errors:
                if not self.itemised_errors:
                    errors = [{"field": None, "message": errors[0]["message"]}]
                raise ApiError(400, errors[0]["message"], errors=errors)
            if typed is None:
                contacts = [{k: v for k, v in c.items() if k in STORED_FIELDS} for c in contacts]
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
            limit = FIELD_LIMITS.get(name, 0)
            if limit != 0:  # a reserved text field (None: no stated maximum)
                if type(value) is not str:
                    errors.append({"field": f"{at}.{name}", "message": f"{name} must be a string"})
                elif limit is not None and len(value) > limit:
                    errors.append({"field": f"{at}.{name}", "message": f"{name} must be at most {limit} characters"})
                elif name == "email" and not valid_email(value):
                    errors.append(
                        {"field": f"{at}.{self.invalid_email_field}", "message": f"email '{value}' is not valid"}
                    )
            elif name == "alternate_emails":
                if not isinstance(value, list) or len(value) > MAX_ALTERNATE_EMAILS or not all(map(valid_email, value)):
                    errors.append({"field": f"{at}.{name}", "message": "alternate_emails must be 0-5 valid emails"})
            elif name == "custom_fields":
                unknown = [k for k in (value if isinstance(value, dict) else {}) if k not in self.custom_fields]
                if not isinstance(value, dict) or unknown:
                    names = ", ".join(unknown) or "custom_fields must be an object"
                    errors.append({"field": f"{at}.{name}", "message": f"invalid custom field ids supplied - {names}"})
            # Unknown keys are ignored, as at SendGrid.
        return errors

    def _delete_contacts(self, req: Request) -> Response:
        """DeleteContact: ``ids`` or ``delete_all_contacts=true``, one of them (spec: "You must set either")."""
        ids = [i for i in ",".join(req.query.get("ids", [])).split(",") if i]
        everything = req.query.get("delete_all_contacts", [""])[-1]
        if everything not in ("", "true"):
            raise ApiError(400, 'delete_all_contacts must be "true" when given', "delete_all_contacts")
        if bool(ids) == bool(everything):
            raise ApiError(400, "set either ids or delete_all_contacts=true", "ids")
        with self._lock:
            job = self._enqueue("delete", {"ids": ids or list(self.contacts)})
        return 202, {"job_id": job.id}

    def _count(self, req: Request) -> Response:
        with self._lock:
            return 200, {"contact_count": len(self.contacts), "billable_count": len(self.contacts)}

    def _get_job(self, req: Request) -> Response:
        job = self.jobs.get(req.params["job_id"])
        if job is None:
            raise ApiError(404, "job not found", "id")
        answer = {
            "id": job.id,
            "status": job.status,
            "job_type": SERVED_JOB_TYPES[job.job_type],
            # Recorded from production: while pending, results already exist and grow.
            "results": job.results or {"requested_count": self._requested(job)},
            "started_at": job.started_at,
        }
        if job.finished_at is not None:  # absent, not null, while pending (recorded)
            answer["finished_at"] = job.finished_at
        return 200, answer

    def _admin_job_errors(self, req: Request) -> Response:
        # Best effort at SendGrid (docs/sendgrid-api.md): a CSV of email and error, at a link that takes no key.
        if req.headers.get("Authorization"):
            raise ApiError(400, "Only one auth mechanism allowed; the link already authenticates")
        job = self.jobs.get(req.params["job_id"])
        if job is None:
            raise ApiError(404, "job not found")
        if self.errors_url_expired:
            raise ApiError(403, "Request has expired")  # a pre-signed link past its time
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["email", "error"])
        writer.writerows(job.errors)
        data = out.getvalue().encode()
        return 200, gzip.compress(data) if self.errors_url_gzip else data

    # --- jobs ---------------------------------------------------------------------

    def _run_job(self, job: Job) -> None:
        if job.job_type == "upsert" and self._past_contact_limit(job):
            requested = self._requested(job)
            job.status, job.results = "failed", {"requested_count": requested, "errored_count": requested}
            job.errors = [[c.get("email", ""), "you have hit your contact limit"] for c in job.payload["contacts"]]
            job.results["errors_url"] = f"{self.url}/_emulator/jobs/{job.id}/errors"
        elif self._random.random() < self.faults.job_failure_rate:
            job.status, job.results = (
                "failed",
                {"requested_count": self._requested(job), "errored_count": self._requested(job)},
            )
        elif job.job_type in ("upsert", "import"):
            self._apply_upsert(job)
        elif job.job_type == "delete_identifier":
            self._apply_identifier_deletion(job)
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

    def _past_contact_limit(self, job: Job) -> bool:
        """Whether an upsert job's new contacts would take the account past its contact limit."""
        if self.contact_limit is None:
            return False
        known = {c.get("email") for c in self.contacts.values()}
        new = sum(1 for c in job.payload["contacts"] if str(c.get("email", "")).lower() not in known)
        return len(self.contacts) + new > self.contact_limit

    @staticmethod
    def _requested(job: Job) -> int:
        return len(job.payload.get("contacts") or job.payload.get("ids") or [])

    def _apply_upsert(self, job: Job) -> None:
        created = updated = 0
        prior = len(job.errors)  # rows of a CSV import already refused
        now = _now()  # one timestamp per job: formatting one per contact was most of a job's time
        list_ids = job.payload["list_ids"]
        for contact in job.payload["contacts"]:  # holding STORED_FIELDS only (see _upsert)
            custom = contact.pop("custom_fields", None)
            error = self._value_error(custom) if custom else None
            if error:
                job.errors.append([contact.get("email", ""), error])
                continue
            email = contact.get("email")  # the first identifier, and almost always the only one
            if email:
                email = contact["email"] = email.lower()
            key = ("email", email) if email else next((k, contact[k]) for k in IDENTIFIERS if contact.get(k))
            stored = self.contacts.get(self._by_identifier.get(key, ""))
            others = not contact.keys().isdisjoint(_OTHER_IDENTIFIERS)
            if stored is None:
                created += 1
                stored = {"id": str(uuid.uuid4()), "list_ids": [], "custom_fields": {}, "created_at": now}
                self.contacts[stored["id"]] = stored
                others = True  # index every identifier given
            else:
                # Spec: "To update a contact, all of its existing identifiers must be present". One
                # found by its email, with no other identifier stored, cannot lack any.
                if not email or not stored.keys().isdisjoint(_OTHER_IDENTIFIERS):
                    missing = [k for k in IDENTIFIERS if stored.get(k) and not contact.get(k)]
                    if missing:
                        job.errors.append(
                            [contact.get("email", ""), f"all existing identifiers must be present: {missing}"]
                        )
                        continue
                updated += 1
            stored.update(contact)
            if custom:
                stored["custom_fields"].update(custom)
            member_of = stored["list_ids"]
            for list_id in list_ids:
                if list_id not in member_of:
                    member_of.append(list_id)
            stored["updated_at"] = now
            if others:  # else it was found by its email, which is indexed
                for k in IDENTIFIERS:
                    if contact.get(k):
                        self._by_identifier[(k, contact[k])] = stored["id"]
        requested = len(job.payload["contacts"]) + prior
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
            if field_id not in self.custom_fields:  # deleted since the upsert was accepted
                return f"invalid custom field ids supplied - {field_id}"
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
