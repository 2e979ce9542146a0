"""Helpers the tests share: the emulator's key, scenario files, configs, in-process runs, generated input.

Test modules import from here (and the CLI launcher from ``conftest``), never from one another.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import shutil
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from typing_extensions import override

from sendgrid_emulator import SendGridEmulator
from target_sendgrid.target import TargetSendGrid
from tests.profiles import profiles, write_singer

API_KEY = "SG.test-key-0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij"
ROOT = Path(__file__).parent.parent


class Api:
    """A thin authenticated HTTP client for the emulator, as a user's script would be."""

    def __init__(self, url: str, key: str = API_KEY) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=10, **kwargs)


DATA = Path(__file__).parent / "data"


def target_config(emulator: SendGridEmulator, **overrides: Any) -> dict[str, Any]:
    """A working configuration against the emulator, with a fresh list unless given one."""
    config: dict[str, Any] = {
        "api_key": API_KEY,
        "api_url": emulator.url,
        "data_privacy_consent": True,
        "max_retries": 6,
    }
    if "list_id" not in overrides:
        config["list_id"] = emulator.create_list(f"list {len(emulator.lists)}")
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


@dataclass
class Run:
    """The outcome of one in-process run of the target."""

    target: TargetSendGrid
    states: list[dict]
    error: BaseException | None

    @property
    def summary(self) -> dict[str, Any]:
        return self.target.report.summary(self.target.run.client.requests_sent if self.target.run.client else 0)


def run_target(
    config: dict[str, Any],
    lines: str | Iterable[str],
    *,
    expect_error: bool | None = False,
    target: type[TargetSendGrid] = TargetSendGrid,
) -> Run:
    """Run the target (or a subclass) in this process on Singer lines (or a tests/data scenario name).

    ``expect_error``: True, the run must fail; False, it must not; None, either (the error is kept).
    A refusal at start (the target's construction, or its ``start``: the key, lists and fields,
    before any line is read) is raised whatever is expected.
    """
    if isinstance(lines, str):
        lines = (DATA / lines).read_text().splitlines(keepends=True)
    plugin = target(config=config)
    plugin.start()  # what listen does first, called here so that a refusal at start is told apart
    out = io.StringIO()
    error = None
    with contextlib.redirect_stdout(out):
        try:
            plugin.listen(io.StringIO("".join(line if line.endswith("\n") else line + "\n" for line in lines)))
        except Exception as exc:
            if expect_error is False:
                raise
            error = exc
    if expect_error is True and error is None:
        raise AssertionError("the run was expected to fail")
    states = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return Run(plugin, states, error)


class StateLines(io.StringIO):
    """Standard output for an in-process run that calls ``seen(state)`` as each STATE line is written.

    What a test asks of SendGrid in ``seen`` is what SendGrid held when the target let that STATE out:
    the moment an orchestrator would save it. (STATE is written from the exporter's workers, one at a time.)
    """

    def __init__(self, seen: Callable[[dict], None]) -> None:
        super().__init__()
        self._seen = seen
        self._partial = ""

    @override
    def write(self, text: str) -> int:
        """Keep the text; each complete line is a STATE, handed to ``seen``."""
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            if line.strip():
                self._seen(json.loads(line))
        return super().write(text)


def singer_lines(count: int, *, stream: str = "profiles", state_every: int = 1000, seed: int = 42) -> list[str]:
    """Generated profiles as a tap would send them."""
    out = io.StringIO()
    write_singer(out, count, stream=stream, seed=seed, state_every=state_every)
    return out.getvalue().splitlines(keepends=True)


def expected_emails(count: int, *, start: int = 1, seed: int = 42) -> set[str]:
    """The valid emails among generated profiles ``start``..``count``, as SendGrid stores them."""
    emails = _generated_emails(seed, max(count, 100_000))
    return {e for e in emails[start - 1 : count] if e}


@functools.lru_cache
def _generated_emails(seed: int, count: int) -> tuple[str | None, ...]:
    out = []
    for record in profiles(count, seed):
        email = (record["email"] or "").strip().lower()
        out.append(email if "@" in email else None)
    return tuple(out)


