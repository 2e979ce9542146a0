"""Deadlines for whole exchanges: connect, headers and the whole body, however slowly each byte comes.

``requests`` times out each socket read, not an exchange: an answer that trickles a byte every few
seconds never ends. A :class:`Watch` (one per request, in the thread that sends it) remembers the
connection its request uses, and a timer shuts that connection's socket down when the deadline
passes, which ends the blocked read at once. :func:`install` makes a session's connections tell
the current watch who they are.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import typing as t
from types import TracebackType

import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool
from typing_extensions import Self, override

from target_sendgrid.lifecycle.threads import WorkerTimer

_current = threading.local()  # the Watch of the request this thread is sending, if any


class Watch:
    """Ends the exchange in this thread when ``seconds`` have passed; ``expired`` says whether it did."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(seconds, 0.0)
        self.expired = False
        self.connection: urllib3.connection.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._timer = WorkerTimer(self.seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Self:
        _current.watch = self
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._timer.cancel()
        with self._lock:
            self.connection = None
        _current.watch = None

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sock = getattr(self.connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns now; the connection is dropped

    def attach(self, connection: urllib3.connection.HTTPConnection) -> None:
        """The connection this watch's request is sent on (its socket is shut at the deadline)."""
        with self._lock:
            self.connection = connection
        if self.expired:
            self._expire()


def remaining(deadline: float | None, at_most: float) -> float:
    """Seconds left before ``deadline`` (a monotonic time; None: none), never more than ``at_most``."""
    return at_most if deadline is None else min(at_most, deadline - time.monotonic())


class _Watched(urllib3.connection.HTTPConnection):
    """A connection that tells the current request's watch that it carries the request."""

    @override
    def request(self, *args: t.Any, **kwargs: t.Any) -> None:
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.attach(self)
        super().request(*args, **kwargs)


class _WatchedHTTPConnection(_Watched):
    pass


class _WatchedHTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _WatchedHTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def install(adapter: requests.adapters.HTTPAdapter) -> None:
    """Make the adapter's connections known to the watch of the request that uses them."""
    adapter.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
