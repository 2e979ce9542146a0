"""Signals from orchestrators: the first SIGTERM or SIGINT stops the run cleanly, a second at once.

The first signal never interrupts the exporter mid-update: it raises :class:`Interrupted`
only while the reader waits for input, and otherwise is noticed at the next safe point
(between messages, or while waiting for a batch slot or a job). A second signal exits at
once; STATE already written covered only settled records, so nothing is claimed that is not.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

from target_sendgrid.lifecycle.failures import Interrupted

logger = logging.getLogger(__name__)


class ShutdownGuard:
    """Turns the first termination signal into :class:`Interrupted` at a safe point."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.safe_to_raise = False  # set by the reader while it waits for input

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: remember the first signal; exit at once on the second."""
        if self.signum is not None:
            sys.stderr.write(f"Second signal ({signal.Signals(signum).name}): exiting at once, no further STATE\n")
            sys.stderr.flush()
            os._exit(128 + signum)
        self.signum = signum
        logger.warning(
            "Received %s: no more input is read; waiting for the jobs in flight (a second signal exits at once)",
            signal.Signals(signum).name,
        )
        if self.safe_to_raise:
            raise Interrupted(signum)

    def check(self) -> None:
        """Raise :class:`Interrupted` if a signal arrived."""
        if self.signum is not None:
            raise Interrupted(self.signum)
