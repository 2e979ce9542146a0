"""Checks of request bodies and parameters that answer a 400 naming the field, whatever JSON arrives.

Every handler reads its body through these, so a body of ``null``, ``[]``, ``123``, ``"str"``, a list of
lists where ids belong, or an object where a string belongs is a 400 in SendGrid's error shape, never
a traceback (the spec files type each field; SendGrid answers 400 for a body that breaks them).
"""

from __future__ import annotations

from typing import Any

from sendgrid_emulator.account import ApiError, Request


def body_object(req: Request, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object (an absent body is ``{}`` where ``optional``)."""
    if optional and not req.body.strip():
        return {}
    body = req.json()
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def string_list(
    body: dict[str, Any], name: str, *, required: bool = False, min_items: int = 0, max_items: int | None = None
) -> list[str]:
    """``body[name]`` as a list of strings (absent or null: ``[]`` unless required)."""
    value = body.get(name)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"{name} must be an array of strings", name)
    if len(value) < min_items or (max_items is not None and len(value) > max_items):
        upper = f" to {max_items}" if max_items is not None else " or more"
        raise ApiError(400, f"{name} must hold {min_items}{upper} items", name)
    return value


def string(body: dict[str, Any], name: str, *, required: bool = True, max_length: int | None = None) -> str | None:
    """``body[name]`` as a string (absent: None unless required)."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string", name)
    if max_length is not None and len(value) > max_length:
        raise ApiError(400, f"{name} must be at most {max_length} characters", name)
    return value


def query_flag(req: Request, name: str) -> bool:
    """A boolean query parameter (``true``/``false``, absent: false); anything else is a 400."""
    values = req.query.get(name)
    if not values:
        return False
    if values[-1].lower() not in ("true", "false"):
        raise ApiError(400, f"{name} must be true or false", name)
    return values[-1].lower() == "true"


def query_int(req: Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within ``[low, high]``."""
    raw = req.query.get(name, [str(default)])[-1]
    try:
        number = float(raw)  # the spec types page_size as a number: 10.0 is 10
    except ValueError:
        number = float("nan")
    if not number.is_integer():
        raise ApiError(400, f"{name} must be an integer", name)
    value = int(number)
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}", name)
    return value


def id_list(req: Request, name: str) -> list[str]:
    """A comma-separated id list from the query (every ``name`` parameter joined), empty items dropped."""
    return [i for i in ",".join(req.query.get(name, [])).split(",") if i.strip()]
