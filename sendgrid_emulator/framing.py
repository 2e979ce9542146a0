"""HTTP framing: reading one request within bounds and always answering in SendGrid's JSON error shape.

The standard library's handler answers framing errors with HTML pages, reads a body by whatever
``Content-Length`` says (``-1`` or ``10**12`` included), ignores chunked bodies and waits on a
slow client for ever. Here every one of those gets a JSON 4xx (``{"errors": [{"field", "message"}]}``,
SendGrid's error shape in every spec file) within ``read_timeout`` seconds, and the server keeps serving.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import sys
import traceback
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from typing_extensions import override

# Seconds a kept-alive connection may sit idle between requests (clients pool connections).
IDLE_TIMEOUT = 60.0
MAX_CHUNK_LINE = 1_024  # bytes of one chunk-size line, extensions included
MAX_TRAILERS = 100  # trailer lines after the last chunk
CLOSE = {"Content-Type": "application/json", "Connection": "close"}
_DECIMAL = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() takes "²", which int() refuses
_HEX = re.compile(rb"[0-9A-Fa-f]+")


class FramingError(Exception):
    """A request that cannot be read: answered with ``status`` and the connection closed."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def json_error(message: str, field: str | None = None) -> bytes:
    """SendGrid's error body with one error."""
    return json.dumps({"errors": [{"field": field, "message": message}]}).encode()


class Served(Protocol):
    """What the handler needs of the emulator: its dispatch, its request log and its limits."""

    read_timeout: float  # seconds a started request may stall between bytes
    max_frame_bytes: int  # the largest body read

    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> tuple[int, dict[str, str], bytes | None]:
        """(status, headers, body); a body of None resets the connection."""

    def log(self, method: str, path: str, status: int, body: bytes) -> None:
        """Record one request."""


class EmulatorHandler(BaseHTTPRequestHandler):
    """One connection: requests read within bounds, handed to ``handle_request``, answered as it says.

    Subclasses (made by :func:`handler_for`) set ``served``, the emulator.
    """

    protocol_version = "HTTP/1.1"  # keep-alive, so clients can pool connections
    server_version = "sendgrid-emulator"
    timeout = IDLE_TIMEOUT  # StreamRequestHandler.setup puts this on the socket
    served: ClassVar[Served]

    @override
    def parse_request(self) -> bool:
        # The request line has arrived: from here a silent client is a slow one, not an idle one.
        self.connection.settimeout(self.served.read_timeout)
        return super().parse_request()

    @override
    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Every error the standard library answers itself (400, 408, 414, 431, 501): JSON, never HTML."""
        self.close_connection = True  # the request may be half read: the stream cannot be trusted
        default = self.responses.get(code, ("error",))[0]
        body = json_error(message or default)
        if getattr(self, "request_version", "") not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.1"  # so the status line and headers are written
        self.send_response(code, default)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        """The body by ``Content-Length`` or chunked transfer coding, or a FramingError saying why not."""
        encoding = self.headers.get("Transfer-Encoding")
        lengths = self.headers.get_all("Content-Length") or []
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise FramingError(501, f"Transfer-Encoding {encoding!r} is not supported; send chunked or a length")
            if lengths:  # both framings: the request-smuggling ambiguity RFC 9112 6.3 says to refuse
                raise FramingError(400, "Content-Length and Transfer-Encoding must not both be sent")
            return self._read_chunked()
        if not lengths:
            return b""
        if len({v.strip() for v in lengths}) != 1 or not _DECIMAL.fullmatch(lengths[0].strip()):
            raise FramingError(400, "Content-Length must be one non-negative decimal number", "Content-Length")
        digits = lengths[0].strip().lstrip("0") or "0"
        # Checked before reading a byte (no MemoryError, no wait), and before int() meets 5,000 digits.
        if len(digits) > 18 or int(digits) > self.served.max_frame_bytes:
            raise FramingError(413, f"request body exceeds {self.served.max_frame_bytes} bytes", "Content-Length")
        length = int(digits)
        body = self.rfile.read(length)
        if len(body) < length:
            raise FramingError(400, f"the body ended after {len(body)} of {length} bytes", "Content-Length")
        return body

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(MAX_CHUNK_LINE + 1)
            if not line.endswith(b"\n"):
                raise FramingError(400, "a chunk-size line is missing or too long")
            digits = line.split(b";", 1)[0].strip()
            if not _HEX.fullmatch(digits):  # int(..., 16) alone would take "-5", "0x5" and "1_0"
                raise FramingError(400, "a chunk size is not a hexadecimal number")
            if len(digits.lstrip(b"0")) > 16:
                raise FramingError(413, f"request body exceeds {self.served.max_frame_bytes} bytes")
            size = int(digits, 16)
            if size == 0:
                break
            if len(body) + size > self.served.max_frame_bytes:
                raise FramingError(413, f"request body exceeds {self.served.max_frame_bytes} bytes")
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise FramingError(400, "a chunk ended early")
            body += chunk
        for _ in range(MAX_TRAILERS):
            if self.rfile.readline(MAX_CHUNK_LINE + 1) in (b"\r\n", b"\n", b""):
                return bytes(body)
        raise FramingError(431, "too many trailer lines")

    def _serve(self) -> None:
        self._answered = False
        try:
            self._serve_one()
        except (TimeoutError, ConnectionError):
            self.close_connection = True  # the client went away or stalled mid-answer: nothing to say
        except Exception:  # a bug: answered as a JSON 500 (if nothing was sent yet), never a dropped connection
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            if not self._answered:
                self._answer(500, CLOSE, json_error("internal error in the emulator (a bug: please report it)"))

    def _serve_one(self) -> None:
        path = urlsplit(self.path).path
        try:
            body = self._read_body()
        except FramingError as exc:
            self.served.log(self.command, path, exc.status, b"")
            self._answer(exc.status, CLOSE, json_error(str(exc), exc.field))
            self.close_connection = True
            return
        except TimeoutError:
            self.served.log(self.command, path, 408, b"")
            self._answer(408, CLOSE, json_error("the request body did not arrive in time"))
            self.close_connection = True
            return
        status, headers, payload = self.served.handle(self.command, self.path, self.headers, body)
        if payload is None:  # fault: reset the connection without answering
            self.served.log(self.command, path, 0, body)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        self.served.log(self.command, path, status, body)
        self._answer(status, headers, payload)
        self.connection.settimeout(IDLE_TIMEOUT)

    def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self._answered = True
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 204:  # RFC 9110 8.6: a 204 has no Content-Length
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and status != 204:
            self.wfile.write(payload)

    # Every method is read and routed: unknown paths answer 404 and known ones 405 with Allow, both JSON.
    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = do_CONNECT = _serve

    def __getattr__(self, name: str) -> Any:
        # Any other method token (QUERY, PROPFIND, BREW...): routed like the rest, not the library's 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    @override
    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log replaces the stderr access log


def handler_for(served: Served) -> type[EmulatorHandler]:
    """A handler class bound to one emulator."""
    return type("Handler", (EmulatorHandler,), {"served": served})
