"""Every thread the run starts blocks SIGINT and SIGTERM, so the kernel hands them to the main thread.

A signal delivered to a worker leaves a main thread blocked on standard input asleep: the run
would ignore it until the tap writes again. The main thread's mask is read from /proc, as the kernel sees
it; each worker's is read from inside it, through the callback it runs.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from urllib3.connection import HTTPConnection

from target_sendgrid.delivery.exporter import Exporter
from target_sendgrid.delivery.progress import Progress
from target_sendgrid.delivery.request_batch import Batch
from target_sendgrid.lifecycle.threads import TERMINATION, WorkerThread, WorkerTimer
from target_sendgrid.report import RecordRef, RunReport
from target_sendgrid.sendgrid.deadline import Watch

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads thread masks from /proc")


def blocked(thread: threading.Thread) -> set[int]:
    """The signals a live thread blocks, from the kernel's SigBlk mask."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")), 16)
    return {n for n in range(1, 65) if mask >> (n - 1) & 1}


def test_the_main_thread_keeps_the_signals() -> None:
    assert not TERMINATION & blocked(threading.main_thread())


def test_worker_threads_and_timers_block_them() -> None:
    seen: list[set[int]] = []
    record = lambda: seen.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))  # noqa: E731
    for thread in (WorkerThread(target=record), WorkerTimer(0, record)):
        thread.start()
        thread.join()
    assert len(seen) == 2
    assert all(mask >= TERMINATION for mask in seen)


def mask_of_this_thread() -> set[int]:
    """The signals the calling thread blocks."""
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, []))


def test_the_progress_thread_blocks_them() -> None:
    """Read from inside the thread: its status callback runs there."""
    seen: list[set[int]] = []
    called = threading.Event()

    def status() -> str:
        seen.append(mask_of_this_thread())
        called.set()
        return "status"

    progress = Progress(status, interval=0.001)
    progress.start()
    try:
        assert called.wait(10)
    finally:
        progress.stop()
    assert seen[0] >= TERMINATION


class _Socket:
    """The socket of a connection a watch ends: records the mask of the thread that shuts it."""

    def __init__(self) -> None:
        self.masks: list[set[int]] = []
        self.shut = threading.Event()

    def shutdown(self, how: int) -> None:
        self.masks.append(mask_of_this_thread())
        self.shut.set()


def test_a_deadline_timer_blocks_them() -> None:
    """The watch's timer shuts the connection's socket at the deadline, from its own thread."""
    sock = _Socket()
    watch = Watch(0)
    watch.attach(cast(HTTPConnection, SimpleNamespace(sock=sock)))  # before the timer starts: it shuts this one
    with watch:
        assert sock.shut.wait(10)
    assert watch.expired and sock.masks[0] >= TERMINATION


class _MaskRecorder:
    """A delivery that records the mask of each worker that delivers a batch."""

    def __init__(self) -> None:
        self.masks: list[set[int]] = []

    def deliver(self, batch: Batch) -> None:
        self.masks.append(mask_of_this_thread())


def test_the_upload_workers_block_them() -> None:
    recorder = _MaskRecorder()
    exporter = Exporter(None, RunReport(), lambda state: None, max_in_flight=2, batch_size=1, delivery=recorder)
    for number in range(1, 5):
        exporter.add({"email": f"u{number}@example.com"}, ("L",), RecordRef("s", number))
    exporter.close()
    assert len(recorder.masks) == 4
    assert all(mask >= TERMINATION for mask in recorder.masks)
