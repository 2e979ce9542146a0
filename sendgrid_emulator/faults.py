"""Fault injection and rate limits: the ways SendGrid makes a client wait or retry.

Rate limits follow "Transport" in docs/sendgrid-api.md (per-endpoint windows, lower-case
``x-ratelimit-*`` headers, the reset as seconds to wait); faults are the test bed's own.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict

from sendgrid_emulator.account import Account, Faults

# Observed per-endpoint limits per window: 200 on contact writes and searches, 600 elsewhere.
STRICT_LIMIT, DEFAULT_LIMIT = 200, 600
STRICT_GROUPS = {"contacts_write", "contacts_delete", "contacts_search"}


class RateLimited(Exception):
    """A 429, with the headers that say how long to wait."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


class FaultInjection(Account):
    """Rate-limit windows per endpoint group, and injected latency, errors and resets."""

    def set_faults(self, **changes: float) -> None:
        """Change fault injection at run time (fields of :class:`Faults`)."""
        with self._lock:
            self.faults = Faults(**{**asdict(self.faults), **changes})

    def _rate_limit(self, group: str) -> dict[str, str]:
        """Count a request against its endpoint's window; raise 429 when it is spent."""
        limit = self.rate_limit or (STRICT_LIMIT if group in STRICT_GROUPS else DEFAULT_LIMIT)
        now = time.monotonic()
        with self._lock:
            start, used = self._windows.get(group, (now, 0))
            if now - start >= self.rate_window:
                start, used = now, 0
            used += 1
            self._windows[group] = (start, used)
        reset = max(1, math.ceil(start + self.rate_window - now))
        headers = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(0, limit - used)),
            "x-ratelimit-reset": str(reset),
        }
        if used > limit:
            raise RateLimited(headers)
        return headers

    def injected_fault(self) -> tuple[int, bytes | None] | None:
        """A fault to answer with instead of the endpoint (body None: reset the connection)."""
        faults = self.faults
        if faults.latency:
            time.sleep(faults.latency)
        roll = self._random.random()
        if roll < faults.reset_rate:
            return 0, None
        if roll < faults.reset_rate + faults.error_rate:
            status = self._random.choice((500, 503))
            return status, error_body(["internal server error" if status == 500 else "service unavailable"])
        return None


def error_body(messages: list[str]) -> bytes:
    """SendGrid's error body, with no field named."""
    return json.dumps({"errors": [{"field": None, "message": m} for m in messages]}).encode()
