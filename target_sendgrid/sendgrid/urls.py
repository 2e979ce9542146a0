"""Which URLs may carry the key or personal data: https anywhere, plain http only on loopback."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    """Whether a host name or address is on this machine's loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str = "api_url") -> str:
    """Refuse any URL that would carry data or the key in clear over a network."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url.rstrip("/")
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return url.rstrip("/")
    raise ValueError(
        f"{what} must be an https:// URL (plain http is allowed only on loopback, for the emulator); got {url!r}"
    )