# Members a list holds before a run, for the removal tests.
PREFILLED = ["ann@example.com", "bo@example.com", "carl@example.com", "dave@example.com"]


def prefill(emulator: SendGridEmulator, api: Api, list_id: str, emails: list[str]) -> None:
    """Put these emails in a list, as someone else (or an earlier run) did, and wait for the job."""
    api("PUT", "/v3/marketing/contacts", json={"list_ids": [list_id], "contacts": [{"email": e} for e in emails]})
    emulator.wait_for_jobs()


# The shapes of contact exports SendGrid may serve (see "Export files" in docs/sendgrid-api.md).
EXPORT_VARIANTS: dict[str, dict[str, Any]] = {
    "gzip-json-contact_id": {},
    "gzip-json-upper-keys": {"json_keys": "upper"},
    "gzip-csv": {"file_type": "csv"},
    "plain-json": {"gzip": False},
    "plain-csv": {"gzip": False, "file_type": "csv"},
    "split-files": {"split_bytes": 700},
}


def meltano() -> str:
    """The meltano executable beside this Python; skips the test without it (fails it in CI)."""
    found = shutil.which("meltano", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("meltano is not installed; scripts/test installs it")
        pytest.skip("meltano is not installed (scripts/test installs it)")
    return found


# Where a record can end up: each record read is in exactly one of these (contacts merged into an
# earlier record of their email count as merged_duplicates).
RECORD_BUCKETS = (
    "exported",
    "unchanged",
    "merged_duplicates",
    "deleted_records",
    "filtered_by_segment",
    "filtered_by_stream_map",
    "not_sent",
    "stopped_run",
    "rejected",
)


def accounted(summary: dict[str, Any]) -> int:
    """The records a summary puts in a bucket (a dry run's would_export stands for exported)."""
    return sum(summary.get(b, 0) for b in RECORD_BUCKETS) + summary.get("would_export", 0)


# A hostile SendGrid: the emulator behind a loopback proxy that answers some requests as a test says.
Responder = Callable[[BaseHTTPRequestHandler], None]


class HostileSendGrid:
    """A loopback server that forwards every request to ``emulator``, except those a test scripts.

    Links in the emulator's answers are rewritten to lead through the proxy, so downloads can be
    scripted too.

    ``answer(method, pattern, responder)``: a request whose path (with its query) matches the
    pattern is answered by ``responder(handler)``, which writes whatever it likes (a redirect, a
    trickle, cut-off JSON, a reset). ``requests`` logs (method, path) of every request received.
    """

    def __init__(self, emulator: SendGridEmulator) -> None:
        self.emulator = emulator
        self.scripts: list[list[Any]] = []  # [method, pattern, responder, uses left or None]
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        # A short poll: stop() waits for the serving loop to notice, up to one interval (the default 0.5 s).
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, method: str, pattern: str, responder: Responder, times: int | None = None) -> None:
        """Answer requests matching ``method`` and ``pattern`` (searched in the path) with ``responder``.

        ``times``: only that many requests, the later ones forwarded again.
        """
        self.scripts.append([method, re.compile(pattern), responder, times])

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                hostile.requests.append((self.command, self.path))
                for script in hostile.scripts:
                    method, pattern, responder, left = script
                    if method == self.command and pattern.search(self.path) and left != 0:
                        if left is not None:
                            script[3] = left - 1
                        self.rfile.read(int(self.headers.get("Content-Length") or 0))
                        responder(self)
                        return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                forwarded = requests.request(
                    self.command, hostile.emulator.url + self.path, headers=headers, data=body, timeout=30
                )
                # Links in answers (export files, errors files, pages) lead through the proxy too.
                payload = forwarded.content.replace(hostile.emulator.url.encode(), hostile.url.encode())
                self.send_response(forwarded.status_code)
                for name, value in forwarded.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def respond(
    status: int, body: bytes | dict[str, Any] | list[Any] = b"", headers: dict[str, str] | None = None
) -> Responder:
    """A responder with this status, body (JSON when a dict or list) and headers."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body

    def write(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return write
