"""The STATE watermark: a tap's STATE is written only once every record before it is settled.

Every RECORD message has a number. A STATE message is tied to the number of the last record
before it. A record is *settled* once it was filtered, rejected, or its contact is in a
finished import job. The oldest unsettled record is the lowest number held by a batch not
yet finished, so that number, minus one, is how far STATE may go.

Mirror mode may *hold* STATE while a sync whose removals are still to come is open: the STATE
that covers the end of a mirrored sync is written only once its removals are done, so a run
killed before then resumes into the same sync and finishes them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any


class StateWatermark:
    """Holds the tap's STATE messages until the records before them are settled (not thread-safe)."""

    def __init__(self, write_state: Callable[[dict[str, Any]], None]) -> None:
        self._write_state = write_state
        self._states: deque[tuple[int, dict[str, Any]]] = deque()
        self._last_state: dict[str, Any] | None = None
        self._ready: dict[str, Any] | None = None  # the newest settled STATE not yet written
        self.held = False
        self.processed = 0  # number of the last record handed over completely

    def add(self, state: dict[str, Any]) -> None:
        """A STATE message, tied to the records handed over so far."""
        self._states.append((self.processed, state))

    def advance(self, oldest_unsettled: int | None) -> None:
        """Write the newest STATE whose records are all settled (None: every record handed over is)."""
        settled_through = self.processed if oldest_unsettled is None else oldest_unsettled - 1
        newest = None
        while self._states and self._states[0][0] <= settled_through:
            newest = self._states.popleft()[1]
        if newest is not None:
            self._ready = newest
        self._write_ready()

    def hold(self, held: bool) -> None:
        """Hold settled STATE back (mirror removals to come), or write the newest one held."""
        self.held = held
        self._write_ready()

    def _write_ready(self) -> None:
        if self.held or self._ready is None:
            return
        ready, self._ready = self._ready, None
        if ready != self._last_state:
            self._last_state = ready
            self._write_state(ready)
