"""Every thread the run starts blocks SIGINT and SIGTERM, so the kernel hands them to the main thread.

A signal delivered to a worker leaves a main thread blocked on standard input asleep: the run
would ignore it until the tap writes again. The masks are read from /proc, as the kernel sees them.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest

from target_sendgrid.delivery.exporter import Exporter
from target_sendgrid.delivery.progress import Progress
from target_sendgrid.lifecycle.threads import TERMINATION, WorkerThread, WorkerTimer
from target_sendgrid.report import RunReport
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


def test_the_progress_thread_blocks_them() -> None:
    progress = Progress(lambda: "", interval=60)
    progress.start()
    try:
        time.sleep(0.05)
        assert blocked(progress._thread) >= TERMINATION
    finally:
        progress.stop()


def test_a_deadline_timer_blocks_them() -> None:
    with Watch(60) as watch:
        time.sleep(0.05)
        assert blocked(watch._timer) >= TERMINATION


def test_the_upload_workers_block_them() -> None:
    exporter = Exporter(None, RunReport(), lambda state: None, max_in_flight=2)
    masks = [exporter._pool.submit(signal.pthread_sigmask, signal.SIG_BLOCK, []) for _ in range(4)]
    assert all(future.result() >= TERMINATION for future in masks)
    exporter._pool.shutdown()
