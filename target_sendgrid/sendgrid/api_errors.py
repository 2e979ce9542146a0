"""SendGrid's error answers as exceptions: what a caller may catch, and the hint for a refused key."""

from __future__ import annotations

import re
from typing import Any

# SendGrid's messages echo addresses ("email 'x' is not valid"): personal data, never logged or written.
_ADDRESS = re.compile(r"[^\s'\"<>(),;:\[\]]+@[^\s'\"<>(),;:\[\]]+")
_QUOTED = re.compile(r"(email|address|value) '[^']*'", re.IGNORECASE)


def scrub(message: str) -> str:
    """A message from SendGrid without the addresses (or quoted email values) it may echo."""
    return _ADDRESS.sub("<email>", _QUOTED.sub(r"\1 <email>", message))


AUTH_HINT = (
    "Check that api_key is a current SendGrid API key with Marketing access (the marketing.read "
    "scope, or Full Access), and that the account uses the new "
    "Marketing Campaigns: legacy Marketing Campaigns accounts answer 403."
)


class SendGridError(Exception):
    """An error answer from SendGrid, with its ``errors`` list."""

    def __init__(self, message: str, status: int | None = None, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors or []


class AuthError(SendGridError):
    """401 or 403: retrying cannot help."""


class BadRequest(SendGridError):
    """400 or 413: the request itself was refused; ``errors`` may name contacts."""


class NotFound(SendGridError):
    """404."""


class Unreachable(SendGridError):
    """api_url could not be reached at all (refused, unknown host, TLS): retrying cannot help."""
