"""HTTP to SendGrid: one pooled session, timeouts, every retry, and downloads that never get the key."""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
import typing as t
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any
from urllib.parse import urlsplit

import backoff
import requests
import requests.adapters
from typing_extensions import override

from target_sendgrid import __version__
from target_sendgrid.sendgrid import deadline as deadlines
from target_sendgrid.sendgrid.api_errors import (
    AUTH_HINT,
    AuthError,
    BadRequest,
    NotFound,
    SendGridError,
    Unreachable,
    scrub,
)
from target_sendgrid.sendgrid.export_files import Bounds, bounded_lines
from target_sendgrid.sendgrid.urls import SENDGRID_API_URL, check_api_url, check_url, is_loopback

logger = logging.getLogger(__name__)


class _NoQueries(logging.Filter):
    """Cuts the query from every URL urllib3 logs (at DEBUG): a pre-signed link's signature is a credential."""

    _QUERY = re.compile(r"\?[^\s\"']*")

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._QUERY.sub("?<query>", a) if isinstance(a, str) else a for a in record.args)
        record.msg = self._QUERY.sub("?<query>", str(record.msg))
        return True


for _name in ("urllib3.connectionpool", "urllib3.connection", "urllib3.response"):
    logging.getLogger(_name).addFilter(_NoQueries())


class _DeadlinePassed(Exception):
    """The call's deadline passed (retries included): not retried."""


class _Retryable(Exception):
    """A 5xx answer, retried with backoff."""

    def __init__(self, response: Answer) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class _TooLarge(Exception):
    """An answer longer than MAX_ANSWER_BYTES: not read on, not retried."""


# An API answer is read whole, so it is bounded: the largest SendGrid gives (100 contacts of a
# search, each with up to 500 custom fields of 1,000 characters) stays under this. Downloads have
# bounds of their own (max_download_bytes).
# The defaults of request_timeout_seconds and max_retries: declared here, read by the settings' schema.
DEFAULT_TIMEOUT_SECONDS = 60
DEFAULT_MAX_RETRIES = 8

MAX_ANSWER_BYTES = 64 * 1024 * 1024


class Answer(t.NamedTuple):
    """An API answer, read whole within MAX_ANSWER_BYTES (decoded) and the exchange's deadline."""

    status_code: int
    reason: str
    headers: t.Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        """The body as JSON (ValueError if it is not)."""
        return json.loads(self.content)


def _read_whole(response: requests.Response) -> Answer:
    """The answer's body, chunk by chunk (gzip undone), refused past MAX_ANSWER_BYTES."""
    body = bytearray()
    for chunk in response.iter_content(1 << 16):
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise _TooLarge
    return Answer(response.status_code, response.reason or "", response.headers, bytes(body))


MAX_RESET_WAIT = 120.0  # SendGrid's windows are about a minute (docs/sendgrid-api.md, "Transport")
IMPLAUSIBLE_RESET_WAIT = 5.0  # the wait for a reset that is no finite, plausible number


def reset_delay(headers: Any) -> float:
    """Seconds to wait after a 429, from ``x-ratelimit-reset`` (a delay, or epoch seconds).

    A reset that is not a finite number, or lies more than an hour away, is a bad answer: a short
    wait, said in a warning. A long wait is logged.
    """
    raw = headers.get("x-ratelimit-reset", "1")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if value > 1e9:  # an epoch timestamp, as on SendGrid's older endpoints
        value -= time.time()
    if not math.isfinite(value) or value > 3600:
        logger.warning(
            "Rate limited, with a reset SendGrid gave as %r: waiting %.0fs", str(raw)[:20], IMPLAUSIBLE_RESET_WAIT
        )
        return IMPLAUSIBLE_RESET_WAIT
    wait = min(max(value, 0.05), MAX_RESET_WAIT)
    if wait >= 10:
        logger.info("Rate limited: waiting %.0fs, as x-ratelimit-reset says", wait)
    return wait


