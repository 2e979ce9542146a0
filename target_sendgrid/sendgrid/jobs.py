"""Following SendGrid's asynchronous work (import jobs, contact exports) to its end."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

# The defaults of job_timeout_seconds, max_job_attempts and max_jobs_in_flight: declared here, read by
# the settings' schema and by the exporter.
DEFAULT_JOB_TIMEOUT_SECONDS = 3600
DEFAULT_MAX_JOB_ATTEMPTS = 5
DEFAULT_MAX_JOBS_IN_FLIGHT = 4


def status_of(answer: Any) -> str:
    """An answer's status as one short word (a status that is not a string is shown, shortened, as such)."""
    status = answer.get("status") if isinstance(answer, dict) else None
    return status[:40] if isinstance(status, str) else repr(status)[:40]


class Poller:
    """Polls until an answer says the work is finished, waiting longer each time (50 ms growing to 5 s).

    A job that finishes wakes every other poll at once: SendGrid works through an account's
    jobs roughly in order, so the older ones are likely done too, and their polls may have
    grown to seconds apart.
    """

    def __init__(self) -> None:
        self._finished = threading.Condition()  # notified when a poll sees its job or export finish

    def poll(
        self,
        fetch: Callable[[float], dict[str, Any]],
        finished: Callable[[dict[str, Any]], bool],
        timeout: float,
        what: str,
    ) -> dict[str, Any]:
        """Fetch (each fetch given the deadline) until ``finished``; TimeoutError past ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            try:
                answer = fetch(deadline)
            except TimeoutError as exc:  # a fetch that could not finish before the poll's deadline
                raise TimeoutError(f"{what} not followed to its end within {timeout:.0f}s: {exc}") from None
            if finished(answer):
                with self._finished:
                    self._finished.notify_all()
                return answer
            if time.monotonic() + delay > deadline:
                status = status_of(answer)
                shown = "pending" if status == "pending" else f"{status!r} (not a finished status)"
                raise TimeoutError(f"{what} still {shown} after {timeout:.0f}s (job_timeout_seconds)")
            with self._finished:
                self._finished.wait(delay)
            delay = min(delay * 1.5, 5.0)
