"""The STATE watermark: a tap's STATE is written only once every record before it is settled.

Every RECORD message has a number. A STATE message is tied to the number of the last record
before it. A record is *settled* once it was filtered, rejected, or its contact is in a
finished import job. The oldest unsettled record is the lowest number held by a batch not
yet finished, so that number, minus one, is how far STATE may go.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class StateWatermark:
    """Holds the tap's STATE messages until the records before them are settled (not thread-safe)."""

    def __init__(self, write_state: Callable[[dict], None]) -> None:
        self._write_state = write_state
        self._states: deque[tuple[int, dict]] = deque()
        self._last_state: dict | None = None
        self.processed = 0  # number of the last record handed over completely

    def add(self, state: dict) -> None:
        """A STATE message, tied to the records handed over so far."""
        self._states.append((self.processed, state))

    def advance(self, oldest_unsettled: int | None) -> None:
        """Write the newest STATE whose records are all settled (None: every record handed over is)."""
        settled_through = self.processed if oldest_unsettled is None else oldest_unsettled - 1
        newest = None
        while self._states and self._states[0][0] <= settled_through:
            newest = self._states.popleft()[1]
        if newest is not None and newest != self._last_state:
            self._last_state = newest
            self._write_state(newest)
