"""The exporter without SendGrid (a dry run's): batching, order of removals and upserts, STATE, stopping."""

from __future__ import annotations

import threading
import time

from target_sendgrid.delivery.exporter import Exporter
from target_sendgrid.report import RecordRef, RunReport


def test_stop_does_not_wait_for_a_batch_that_never_started() -> None:
    """A batch still queued in the pool when the run stops is cancelled: not waited for, counted as not sent.

    (The slot of a finished batch is free a moment before its worker is, so the next batch can
    be queued; the pool's shutdown cancels it, and such a future never reports itself done.)
    """
    report = RunReport()
    exporter = Exporter(None, report, lambda state: None, max_in_flight=1)
    release = threading.Event()
    exporter._pool.submit(release.wait)  # the only worker is busy, though the only slot is free
    for i in range(5):
        exporter.add({"email": f"u{i}@example.com"}, ("list",), RecordRef("s", i + 1))
    exporter.flush()  # the batch is queued behind the busy worker
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    assert exporter.stop(timeout=10) is True
    assert time.monotonic() - started < 5
    exporter.count_unsent()
    assert report.counts["not_sent"] == 5
