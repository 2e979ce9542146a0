"""The run's own failures: each ends the run with one line, and nothing past the last STATE is claimed.

SendGrid's error answers are in ``sendgrid.errors``, bad input in the SDK's exceptions (see
``singer.reader.INPUT_ERRORS``); the plugin names them all as expected failures (``target``).
"""

from __future__ import annotations


class ExportError(Exception):
    """The export cannot go on: nothing past the last emitted STATE is claimed."""


class MaxContactsExceeded(ExportError):
    """More contacts than ``max_contacts`` in one run."""


class MirrorStopped(ExportError):
    """Mirror mode would remove too much of a list, or cannot judge it: nothing was removed."""
