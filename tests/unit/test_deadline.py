"""Deadlines for whole exchanges: each connection tells its request's watch who it is, http and https alike."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests.adapters
import urllib3.exceptions

from target_sendgrid.sendgrid.deadline import Watch, _WatchedHTTPConnection, _WatchedHTTPSConnection, install, remaining


@pytest.mark.parametrize("connection_class", [_WatchedHTTPConnection, _WatchedHTTPSConnection])
def test_a_connection_attaches_itself_to_the_watch_before_it_sends(connection_class: type) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens there once closed
    connection = connection_class("127.0.0.1", port, timeout=1)
    with Watch(5) as watch:
        with pytest.raises(urllib3.exceptions.NewConnectionError):
            connection.request("GET", "/")
        assert watch.connection is connection
    assert watch.connection is None and not watch.expired


def test_an_adapter_gets_the_watched_pools() -> None:
    adapter = requests.adapters.HTTPAdapter()
    install(adapter)
    pools = adapter.poolmanager.pool_classes_by_scheme
    assert pools["http"].ConnectionCls is _WatchedHTTPConnection
    assert pools["https"].ConnectionCls is _WatchedHTTPSConnection


def test_the_watch_shuts_a_blocked_read_at_its_deadline() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()
    connection = _WatchedHTTPConnection("127.0.0.1", port, timeout=30)  # each read may wait 30 s
    started = time.monotonic()
    with Watch(0.5) as watch:
        connection.request("GET", "/")  # the server never answers
        with pytest.raises(Exception):  # noqa: B017  # the read ends, whatever http.client calls it
            connection.getresponse()
    assert watch.expired and time.monotonic() - started < 5
    server.close()


def test_remaining_time_is_capped_and_may_be_spent() -> None:
    assert remaining(None, 60) == 60
    assert remaining(time.monotonic() + 10, 60) <= 10
    assert remaining(time.monotonic() - 1, 60) < 0
