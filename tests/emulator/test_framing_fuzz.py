"""Hypothesis sends request-shaped bytes: every answer is HTTP with a JSON body, and the server serves on."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendgrid_emulator import SendGridEmulator
from tests.support import API_KEY, Api

DEADLINE = 5.0


@pytest.fixture(scope="module")
def shared() -> Iterator[SendGridEmulator]:
    with SendGridEmulator(API_KEY, job_delay=0) as emulator:
        emulator.read_timeout = 0.5
        emulator.rate_limit = 10**6
        yield emulator


token = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8)
paths = st.one_of(
    st.sampled_from(
        ["/v3/marketing/contacts", "/v3/marketing/lists", "/v3/marketing/contacts/search", "/v3/marketing/x/"]
    ),
    st.text(alphabet="/abc%?=&.", max_size=30).map(lambda p: "/" + p),
)
header_lines = st.lists(
    st.one_of(
        st.sampled_from(
            [
                f"Authorization: Bearer {API_KEY}",
                "Content-Length: 5",
                "Content-Length: -3",
                "Content-Length: 99999999999",
                "Transfer-Encoding: chunked",
                "Transfer-Encoding: gzip",
                "Content-Type: application/json",
                "Expect: 100-continue",
            ]
        ),
        st.text(alphabet="abc:- \t", max_size=20),
    ),
    max_size=5,
)
bodies = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"null", b"[]", b'{"contacts": 5}', b"0\r\n\r\n", b"3\r\nabc\r\n0\r\n\r\n", b"[" * 500]),
)


@settings(
    deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # examples: the profile's
@given(
    st.one_of(st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]), token), paths, header_lines, bodies
)
def test_any_request_shaped_bytes_get_json_answers(
    shared: SendGridEmulator, method: str, path: str, headers: list[str], body: bytes
) -> None:
    raw = (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\n{''.join(h + chr(13) + chr(10) for h in headers)}\r\n".encode() + body
    )
    host, port = shared.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=DEADLINE) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)  # the request ends here: the server must answer what it got
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 "), data[:200]
    for answer in data.split(b"HTTP/1.1 ")[1:]:  # pipelined answers, if the bytes held several requests
        head = answer.split(b"\r\n\r\n", 1)[0].lower()
        status = int(answer[:3])
        if status == 100:  # the interim answer to Expect: 100-continue
            continue
        empty_404 = status == 404 and b"content-length: 0" in head  # a trailing slash ("Transport")
        assert b"content-type: application/json" in head or empty_404, answer[:300]
        # 501 only for a transfer coding it does not implement (RFC 9112 6.1 says so); never a 500.
        assert status < 500 or (status == 501 and b"transfer-encoding" in answer.lower()), answer[:300]
    assert Api(shared.url)("GET", "/v3/marketing/lists").status_code == 200


def test_the_command_line_switches_an_operation_off_and_sets_the_read_timeout() -> None:
    command = [sys.executable, "-c", "from sendgrid_emulator import main; main()"]
    flags = ["--port", "0", "--api-key", API_KEY, "--disable-operation", "ImportContact", "--read-timeout", "0.5"]
    with subprocess.Popen([*command, *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            body = {"file_type": "csv", "field_mappings": ["_rf2"]}
            answer = Api(url)("PUT", "/v3/marketing/contacts/imports", json=body)
            assert answer.status_code == 501 and "ImportContact" in answer.json()["errors"][0]["message"]
            host, port = url.removeprefix("http://").split(":")
            with socket.create_connection((host, int(port)), timeout=DEADLINE) as sock:
                sock.sendall(b"PUT /v3/marketing/lists HTTP/1.1\r\nContent-Length: 10\r\n\r\n{")
                assert sock.recv(65536).startswith(b"HTTP/1.1 408")  # after the 0.5 s read timeout
            assert requests.get(url + "/v3/marketing/lists", timeout=5).status_code == 401
        finally:
            server.terminate()
