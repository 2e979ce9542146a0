"""The transport over loopback: retries, error answers as exceptions, answers checked, downloads bounded.

Each error answer is scripted on the hostile proxy in front of the emulator; waits are cut short
(``backoff_factor``, a small ``x-ratelimit-reset``) so retries cost milliseconds.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from typing import Any

import pytest

from sendgrid_emulator import SendGridEmulator
from target_sendgrid.sendgrid.api_errors import AuthError, BadRequest, NotFound, SendGridError, Unreachable
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.sendgrid.export_files import Bounds
from tests.support import API_KEY, HostileSendGrid, respond

FIELDS = "/v3/marketing/field_definitions"


def client(url: str, **options: Any) -> SendGridClient:
    return SendGridClient(API_KEY, url, **{"max_retries": 2, "backoff_factor": 0.001, **options})


def test_a_5xx_is_retried_and_the_retry_logged(hostile: HostileSendGrid, caplog: pytest.LogCaptureFixture) -> None:
    hostile.answer("GET", f"^{FIELDS}", respond(503, {"errors": [{"message": "busy"}]}), times=1)
    sendgrid = client(hostile.url)
    with caplog.at_level(logging.WARNING, "target_sendgrid.sendgrid.transport"):
        assert sendgrid.field_definitions() == []
    assert sendgrid.requests_sent == 2
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [f"Retrying GET {FIELDS} after HTTP 503"]


def test_a_5xx_past_the_retries_is_an_error_with_sendgrids_message(hostile: HostileSendGrid) -> None:
    hostile.answer("GET", f"^{FIELDS}", respond(500, {"errors": [{"field": "x", "message": "internal"}]}))
    sendgrid = client(hostile.url, max_retries=1)
    with pytest.raises(SendGridError, match="HTTP 500 after retries: x: internal") as failed:
        sendgrid.field_definitions()
    assert failed.value.status == 500 and sendgrid.requests_sent == 2


def test_a_429_waits_for_the_reset_then_goes_on(hostile: HostileSendGrid) -> None:
    hostile.answer("GET", f"^{FIELDS}", respond(429, {}, {"x-ratelimit-reset": "0.01"}), times=2)
    sendgrid = client(hostile.url)
    assert sendgrid.field_definitions() == []
    assert sendgrid.requests_sent == 3


def test_a_rate_limit_that_never_lifts_is_an_error(hostile: HostileSendGrid) -> None:
    hostile.answer("GET", f"^{FIELDS}", respond(429, {}, {"x-ratelimit-reset": "0.01"}))
    with pytest.raises(SendGridError, match="still rate limited after waiting"):
        client(hostile.url).field_definitions()


@pytest.mark.parametrize(
    ("status", "error", "said"),
    [
        (401, AuthError, "SendGrid refused the API key (HTTP 401: bad key)"),
        (400, BadRequest, "HTTP 400: bad key"),
        (404, NotFound, "not found: bad key"),
        (418, SendGridError, "HTTP 418: bad key"),
    ],
)
def test_an_error_answer_is_raised_as_its_kind(
    hostile: HostileSendGrid, status: int, error: type[SendGridError], said: str
) -> None:
    hostile.answer("GET", f"^{FIELDS}", respond(status, {"errors": [{"message": "bad key"}]}))
    with pytest.raises(error) as raised:
        client(hostile.url).field_definitions()
    assert said in str(raised.value) and raised.value.status == status and type(raised.value) is error


def test_an_error_answer_that_is_not_json_is_named_by_its_type(hostile: HostileSendGrid) -> None:
    hostile.answer("GET", f"^{FIELDS}", respond(418, b"<html>teapot</html>", {"Content-Type": "text/html"}))
    with pytest.raises(SendGridError, match="HTTP 418: a text/html answer"):
        client(hostile.url).field_definitions()


def test_a_redirect_is_not_followed(hostile: HostileSendGrid) -> None:
    hostile.answer("GET", f"^{FIELDS}", respond(302, b"", {"Location": "https://elsewhere.example/"}))
    with pytest.raises(SendGridError, match=r"answered a redirect \(HTTP 302\), which is not followed"):
        client(hostile.url).field_definitions()


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"{cut", "is not JSON"),
        (b"[1, 2]", "is a JSON list, not an object"),
        (b'{"job_id": ""}', "has no job_id"),
    ],
)
def test_an_answer_without_what_is_needed_names_the_endpoint(hostile: HostileSendGrid, body: bytes, said: str) -> None:
    hostile.answer("PUT", "^/v3/marketing/contacts$", respond(202, body))
    with pytest.raises(SendGridError, match=f"PUT /v3/marketing/contacts: SendGrid's answer {said}"):
        client(hostile.url).upsert(b'{"contacts":[{"email":"a@x.io"}]}')


def test_a_read_only_transport_sends_no_write(emulator: SendGridEmulator) -> None:
    """A plan's transport: reads go, a write is refused before anything is sent."""
    sendgrid = client(emulator.url, read_only=True)
    sendgrid.field_definitions()
    with pytest.raises(SendGridError, match="was not sent: this run writes nothing to SendGrid"):
        sendgrid.create_list("x")
    assert sendgrid.requests_sent == 1 and emulator.lists == {}


