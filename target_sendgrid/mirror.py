"""Mirror mode's removals: which members leave each list, with a safety stop, and why.

Two ways to tell a stale member, both judged against a contacts export of each list:

- unversioned: the member was not exported to that list by this run, which read the whole table;
- versioned: the member's stamp (the table version it was last exported with, a custom field)
  is older than a completed version, or missing.

Every list is planned before anything is removed, so the removal-fraction stop removes nothing
anywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from target_sendgrid.client import SendGridClient
from target_sendgrid.lists import remove_from_list

logger = logging.getLogger("target-sendgrid.mirror")


class MirrorStopped(Exception):
    """Mirror mode would remove too much of a list, or cannot judge it: nothing was removed."""


def mirror_exported(
    client: SendGridClient,
    exported: Mapping[str, set[str]],
    max_fraction: float,
    timeout: float,
    max_attempts: int,
) -> dict[str, int]:
    """Remove from each list the members this run did not export to it; returns removals per list."""
    plans = {
        list_id: _plan(client, list_id, lambda row, e=emails: row.get("email") not in e, max_fraction, timeout)
        for list_id, emails in exported.items()
    }
    why = "members this run did not export to it (unversioned mirror: the input is taken as the whole table)"
    return _remove(client, plans, why, timeout, max_attempts)


def mirror_version(
    client: SendGridClient,
    list_ids: tuple[str, ...],
    field: str,
    version: Any,
    max_fraction: float,
    timeout: float,
    max_attempts: int,
) -> dict[str, int]:
    """Remove from each list the members whose ``field`` stamp is older than ``version``, or missing."""
    complete = _number(version)
    if complete is None:
        raise MirrorStopped(f"Table version {version!r} is not a number: nothing was removed.")

    def stale(row: dict[str, Any]) -> bool:
        stamp = stamp_of(row, field)
        return stamp is None or stamp < complete

    plans = {list_id: _plan(client, list_id, stale, max_fraction, timeout, field) for list_id in list_ids}
    why = f"members whose {field} is older than the completed table version {version}, or missing"
    return _remove(client, plans, why, timeout, max_attempts)


def stamp_of(row: dict[str, Any], field: str) -> Decimal | None:
    """A member's table-version stamp from an export row (JSON: nested by name; CSV: a column)."""
    wanted = field.lower()
    custom = row.get("custom_fields")
    if isinstance(custom, dict):
        value = next((v for k, v in custom.items() if str(k).lower() == wanted), None)
    else:
        value = row.get(wanted)
    return _number(value)


def _number(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _plan(
    client: SendGridClient,
    list_id: str,
    leaves: Callable[[dict[str, Any]], bool],
    max_fraction: float,
    timeout: float,
    field: str | None = None,
) -> list[str]:
    """The ids of the members of a list that leave it; MirrorStopped past the removal fraction."""
    members = 0
    leaving = []
    for member in client.list_members(list_id, timeout):  # one row at a time: only ids are kept
        members += 1
        if leaves(member):
            leaving.append(member["id"])
    if members and len(leaving) / members > max_fraction:
        hint = (
            f" A member stays only when its {field} is the completed version: check that the tap sent the whole table."
            if field
            else " Check that the input held the whole segment."
        )
        raise MirrorStopped(
            f"Mirror mode would remove {len(leaving)} of the {members} contacts of list {list_id} "
            f"({len(leaving) / members:.0%}), more than mirror_max_removal_fraction={max_fraction}. "
            f"Nothing was removed.{hint} Or raise the fraction."
        )
    return leaving


def _remove(
    client: SendGridClient, plans: dict[str, list[str]], why: str, timeout: float, max_attempts: int
) -> dict[str, int]:
    for list_id, ids in plans.items():
        remove_from_list(client, list_id, ids, timeout, max_attempts)
        logger.info("Mirror: removed %d contacts from list %s: %s", len(ids), list_id, why)
    return {list_id: len(ids) for list_id, ids in plans.items()}
