"""Progress lines: a run says how far it is at least every ``progress_interval_seconds``.

SendGrid's import jobs can take minutes; without these lines a run would be silent until its
end. A daemon thread logs a status line (from the run's own figures) at each interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from target_sendgrid.lifecycle.threads import WorkerThread

logger = logging.getLogger(__name__)


class Progress:
    """Logs ``status()`` every ``interval`` seconds until stopped."""

    def __init__(self, status: Callable[[], str], interval: float) -> None:
        self._status = status
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = WorkerThread(target=self._run, name="sendgrid-progress", daemon=True)

    def start(self) -> None:
        """Begin logging (a zero interval logs nothing)."""
        if self._interval > 0:
            self._thread.start()

    def stop(self) -> None:
        """Stop logging; safe to call more than once."""
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            logger.info("Progress: %s", self._status())