def test_a_deadline_already_past_sends_nothing() -> None:
    sendgrid = client("http://127.0.0.1:9")
    with pytest.raises(TimeoutError, match="no whole answer before the deadline"):
        sendgrid.answer("GET", FIELDS, deadline=time.monotonic() - 1)
    assert sendgrid.requests_sent == 0


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_api_url_nothing_listens_on_is_unreachable_at_once() -> None:
    sendgrid = client(f"http://127.0.0.1:{closed_port()}", max_retries=5)
    with pytest.raises(Unreachable, match=r"connection was refused, nothing listens there \(is the emulator running"):
        sendgrid.field_definitions()
    assert sendgrid.requests_sent == 1  # not retried: api_url never answered


def test_a_connection_lost_after_api_url_answered_is_retried_then_an_error(emulator: SendGridEmulator) -> None:
    proxy = HostileSendGrid(emulator)
    sendgrid = client(proxy.url, max_retries=1)
    sendgrid.field_definitions()
    proxy.stop()
    sendgrid.session.close()  # its kept-alive connection too: the server is gone
    with pytest.raises(SendGridError, match=r"Could not reach .* retries included: ConnectionError") as lost:
        sendgrid.field_definitions()
    assert not isinstance(lost.value, Unreachable) and sendgrid.requests_sent == 3


def test_a_slow_answer_is_cut_at_the_request_timeout(hostile: HostileSendGrid) -> None:
    """An answer that does not come whole within request_timeout_seconds is a timeout, retried, then an error."""
    stalled = threading.Event()

    def stall(handler: Any) -> None:
        stalled.wait(5)  # never set: the client gives up first

    hostile.answer("GET", f"^{FIELDS}", stall)
    sendgrid = client(hostile.url, max_retries=0, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(SendGridError, match=r"retries included: (Timeout|ReadTimeout)"):
        sendgrid.field_definitions()
    assert time.monotonic() - started < 4  # the timeout, not the server's 5 s stall
    stalled.set()


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (respond(302, b"", {"Location": "https://elsewhere.example/"}), "was redirected (HTTP 302): not followed"),
        (respond(403, b"expired"), "failed: HTTP 403"),
    ],
)
def test_a_download_that_is_no_file_is_an_error_naming_the_links_kind(
    hostile: HostileSendGrid, answer: Any, said: str
) -> None:
    hostile.answer("GET", "^/files/0", answer)
    sendgrid = client(hostile.url)
    with (
        pytest.raises(SendGridError, match=re.escape(f"download of an export url {said}")),
        sendgrid.download(f"{hostile.url}/files/0?sig=secret", "export url", Bounds(10**6, time.monotonic() + 10)),
    ):
        pass


def test_a_download_whose_server_is_gone_names_the_failure_not_the_link() -> None:
    sendgrid = client("http://127.0.0.1:9")
    link = f"http://127.0.0.1:{closed_port()}/files/0?sig=secret"
    with (
        pytest.raises(SendGridError) as failed,
        sendgrid.download(link, "export url", Bounds(10**6, time.monotonic() + 10)),
    ):
        pass
    assert str(failed.value) == "download of an export url failed: ConnectionError"
