"""Which URLs may carry the key or personal data: https anywhere, plain http only on loopback."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

SENDGRID_API_URL = "https://api.sendgrid.com"  # api_url's default (docs/sendgrid-api.md, "Transport")


def is_loopback(host: str) -> bool:
    """Whether a host name or address is on this machine's loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_api_url(url: str) -> str:
    """``check_url`` for ``api_url``, which also may carry no user, password, query or fragment.

    ``requests`` would send a URL's user and password as Basic auth instead of the key; the
    refusal never shows them.
    """
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise ValueError("api_url must not carry a user or password: the API key is the only credential")
    if parts.query or parts.fragment or url.rstrip("/").endswith(("?", "#")):
        raise ValueError("api_url must not carry a query or fragment: give the base URL, e.g. https://api.sendgrid.com")
    path = parts.path.rstrip("/")
    if path.lower() == "/v3":  # a common paste of the documented base: every request path starts with /v3
        url = url.rstrip("/")[: -len("/v3")]
    elif path:
        raise ValueError(
            f"api_url must be the API's base URL, without a path: e.g. https://api.sendgrid.com (its path "
            f"{path[:60]!r} would be put before every request's /v3/...)"
        )
    return check_url(url)


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