def _messages(response: Answer) -> tuple[str, list[dict[str, Any]]]:
    """SendGrid's error messages, scrubbed of addresses, and its errors list (items not objects left out)."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    errors = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    for error in errors:
        error["message"] = scrub(str(error.get("message")))[:500]
    text = "; ".join(f"{e.get('field') or ''}: {e.get('message')}".lstrip(": ") for e in errors[:5])
    shown = text or (f"a {response.headers.get('Content-Type') or 'non-JSON'} answer" if response.content else "")
    return shown or response.reason or "", errors


# The requests that read though they are not GETs: searches, and contacts exports (a file of
# the account's own contacts). A read-only transport (a plan's) sends nothing else but GETs.
READS = frozenset(
    {
        ("POST", "/v3/marketing/contacts/search/emails"),
        ("POST", "/v3/marketing/contacts/search"),
        ("POST", "/v3/marketing/contacts/batch"),
        ("POST", "/v3/marketing/contacts/exports"),
    }
)


class Transport:
    """Requests to ``api_url`` with the retries a nightly export needs.

    429 waits as long as ``x-ratelimit-reset`` says; 5xx answers, dropped connections and
    timeouts are retried with exponential backoff and full jitter up to ``max_retries``
    times. 401/403 fail at once. Every request the run sends is counted.
    """

    def __init__(
        self,
        api_key: str,
        api_url: str = SENDGRID_API_URL,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_factor: float = 0.5,
        read_only: bool = False,
    ) -> None:
        self.api_url = check_api_url(api_url)
        self.read_only = read_only  # refuse every request that could change the account (see READS)
        self.timeout = timeout
        self.requests_sent = 0
        self.bytes_sent = 0
        # Until api_url has answered once, a connection that cannot be made is a wrong address (refused,
        # unknown host, TLS to a plain-HTTP server), not a passing fault: it fails at once, unretried.
        self.answered = False
        self._count_lock = threading.Lock()
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16)
        deadlines.install(adapter)  # every exchange ends by its deadline, however slow each answer
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({"User-Agent": f"target-sendgrid/{__version__}", "Accept": "application/json"})
        self._auth = {"Authorization": f"Bearer {api_key}"}  # sent only to api_url, never to download links
        on_errors = backoff.on_exception(
            backoff.expo,
            # A reset in the middle of an answer (ChunkedEncodingError) is a dropped connection too:
            # every request retried is idempotent (an upsert of the same contacts included).
            (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, _Retryable),
            max_tries=max_retries + 1,
            factor=backoff_factor,
            max_value=30,
            jitter=backoff.full_jitter,
            on_backoff=self._log_retry,
            giveup=lambda exc: not self.answered and isinstance(exc, requests.ConnectionError),
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

    def _log_retry(self, details: Any) -> None:
        """One line naming the request and what went wrong (never a connection pool's internals)."""
        exc = details.get("exception")
        method, url = details["args"][:2]
        what = f"HTTP {exc.response.status_code}" if isinstance(exc, _Retryable) else type(exc).__name__
        logger.warning(
            "Retrying %s %s after %s (attempt %d, waiting %.1fs)",
            method,
            url[len(self.api_url) :] or "/",
            what,
            details["tries"],
            details["wait"],
        )

    def _send_once(self, method: str, url: str, deadline: float | None = None, **kwargs: Any) -> Answer:
        """One exchange, whole within ``request_timeout_seconds`` and before the call's ``deadline``."""
        budget = deadlines.remaining(deadline, self.timeout)
        if budget <= 0:
            raise _DeadlinePassed
        body = kwargs.get("data") or b""
        with self._count_lock:
            self.requests_sent += 1
            self.bytes_sent += len(body)
        # No redirect is followed: SendGrid documents none, and one would carry the body (personal
        # data) to wherever it points, over plain http as well (README, "Reliability").
        with deadlines.Watch(budget) as watch:
            try:
                with self.session.request(
                    method, url, timeout=budget, allow_redirects=False, stream=True, **kwargs
                ) as opened:
                    response = _read_whole(opened)
            except requests.RequestException:
                if watch.expired:  # the watch cut a slow answer short: a timeout, retried as one
                    raise requests.Timeout(f"no whole answer within {budget:.0f}s") from None
                raise
        self.answered = True
        if response.status_code >= 500:
            raise _Retryable(response)
        return response

    def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        """Send with retries and turn error answers into exceptions."""
        if self.read_only and method != "GET" and (method, path) not in READS:
            raise SendGridError(f"{method} {path} was not sent: this run writes nothing to SendGrid (plan)")
        headers = {**kwargs.pop("headers", {}), **self._auth}
        try:
            response: Answer = self._send(method, self.api_url + path, headers=headers, **kwargs)
        except _TooLarge:
            raise SendGridError(
                f"{method} {path}: SendGrid's answer is longer than {MAX_ANSWER_BYTES} bytes; it was not read on"
            ) from None
        except _DeadlinePassed:
            raise TimeoutError(f"{method} {path}: no whole answer before the deadline, retries included") from None
        except requests.ConnectionError as exc:
            if not self.answered:
                raise Unreachable(
                    f"Could not connect to {self.api_url} ({method} {path}): "
                    f"{_cause(exc, is_loopback(urlsplit(self.api_url).hostname or ''))}."
                ) from None
            raise self._unreached(method, path, exc) from None
        except (requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise self._unreached(method, path, exc) from None
        except requests.RequestException as exc:  # an answer that cannot be read (a Content-Encoding that lies)
            raise SendGridError(f"{method} {path}: SendGrid's answer could not be read: {type(exc).__name__}") from None
        except _Retryable as exc:
            message, errors = _messages(exc.response)
            raise SendGridError(
                f"{method} {path}: HTTP {exc.response.status_code} after retries: {message}",
                exc.response.status_code,
                errors,
            ) from None
        status = response.status_code
        if 300 <= status < 400:
            raise SendGridError(f"{method} {path}: SendGrid answered a redirect (HTTP {status}), which is not followed")
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

    def _unreached(self, method: str, path: str, exc: Exception) -> SendGridError:
        """A request that failed every retry without a whole answer."""
        return SendGridError(
            f"Could not reach {self.api_url} ({method} {path}), retries included: {type(exc).__name__}. "
            "Check api_url and the network."
        )

    def answer(self, method: str, path: str, *, needs: tuple[str, ...] = (), **kwargs: Any) -> dict[str, Any]:
        """The JSON object SendGrid answered, with the keys ``needs`` names; one line naming the endpoint if not."""
        response = self.request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError:  # not JSON, or cut off
            kind = response.headers.get("Content-Type") or "no content type"
            raise SendGridError(f"{method} {path}: SendGrid's answer is not JSON ({kind})") from None
        if not isinstance(body, dict):
            raise SendGridError(f"{method} {path}: SendGrid's answer is a JSON {type(body).__name__}, not an object")
        if missing := [key for key in needs if not isinstance(body.get(key), str) or not body[key]]:
            raise SendGridError(f"{method} {path}: SendGrid's answer has no {', '.join(missing)}")
        return body

    @contextmanager
    def download(self, url: str, what: str, bounds: Bounds) -> Iterator[Iterator[str]]:
        """The lines behind a download link SendGrid gave, gunzipped if need be; never with the key.

        The links are pre-signed object-store URLs: they refuse a second auth mechanism.
        """
        # A failure names the link's kind only: its query string is a credential.
        try:
            check_url(url, what)
        except ValueError:  # SendGrid's answer is refused, like any other it should not have given
            raise SendGridError(f"download of an {what} refused: not an https:// link") from None
        with deadlines.Watch(bounds.deadline - time.monotonic()) as watch:
            try:
                opened = self.session.get(url, timeout=self.timeout, stream=True, allow_redirects=False)
            except requests.RequestException as exc:
                why = "not read within its time" if watch.expired else f"failed: {type(exc).__name__}"
                raise SendGridError(f"download of an {what} {why}") from None
            try:
                with self._opened(opened, what, bounds) as lines:
                    yield lines
            except SendGridError:
                if watch.expired:
                    raise SendGridError(f"download of an {what}: not read within its time") from None
                raise

    @contextmanager
    def _opened(self, opened: requests.Response, what: str, bounds: Bounds) -> Iterator[Iterator[str]]:
        """The lines of a download's answer, once its status says there is a file."""
        with opened as response:
            if 300 <= response.status_code < 400:
                raise SendGridError(f"download of an {what} was redirected (HTTP {response.status_code}): not followed")
            if response.status_code >= 400:
                raise SendGridError(f"download of an {what} failed: HTTP {response.status_code}")
            response.raw.decode_content = True  # undo a Content-Encoding; a gzip body is judged by its bytes
            response.raw.auto_close = False  # the gzip reader reads past the end: EOF, not a closed file
            yield bounded_lines(t.cast(IO[bytes], response.raw), f"download of an {what}", bounds)


def _cause(exc: requests.ConnectionError, loopback: bool) -> str:
    """Why a connection could not be made, in a user's words, with the fix where there is one."""
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return "its TLS certificate could not be verified (TLS verification stays on)"
        return "the TLS handshake failed: is it a plain http:// server? (http is allowed only on loopback)"
    if "Name or service not known" in text or "name resolution" in text or "nodename nor servname" in text:
        return "its host name is unknown: check api_url"
    if "Connection refused" in text:
        hint = " (is the emulator running? start it with sendgrid-emulator)" if loopback else ""
        return f"the connection was refused, nothing listens there{hint}"
    return f"{type(exc).__name__}: check api_url and the network"
