"""The run's own failures: each ends the run with one line, and nothing past the last STATE is claimed.

SendGrid's error answers are in ``sendgrid.api_errors``, bad input in the SDK's exceptions (see
``singer.reader.INPUT_ERRORS``); the plugin names them all as expected failures (``target``).
"""

from __future__ import annotations

import signal


class ExportError(Exception):
    """The export cannot go on: nothing past the last emitted STATE is claimed."""


class MaxContactsExceeded(ExportError):
    """More contacts than ``max_contacts`` in one run."""


class MirrorStopped(ExportError):
    """Mirror mode would remove too much of a list, or cannot judge it: nothing was removed."""


class Interrupted(Exception):
    """A termination signal stopped the run; it exits with 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
