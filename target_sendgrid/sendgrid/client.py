"""SendGrid's Marketing Contacts endpoints that the target calls, one method each."""

from __future__ import annotations

import csv
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypedDict, TypeGuard
from urllib.parse import quote

import requests

from target_sendgrid.sendgrid.api_errors import AuthError, NotFound, SendGridError, scrub
from target_sendgrid.sendgrid.export_files import DEFAULT_MAX_DOWNLOAD_BYTES, Bounds, contact_rows
from target_sendgrid.sendgrid.jobs import Poller, status_of
from target_sendgrid.sendgrid.limits import MAX_SEARCH_EMAIL_LENGTH, MAX_SEARCH_EMAILS
from target_sendgrid.sendgrid.transport import Transport
from target_sendgrid.sendgrid.urls import SENDGRID_API_URL

logger = logging.getLogger(__name__)

# The statuses SendGrid gives, by what they mean (docs/sendgrid-api.md, "Import jobs" and "Export status").
# Anything else, "processing" included, is not finished: polled on until the timeout.
JOB_FINISHED = frozenset({"completed", "errored", "failed"})
# A job failed past the plan's contact limit (sendgrid-go #413): resubmitting cannot succeed.
CONTACT_LIMIT = re.compile(r"contact limit", re.IGNORECASE)
# GET /v3/scopes's answers that skip the key check at start (see scopes).
SCOPES_UNANSWERED = frozenset({403, 404})
EXPORT_READY = "ready"
EXPORT_FAILED = frozenset({"failure", "failed", "timeout"})


class FieldDefinition(TypedDict):
    """A custom field definition as SendGrid gives it, checked to hold what the target reads."""

    id: str
    name: str
    field_type: str  # "Text", "Number" or "Date"


