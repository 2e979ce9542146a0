"""Any request, however malformed, gets a JSON 4xx in SendGrid's error shape within seconds, and the server serves on.

Each case of issue #33's bad-input list is sent over a raw socket (requests would refuse to send most of
them), and the answer is read with a deadline: a dropped connection or a hang fails the test.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator, Mapping

import pytest
import requests

from sendgrid_emulator import SendGridEmulator
from tests.support import API_KEY, Api

DEADLINE = 5.0  # seconds an answer may take; the emulator's read timeout is set below it


@pytest.fixture
def emu() -> Iterator[SendGridEmulator]:
    with SendGridEmulator(API_KEY, job_delay=0.02) as emulator:
        emulator.read_timeout = 1.0
        yield emulator


def exchange(url: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read one HTTP answer (status, lower-case headers, body) before the deadline."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=DEADLINE) as sock:
        sock.sendall(raw)
        data = b""
        started = time.monotonic()
        while b"\r\n\r\n" not in data or (len(data) < _expected_length(data) and not raw.startswith(b"HEAD")):
            assert time.monotonic() - started < DEADLINE, f"no full answer within {DEADLINE} s: {data!r}"
            chunk = sock.recv(65536)
            assert chunk or b"\r\n\r\n" in data, f"connection dropped without an answer: {data!r}"
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _expected_length(data: bytes) -> int:
    head, sep, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + len(sep) + int(value)
    return len(data) + 1 if not sep else len(data)


def request(method: str, path: str, body: bytes = b"", headers: Mapping[str, str | None] | None = None) -> bytes:
    """Raw request bytes with the key, a Content-Length matching the body unless headers say otherwise.

    A header given as None is left out."""
    fields: dict[str, str | None] = {
        "Host": "emulator",
        "Authorization": f"Bearer {API_KEY}",
        "Content-Length": str(len(body)),
    }
    fields.update(headers or {})
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v is not None)
    return f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode() + body


def assert_json_4xx(answer: tuple[int, dict[str, str], bytes], status: int | None = None) -> dict:
    code, headers, body = answer
    assert 400 <= code < 500, (code, body)
    if status is not None:
        assert code == status, (code, body)
    assert headers.get("content-type") == "application/json"
    parsed = json.loads(body)
    assert isinstance(parsed["errors"], list) and parsed["errors"]
    assert all("message" in e and "field" in e for e in parsed["errors"])
    return parsed


def assert_still_serving(emu: SendGridEmulator) -> None:
    assert Api(emu.url)("GET", "/v3/marketing/lists").status_code == 200


UPSERT = "/v3/marketing/contacts"
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", UPSERT, b"null"),
        ("PUT", UPSERT, b"[]"),
        ("PUT", UPSERT, b"123"),
        ("PUT", UPSERT, b'"str"'),
        ("PUT", UPSERT, b'{"list_ids": 5, "contacts": [{"email": "a@x.io"}]}'),
        ("PUT", UPSERT, b'{"list_ids": [[1]], "contacts": [{"email": "a@x.io"}]}'),
        ("PUT", UPSERT, b'{"list_ids": [{}], "contacts": [{"email": "a@x.io"}]}'),
        ("PUT", UPSERT, DEEP),
        ("PUT", UPSERT, b"{not json"),
        ("POST", "/v3/marketing/field_definitions", b'{"name": "x", "field_type": {"a": 1}}'),
        ("POST", "/v3/marketing/field_definitions", b"null"),
        ("POST", "/v3/marketing/contacts/batch", b'{"ids": [[1]]}'),
        ("POST", "/v3/marketing/contacts/exports", b'{"max_file_size": "abc"}'),
        ("POST", "/v3/marketing/contacts/exports", b'{"list_ids": [[1]]}'),
        ("POST", "/v3/marketing/contacts/search", b'{"query": ["x"]}'),
        ("POST", "/v3/marketing/contacts/search", DEEP),
        ("POST", "/v3/marketing/contacts/search/emails", b"[]"),
        ("POST", "/v3/marketing/contacts/search/identifiers/email", b'{"identifiers": 5}'),
        ("POST", "/v3/marketing/lists", b'{"name": {"a": 1}}'),
        ("PUT", "/v3/marketing/contacts/imports", b'{"file_type": "csv", "field_mappings": [[1]]}'),
        ("POST", "/_emulator/faults", b'{"error_rate": "x"}'),
        ("POST", "/_emulator/faults", b"[1]"),
    ],
    ids=lambda v: v[:40].decode(errors="replace") if isinstance(v, bytes) else v,
)
def test_type_confused_bodies_are_json_400s(emu: SendGridEmulator, method: str, path: str, body: bytes) -> None:
    assert_json_4xx(exchange(emu.url, request(method, path, body)), 400)
    assert_still_serving(emu)


@pytest.mark.parametrize(
    ("length", "status"),
    [("abc", 400), ("-1", 400), (str(10**12), 413), ("1, 2", 400), ("\u00b2", 400), ("9" * 5000, 413)],
)
def test_content_length_is_checked_before_reading(emu: SendGridEmulator, length: str, status: int) -> None:
    answer = exchange(emu.url, request("PUT", UPSERT, b"{}", {"Content-Length": length}))
    assert_json_4xx(answer, status)
    assert_still_serving(emu)


def test_a_body_shorter_than_its_content_length_is_answered_after_the_read_timeout(emu: SendGridEmulator) -> None:
    started = time.monotonic()
    answer = exchange(emu.url, request("PUT", UPSERT, b'{"contacts": []}', {"Content-Length": "100"}))
    assert_json_4xx(answer, 408)
    assert time.monotonic() - started < emu.read_timeout + 2
    assert_still_serving(emu)


def test_a_chunked_body_is_read_not_taken_for_a_second_request(emu: SendGridEmulator) -> None:
    body = b'{"name": "chunked"}'
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    code, headers, answer = exchange(
        emu.url,
        request("POST", "/v3/marketing/lists", chunked, {"Content-Length": None, "Transfer-Encoding": "chunked"}),
    )
    assert (code, headers["content-type"], json.loads(answer)["name"]) == (201, "application/json", "chunked")
    assert [r["status"] for r in emu.requests_made()] == [201]  # one request, not two


@pytest.mark.parametrize(
    "chunked",
    [b"zz\r\n{}\r\n0\r\n\r\n", b"ffffffffff\r\n{}", b"5\r\n{}\r\n0\r\n\r\n", b"-2\r\n{}\r\n0\r\n\r\n", b"f" * 5000],
    ids=["not-hex", "too-large", "short", "negative", "endless-size-line"],
)
def test_a_malformed_chunked_body_is_a_json_4xx(emu: SendGridEmulator, chunked: bytes) -> None:
    headers = {"Content-Length": None, "Transfer-Encoding": "chunked"}
    assert_json_4xx(exchange(emu.url, request("POST", "/v3/marketing/lists", chunked, headers)))
    assert_still_serving(emu)


def test_both_framings_and_unknown_codings_are_refused(emu: SendGridEmulator) -> None:
    both = request("POST", "/v3/marketing/lists", b"0\r\n\r\n", {"Transfer-Encoding": "chunked"})
    assert_json_4xx(exchange(emu.url, both), 400)
    gzip_coding = request("POST", "/v3/marketing/lists", b"", {"Transfer-Encoding": "gzip", "Content-Length": None})
    code, headers, body = exchange(emu.url, gzip_coding)
    assert code == 501 and headers["content-type"] == "application/json" and json.loads(body)["errors"]


def test_authentication_comes_before_routing(emu: SendGridEmulator) -> None:
    for path in ("/v3/marketing/nowhere", "/v3/marketing/contacts/x/y/z", "/v3/marketing/lists"):
        answer = requests.get(emu.url + path, timeout=5)
        assert (answer.status_code, answer.headers["Content-Type"]) == (401, "application/json"), path
    assert Api(emu.url)("GET", "/v3/marketing/nowhere").status_code == 404


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "HEAD", "CONNECT", "BREW"])
def test_other_methods_are_answered_in_json(emu: SendGridEmulator, method: str) -> None:
    code, headers, body = exchange(emu.url, request(method, "/v3/marketing/lists"))
    assert headers["content-type"] == "application/json"
    if method == "HEAD":  # GET's answer without its body
        assert (code, body) == (200, b"")
    else:  # RFC 9110 15.5.6: 405 names the methods the resource takes
        assert (code, headers["allow"]) == (405, "GET, HEAD, POST")
        assert json.loads(body)["errors"][0]["message"].startswith(f"{method} is not allowed here")
    assert_still_serving(emu)


def test_long_urls_and_headers_are_json_too(emu: SendGridEmulator) -> None:
    assert_json_4xx(exchange(emu.url, request("GET", "/v3/marketing/lists?x=" + "a" * 9_000)), 414)
    assert_json_4xx(exchange(emu.url, request("GET", "/v3/marketing/lists?x=" + "a" * 70_000)), 414)
    assert_json_4xx(exchange(emu.url, request("GET", "/v3/marketing/lists", headers={"X-Big": "a" * 70_000})), 431)
    many = {f"X-{i}": "1" for i in range(150)}
    assert_json_4xx(exchange(emu.url, request("GET", "/v3/marketing/lists", headers=many)), 431)
    code, headers, body = exchange(emu.url, b"NONSENSE\r\n\r\n")
    assert code == 400 and headers["content-type"] == "application/json" and json.loads(body)["errors"]
    assert_still_serving(emu)


def test_a_silent_client_is_dropped_after_the_read_timeout_without_stopping_others(emu: SendGridEmulator) -> None:
    host, port = emu.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=DEADLINE) as silent:
        silent.sendall(b"GET /v3/marketing/lists HTTP/1.1\r\nHost: x\r\n")  # headers never finish
        assert_still_serving(emu)  # another client is served meanwhile
        started = time.monotonic()
        leftover = silent.recv(65536)
        assert time.monotonic() - started < emu.read_timeout + 2
        assert leftover == b"" or b"408" in leftover.split(b"\r\n")[0]
