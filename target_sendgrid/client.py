"""The one HTTP layer to SendGrid: a pooled session, timeouts, and every retry."""

from __future__ import annotations

import csv
import io
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import backoff
import requests

from target_sendgrid import __version__
from target_sendgrid.exportfiles import contact_rows, text_lines
from target_sendgrid.limits import MAX_SEARCH_EMAILS

logger = logging.getLogger("target-sendgrid.client")

AUTH_HINT = (
    "Check that api_key is a current SendGrid API key with the Marketing scopes "
    "(marketing.read and marketing.write, or Full Access), and that the account uses the new "
    "Marketing Campaigns: legacy Marketing Campaigns accounts answer 403."
)


class SendGridError(Exception):
    """An error answer from SendGrid, with its ``errors`` list."""

    def __init__(self, message: str, status: int | None = None, errors: list[dict] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors or []


class AuthError(SendGridError):
    """401 or 403: retrying cannot help."""


class BadRequest(SendGridError):
    """400 or 413: the request itself was refused; ``errors`` may name contacts."""


class NotFound(SendGridError):
    """404."""


class _Retryable(Exception):
    """A 5xx answer, retried with backoff."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def is_loopback(host: str) -> bool:
    """Whether a host name or address is on this machine's loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str = "api_url") -> str:
    """Refuse any URL that would carry data or the key in clear over a network."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url.rstrip("/")
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return url.rstrip("/")
    raise ValueError(
        f"{what} must be an https:// URL (plain http is allowed only on loopback, for the emulator); got {url!r}"
    )


def reset_delay(headers: Any) -> float:
    """Seconds to wait after a 429, from ``x-ratelimit-reset`` (a delay, or epoch seconds)."""
    try:
        value = float(headers.get("x-ratelimit-reset", "1"))
    except ValueError:
        value = 1.0
    if value > 1e9:  # an epoch timestamp, as on SendGrid's older endpoints
        value -= time.time()
    return min(max(value, 0.05), 120.0)


def _messages(response: requests.Response) -> tuple[str, list[dict]]:
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    text = "; ".join(f"{e.get('field') or ''}: {e.get('message')}".lstrip(": ") for e in errors[:5])
    return text or (response.text[:200] if response.text else response.reason or ""), errors


class SendGridClient:
    """SendGrid's Marketing Contacts API, with the retries a nightly export needs.

    429 waits as long as ``x-ratelimit-reset`` says; 5xx answers, dropped connections and
    timeouts are retried with exponential backoff and full jitter up to ``max_retries``
    times. 401/403 fail at once. Every request the run sends is counted.
    """

    def __init__(
        self,
        api_key: str,
        api_url: str = "https://api.sendgrid.com",
        *,
        timeout: float = 60.0,
        max_retries: int = 8,
        backoff_factor: float = 0.5,
    ) -> None:
        self.api_url = check_url(api_url)
        self.timeout = timeout
        self.requests_sent = 0
        self.bytes_sent = 0
        self._count_lock = threading.Lock()
        self._finished = threading.Condition()  # notified when a poll sees its job or export finish
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({"User-Agent": f"target-sendgrid/{__version__}", "Accept": "application/json"})
        self._auth = {"Authorization": f"Bearer {api_key}"}  # sent only to api_url, never to download links
        on_errors = backoff.on_exception(
            backoff.expo,
            (requests.ConnectionError, requests.Timeout, _Retryable),
            max_tries=max_retries + 1,
            factor=backoff_factor,
            max_value=30,
            jitter=backoff.full_jitter,
            on_backoff=self._log_retry,
            logger=None,
        )
        on_429 = backoff.on_predicate(
            backoff.runtime,
            predicate=lambda r: r.status_code == 429,
            value=lambda r: reset_delay(r.headers),
            max_tries=max(10, max_retries * 4),
            jitter=None,
            logger=None,
        )
        self._send = on_errors(on_429(self._send_once))

    @staticmethod
    def _log_retry(details: dict) -> None:
        exc = details.get("exception")
        logger.warning("Retrying after %s (attempt %d, waiting %.1fs)", exc, details["tries"], details["wait"])

    def _send_once(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        body = kwargs.get("data") or b""
        with self._count_lock:
            self.requests_sent += 1
            self.bytes_sent += len(body)
        response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        if response.status_code >= 500:
            raise _Retryable(response)
        return response

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send with retries and turn error answers into exceptions."""
        headers = {**kwargs.pop("headers", {}), **self._auth}
        try:
            response = self._send(method, self.api_url + path, headers=headers, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            host = urlsplit(self.api_url).hostname or ""
            hint = " Is the emulator running (sendgrid-emulator)?" if is_loopback(host) else ""
            raise SendGridError(
                f"Could not reach {self.api_url} ({method} {path}), retries included: {type(exc).__name__}. "
                f"Check api_url and the network.{hint}"
            ) from None
        except _Retryable as exc:
            message, errors = _messages(exc.response)
            raise SendGridError(
                f"{method} {path}: HTTP {exc.response.status_code} after retries: {message}",
                exc.response.status_code,
                errors,
            ) from None
        status = response.status_code
        if status < 400:
            return response
        message, errors = _messages(response)
        if status in (401, 403):
            raise AuthError(f"SendGrid refused the API key (HTTP {status}: {message}). {AUTH_HINT}", status, errors)
        if status in (400, 413):
            raise BadRequest(f"{method} {path}: HTTP {status}: {message}", status, errors)
        if status == 404:
            raise NotFound(f"{method} {path}: not found: {message}", status, errors)
        if status == 429:
            raise SendGridError(f"{method} {path}: still rate limited after waiting", status, errors)
        raise SendGridError(f"{method} {path}: HTTP {status}: {message}", status, errors)

    # --- endpoints ------------------------------------------------------------------

    def field_definitions(self) -> dict:
        """GET field definitions; also the cheap request that checks the key at start."""
        body = self.request("GET", "/v3/marketing/field_definitions").json()
        body.setdefault("custom_fields", [])
        return body

    def create_custom_field(self, name: str, field_type: str) -> dict:
        """POST a custom field definition; returns it with its id."""
        return self.request(
            "POST", "/v3/marketing/field_definitions", json={"name": name, "field_type": field_type}
        ).json()

    def get_list(self, list_id: str) -> dict:
        """One list with its contact count."""
        return self.request("GET", f"/v3/marketing/lists/{list_id}").json()

    def lists(self) -> Iterator[dict]:
        """Every list of the account, following ``_metadata.next`` page by page."""
        path: str | None = "/v3/marketing/lists?page_size=1000"
        while path:
            page = self.request("GET", path).json()
            yield from page.get("result") or []
            next_url = (page.get("_metadata") or {}).get("next")
            if next_url and not next_url.startswith(self.api_url + "/"):
                # The key goes only to api_url, never to a host named in an answer.
                raise SendGridError(f"list pagination points outside api_url: {next_url}")
            path = next_url[len(self.api_url) :] if next_url else None

    def create_list(self, name: str) -> str:
        """Create a list; returns its id."""
        return self.request("POST", "/v3/marketing/lists", json={"name": name}).json()["id"]

    def contact_ids(self, emails: list[str]) -> dict[str, str]:
        """email -> contact id for the emails that exist."""
        ids: dict[str, str] = {}
        for found in self._lookup("/v3/marketing/contacts/search/emails", "emails", emails):
            ids.update(
                {e.lower(): r["contact"]["id"] for e, r in (found.get("result") or {}).items() if "contact" in r}
            )
        return ids

    def existing_contact_ids(self, contact_ids: list[str]) -> list[str]:
        """Those of these contact ids that still exist (contacts/batch)."""
        answers = self._lookup("/v3/marketing/contacts/batch", "ids", contact_ids)
        found = {contact.get("id") for answer in answers for contact in answer.get("result") or []}
        return [i for i in contact_ids if i in found]

    def _lookup(self, path: str, key: str, values: list[str]) -> Iterator[dict]:
        """POST ``{key: values}`` 100 values at a time (both look-ups' cap); a 404 means none was found."""
        for start in range(0, len(values), MAX_SEARCH_EMAILS):
            try:
                yield self.request("POST", path, json={key: values[start : start + MAX_SEARCH_EMAILS]}).json()
            except NotFound:
                continue

    def remove_from_list(self, list_id: str, contact_ids: list[str]) -> str:
        """Remove contacts from a list (they stay in the account); returns the job id."""
        response = self.request(
            "DELETE", f"/v3/marketing/lists/{list_id}/contacts", params={"contact_ids": ",".join(contact_ids)}
        )
        return response.json()["job_id"]

    def list_members(self, list_id: str, timeout: float) -> Iterator[dict]:
        """Every contact of a list, read through a contacts export (search returns at most 50).

        Rows come one at a time from each of the export's files (see ``exportfiles``).
        """
        export_id = self.request(
            "POST", "/v3/marketing/contacts/exports", json={"list_ids": [list_id], "file_type": "json"}
        ).json()["id"]
        export = self._poll(
            lambda: self.request("GET", f"/v3/marketing/contacts/exports/{export_id}").json(),
            lambda e: e.get("status") != "pending",
            timeout,
            f"export of list {list_id}",
        )
        if export.get("status") != "ready":
            raise SendGridError(f"export of list {list_id} ended {export.get('status')}: {export.get('message', '')}")
        for url in export.get("urls") or []:
            with self._download(url, "export url") as lines:
                yield from contact_rows(lines)

    def upsert(self, body: bytes | Iterable[bytes]) -> str:
        """PUT a prepared upsert body (bytes, or an iterable of bytes with a length); returns the job id."""
        response = self.request(
            "PUT", "/v3/marketing/contacts", data=body, headers={"Content-Type": "application/json"}
        )
        return response.json()["job_id"]

    def job(self, job_id: str) -> dict:
        """An import job's status and results."""
        return self.request("GET", f"/v3/marketing/contacts/imports/{job_id}").json()

    def wait_for_job(self, job_id: str, timeout: float) -> dict:
        """Poll an import job until it is no longer pending; raise TimeoutError past ``timeout``."""
        return self._poll(
            lambda: self.job(job_id), lambda j: j.get("status") != "pending", timeout, f"import job {job_id}"
        )

    def run_job(self, submit: Callable[[], str], timeout: float, attempts: int, what: str) -> tuple[dict, int]:
        """Submit, follow the job to its end, and submit again while it ends ``failed``.

        Returns the finished job and how many submissions it took; raises SendGridError when
        all ``attempts`` failed. Each job's end is logged, for progress on long runs.
        """
        for attempt in range(1, attempts + 1):
            job_id = submit()
            started = time.monotonic()
            job = self.wait_for_job(job_id, timeout)
            status = job.get("status")
            logger.info("Import job %s %s: %s in %.1fs", job_id, status, what, time.monotonic() - started)
            if status != "failed":
                return job, attempt
            if attempt < attempts:
                logger.warning("Import job %s ended failed; submitting %s again", job_id, what)
        raise SendGridError(f"Import jobs for {what} ended failed {attempts} times; stopping the export")

    def _poll(self, fetch: Callable[[], dict], finished: Callable[[dict], bool], timeout: float, what: str) -> dict:
        """Fetch until ``finished``, waiting longer each time (50 ms growing to 5 s); TimeoutError past timeout.

        A job that finishes wakes every other poll at once: SendGrid works through an account's
        jobs roughly in order, so the older ones are likely done too, and their polls may have
        grown to seconds apart.
        """
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            answer = fetch()
            if finished(answer):
                with self._finished:
                    self._finished.notify_all()
                return answer
            if time.monotonic() + delay > deadline:
                raise TimeoutError(f"{what} still pending after {timeout:.0f}s (job_timeout_seconds)")
            with self._finished:
                self._finished.wait(delay)
            delay = min(delay * 1.5, 5.0)

    @contextmanager
    def _download(self, url: str, what: str) -> Iterator[io.TextIOWrapper]:
        """The lines behind a download link SendGrid gave, gunzipped if need be; never with the key.

        The links are pre-signed object-store URLs: they refuse a second auth mechanism.
        """
        check_url(url, what)
        # A failure names the link's kind only: its query string is a credential.
        try:
            opened = self.session.get(url, timeout=self.timeout, stream=True)
        except requests.RequestException as exc:
            raise SendGridError(f"download of an {what} failed: {type(exc).__name__}") from None
        with opened as response:
            if response.status_code >= 400:
                raise SendGridError(f"download of an {what} failed: HTTP {response.status_code}")
            response.raw.decode_content = True  # undo a Content-Encoding; a gzip body is judged by its bytes
            response.raw.auto_close = False  # the gzip reader reads past the end: EOF, not a closed file
            yield text_lines(response.raw)

    def job_errors(self, job: dict) -> list[tuple[str, str]]:
        """(email, message) pairs from a job's ``errors_url``, best effort."""
        url = (job.get("results") or {}).get("errors_url")
        if not url:
            return []
        out = []
        try:
            with self._download(url, "errors_url") as lines:
                for row in csv.DictReader(lines):
                    lowered = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
                    message = lowered.get("error") or lowered.get("message") or "job error"
                    out.append((lowered.get("email", "").strip().lower(), message))
        except (ValueError, OSError, csv.Error, requests.RequestException, SendGridError) as exc:
            # Its format is undocumented: never fail a run over it; errored_count is still counted.
            why = exc if isinstance(exc, SendGridError) else type(exc).__name__  # never a line of the file
            logger.warning("Could not read the errors of import job %s: %s", job.get("id"), why)
        return out