class SendGridClient(Transport):
    """The endpoints, over the transport's retries; import jobs and exports followed to their end."""

    def __init__(
        self,
        api_key: str,
        api_url: str = SENDGRID_API_URL,
        *,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        **options: Any,
    ) -> None:
        super().__init__(api_key, api_url, **options)
        self.poller = Poller()
        self.max_download_bytes = max_download_bytes

    # --- endpoints ------------------------------------------------------------------

    def scopes(self) -> list[str] | None:
        """The key's scopes (GET /v3/scopes); None where the endpoint is absent or the key may not read them.

        Only a 404 (no such endpoint where api_url points) and a 403 (the key may not list its
        scopes) skip the check: the next request, to the field definitions, checks the key anyway
        (docs/sendgrid-api.md, "Transport"). Any other failure is raised, one line naming the
        endpoint: a 401 refuses the key, and an API that fails here would fail the next request too.
        """
        try:
            scopes = self.answer("GET", "/v3/scopes").get("scopes")
        except (NotFound, AuthError) as exc:
            if exc.status in SCOPES_UNANSWERED:
                return None
            raise
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise SendGridError("GET /v3/scopes: scopes is not a list of scope names")
        return scopes

    def field_definitions(self) -> list[FieldDefinition]:
        """The account's custom field definitions (GET); also the cheap request that checks the key at start."""
        body = self.answer("GET", "/v3/marketing/field_definitions")
        fields = body.get("custom_fields") or []
        if not isinstance(fields, list) or not all(_definition(f) for f in fields):
            raise SendGridError("GET /v3/marketing/field_definitions: custom_fields is not a list of definitions")
        return fields

    def create_custom_field(self, name: str, field_type: str) -> FieldDefinition:
        """POST a custom field definition; returns it with its id."""
        body = {"name": name, "field_type": field_type}
        created = self.answer("POST", "/v3/marketing/field_definitions", json=body, needs=("id", "name", "field_type"))
        return FieldDefinition(id=created["id"], name=created["name"], field_type=created["field_type"])

    def get_list(self, list_id: str) -> dict[str, Any]:
        """One list with its contact count."""
        return self.answer("GET", f"/v3/marketing/lists/{_segment(list_id)}")

    def lists(self) -> Iterator[dict[str, Any]]:
        """Every list of the account, following ``_metadata.next`` page by page."""
        path: str | None = "/v3/marketing/lists?page_size=1000"
        while path:
            page = self.answer("GET", path)
            result = page.get("result") or []
            if not isinstance(result, list) or not all(
                isinstance(x, dict) and isinstance(x.get("id"), str) and isinstance(x.get("name"), str) for x in result
            ):
                raise SendGridError("GET /v3/marketing/lists: result is not a list of lists with ids and names")
            yield from result
            next_url = (page.get("_metadata") or {}).get("next")
            if next_url and not next_url.startswith(self.api_url + "/"):
                # The key goes only to api_url, never to a host named in an answer.
                raise SendGridError(f"list pagination points outside api_url: {next_url}")
            path = next_url[len(self.api_url) :] if next_url else None

    def create_list(self, name: str) -> str:
        """Create a list; returns its id."""
        return str(self.answer("POST", "/v3/marketing/lists", json={"name": name}, needs=("id",))["id"])

    def contact_ids(self, emails: list[str]) -> tuple[dict[str, str], list[str]]:
        """email -> contact id for the emails that are a contact's primary email; and those not looked up.

        ``search/emails`` also finds a contact through its alternate emails (spec): that is another
        contact, never this address's. An address longer than its items may be (100 characters) is
        looked up with an SGQL search instead; one that no search can take is returned unlooked.
        """
        wanted = {e.lower() for e in emails}
        short = [e for e in emails if len(e) <= MAX_SEARCH_EMAIL_LENGTH]
        ids: dict[str, str] = {}
        for found in self._lookup("/v3/marketing/contacts/search/emails", "emails", short):
            result = found.get("result") or {}
            if not isinstance(result, dict):
                raise SendGridError("POST /v3/marketing/contacts/search/emails: result is not an object")
            for contact in (entry.get("contact") for entry in result.values() if isinstance(entry, dict)):
                _keep_primary(contact, wanted, ids)
        unlooked = []
        for email in (e for e in emails if len(e) > MAX_SEARCH_EMAIL_LENGTH):
            if "'" in email or "\\" in email:  # SGQL's quoting of these is undocumented: never guessed
                unlooked.append(email)
                continue
            found = self.answer("POST", "/v3/marketing/contacts/search", json={"query": f"email = '{email}'"})
            result = found.get("result")
            for contact in result if isinstance(result, list) else []:
                _keep_primary(contact, wanted, ids)
        return ids, unlooked

    def existing_contact_ids(self, contact_ids: list[str]) -> list[str]:
        """Those of these contact ids that still exist (contacts/batch)."""
        answers = self._lookup("/v3/marketing/contacts/batch", "ids", contact_ids)
        found = set()
        for answer in answers:
            result = answer.get("result")
            for contact in result if isinstance(result, list) else []:
                if isinstance(contact, dict):
                    found.add(contact.get("id"))
        return [i for i in contact_ids if i in found]

    def _lookup(self, path: str, key: str, values: list[str]) -> Iterator[dict[str, Any]]:
        """POST ``{key: values}`` 100 values at a time (both look-ups' cap); a 404 means none was found."""
        for start in range(0, len(values), MAX_SEARCH_EMAILS):
            try:
                yield self.answer("POST", path, json={key: values[start : start + MAX_SEARCH_EMAILS]})
            except NotFound:
                continue

    def remove_from_list(self, list_id: str, contact_ids: list[str]) -> str:
        """Remove contacts from a list (they stay in the account); returns the job id."""
        path = f"/v3/marketing/lists/{_segment(list_id)}/contacts"
        return str(
            self.answer("DELETE", path, params={"contact_ids": ",".join(contact_ids)}, needs=("job_id",))["job_id"]
        )

    def delete_contacts(self, contact_ids: list[str]) -> str:
        """Delete contacts from the account, every list with them; returns the job id."""
        answer = self.answer(
            "DELETE", "/v3/marketing/contacts", params={"ids": ",".join(contact_ids)}, needs=("job_id",)
        )
        return str(answer["job_id"])

    def list_members(self, list_id: str, timeout: float) -> Iterator[dict[str, Any]]:
        """Every contact of a list, read through a contacts export (search returns at most 50).

        Rows come one at a time from each of the export's files (see ``export_files``), all within
        ``timeout`` seconds, polling and downloads together. SendGridError unless the export was read
        whole: every file named, every row readable, as many rows as its ``contact_count`` says.
        """
        deadline = time.monotonic() + timeout
        body = {"list_ids": [list_id], "file_type": "json"}
        path = "/v3/marketing/contacts/exports"
        export_id = self.answer("POST", path, json=body, needs=("id",), deadline=deadline)["id"]
        export = self.poller.poll(
            lambda until: self.answer("GET", f"{path}/{_segment(export_id)}", deadline=until),
            lambda e: status_of(e) == EXPORT_READY or status_of(e) in EXPORT_FAILED,
            timeout,
            f"export of list {list_id}",
        )
        if status_of(export) != EXPORT_READY:
            message = scrub(str(export.get("message") or ""))[:200]
            raise SendGridError(f"export of list {list_id} ended {status_of(export)}: {message}")
        urls = export.get("urls")
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise SendGridError(f"export of list {list_id} is ready but names no files (urls)")
        count = export.get("contact_count")
        read = 0
        bounds = Bounds(self.max_download_bytes, deadline)
        for url in urls:
            with self.download(url, "export url", bounds) as lines:
                for row in contact_rows(lines):
                    read += 1
                    yield row
        if isinstance(count, int) and not isinstance(count, bool) and read != count:
            raise SendGridError(f"export of list {list_id}: {read} rows read where SendGrid counted {count}")

    def upsert(self, body: bytes | Iterable[bytes]) -> str:
        """PUT a prepared upsert body (bytes, or an iterable of bytes with a length); returns the job id."""
        headers = {"Content-Type": "application/json"}
        return str(
            self.answer("PUT", "/v3/marketing/contacts", data=body, headers=headers, needs=("job_id",))["job_id"]
        )

    def job(self, job_id: str, deadline: float | None = None) -> dict[str, Any]:
        """An import job's status and results."""
        return self.answer("GET", f"/v3/marketing/contacts/imports/{_segment(job_id)}", deadline=deadline)

    def wait_for_job(self, job_id: str, timeout: float) -> dict[str, Any]:
        """Poll an import job until it is no longer pending; raise TimeoutError past ``timeout``."""
        return self.poller.poll(
            lambda until: self.job(job_id, until),
            lambda j: status_of(j) in JOB_FINISHED,
            timeout,
            f"import job {job_id}",
        )

    def run_job(
        self, submit: Callable[[], str], timeout: float, attempts: int, what: str
    ) -> tuple[dict[str, Any], int]:
        """Submit, follow the job to its end, and submit again while it ends ``failed``.

        Returns the finished job and how many submissions it took; raises SendGridError when
        all ``attempts`` failed. Each job's end is logged, for progress on long runs.
        """
        reason = ""
        for attempt in range(1, attempts + 1):
            job_id = submit()
            started = time.monotonic()
            job = self.wait_for_job(job_id, timeout)
            status = job.get("status")
            logger.info("Import job %s %s: %s in %.1fs", job_id, status, what, time.monotonic() - started)
            if status != "failed":
                return job, attempt
            reason = self.failure_reason(job)
            said = f" (SendGrid says: {reason})" if reason else ""
            if CONTACT_LIMIT.search(reason):
                raise SendGridError(
                    f"Import job {job_id} for {what} failed{said}: submitting it again cannot succeed. Delete "
                    "contacts the account no longer needs, or raise the plan's contact limit, then run again."
                )
            if attempt < attempts:
                logger.warning("Import job %s ended failed%s; submitting %s again", job_id, said, what)
        said = f" (SendGrid says: {reason})" if reason else ""
        raise SendGridError(f"Import jobs for {what} ended failed {attempts} times{said}; stopping the export")

    def failure_reason(self, job: dict[str, Any]) -> str:
        """Why a job failed, as SendGrid says it (its message, or the first row of its errors file), scrubbed."""
        for said in (job.get("message"), *(m for _, m in self.job_errors(job)[:1])):
            if isinstance(said, str) and said.strip():
                return scrub(said.strip())[:200]
        return ""

    def job_errors(self, job: dict[str, Any]) -> list[tuple[str, str]]:
        """(email, message) pairs from a job's ``errors_url``, best effort."""
        url = (job.get("results") or {}).get("errors_url")
        if not url:
            return []
        out = []
        # Bounded like any download, and by the time of one request: it is best effort.
        bounds = Bounds(min(self.max_download_bytes, 100_000_000), time.monotonic() + self.timeout)
        try:
            if not isinstance(url, str):
                raise SendGridError("errors_url is not a link")
            with self.download(url, "errors_url", bounds) as lines:
                for row in csv.DictReader(lines):
                    lowered = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
                    message = lowered.get("error") or lowered.get("message") or "job error"
                    out.append((lowered.get("email", "").strip().lower(), message))
        except (ValueError, OSError, csv.Error, requests.RequestException, SendGridError) as exc:
            # Its format is undocumented: never fail a run over it; errored_count is still counted.
            why = exc if isinstance(exc, SendGridError) else type(exc).__name__  # never a line of the file
            logger.warning("Could not read the errors of import job %s: %s", job.get("id"), why)
        return out


def _keep_primary(contact: Any, wanted: set[str], ids: dict[str, str]) -> None:
    """Keep a found contact's id under its primary email, if that is an address looked up."""
    if isinstance(contact, dict) and isinstance(contact.get("id"), str) and isinstance(contact.get("email"), str):
        email = contact["email"].lower()
        if email in wanted:
            ids[email] = contact["id"]


def _definition(field: object) -> TypeGuard[FieldDefinition]:
    """Whether a custom field definition has the id, name and type the target needs."""
    return isinstance(field, dict) and all(isinstance(field.get(k), str) for k in ("id", "name", "field_type"))


def _segment(value: object) -> str:
    """An id as one path segment: a / or ? in it (from a setting or an answer) cannot reach another endpoint."""
    return quote(str(value), safe="")
