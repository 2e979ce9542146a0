"""Stale members: which members of a list leave it in mirror mode, judged for every list before any leaves.

Two ways to tell a stale member, both judged against a contacts export of each list (or
skip_unchanged's read of it):

- unversioned (:func:`mirror_exported`): the member was not exported to that list by this run,
  which read the whole table;
- versioned (:func:`mirror_version`): the member's stamp (the table version it was last exported
  with, a custom field) is older than a completed version, or missing.

Every list is judged before anything is removed, so the removal-fraction stop removes nothing
anywhere; the fraction is of the list as it is after the run's own changes. What becomes of the
members judged stale is up to the :class:`Leavers` the run is handed: a real run's
(:class:`RemoveFromLists`) takes them out of their lists; another may only count them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from target_sendgrid.contacts.stored import stored_number
from target_sendgrid.lifecycle.failures import MirrorStopped
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.sendgrid.export_files import custom_value
from target_sendgrid.sendgrid.removals import remove_from_list
from target_sendgrid.sync.unchanged import SendGridCopy

logger = logging.getLogger(__name__)


class Judged(NamedTuple):
    """A list judged: the members that leave it, and how many members it has after the run's own changes."""

    leaving: list[dict[str, Any]]  # export rows, or the copy's {"id", "key"}; each with its contact id
    members: int


class Leavers(Protocol):
    """What becomes of the members judged stale, every list judged before any leaves."""

    def take(self, judged: Mapping[str, Judged], stops: Mapping[str, str | None], why: str) -> dict[str, int]:
        """The stale members of each list leave it; returns how many per list.

        ``stops``: per list, why the safety stop refuses its removals (None: it does not): then
        MirrorStopped is raised and no member is taken out of any list.
        """
        ...


class RemoveFromLists:
    """A real run's leavers: taken out of their lists in SendGrid, once no list is past the safety stop."""

    def __init__(
        self, client: SendGridClient, timeout: float, max_attempts: int, describe: Callable[[str], str] = str
    ) -> None:
        self.client = client
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.describe = describe

    def take(self, judged: Mapping[str, Judged], stops: Mapping[str, str | None], why: str) -> dict[str, int]:
        """Remove them, unless the safety stop refuses any list's removals."""
        for message in stops.values():
            if message:
                raise MirrorStopped(message)
        for list_id, j in judged.items():
            remove_from_list(self.client, list_id, [m["id"] for m in j.leaving], self.timeout, self.max_attempts)
            logger.info("Mirror: removed %d contacts from list %s: %s", len(j.leaving), self.describe(list_id), why)
        return {list_id: len(j.leaving) for list_id, j in judged.items()}


def mirror_exported(
    client: SendGridClient,
    exported: Mapping[str, set[str]],
    max_fraction: float,
    timeout: float,
    leavers: Leavers,
    copy: SendGridCopy | None = None,
    placeholders: AbstractSet[str] = frozenset(),
    left: Mapping[str, set[str]] | None = None,
    describe: Callable[[str], str] = str,
) -> dict[str, int]:
    """Remove from each list the members this run did not export to it; returns removals per list.

    With ``copy`` (skip_unchanged read the lists at start, ids included) the lists are judged from
    it, with no second export, as they are after the run's own changes (``left``: what it took out);
    a member added by someone else during the run then stays.
    """
    judged = {}
    for list_id, emails in exported.items():
        if copy is not None and copy.ids is not None:
            hashes = {hash(e) for e in emails}
            changes = _Changes(hashes, {hash(e) for e in (left or {}).get(list_id, ())})
            rows = copy.members_of(list_id)
            judged[list_id] = _judge(client, list_id, _absent("key", hashes), timeout, rows=rows, changes=changes)
        else:
            none = () if list_id in placeholders else None  # a list SendGrid does not have has no members
            new = _Changes({hash(e) for e in emails}, set()) if none is not None else None
            judged[list_id] = _judge(client, list_id, _absent("email", emails), timeout, rows=none, changes=new)
    why = "members this run did not export to it (unversioned mirror: the input is taken as the whole table)"
    return _remove(leavers, judged, why, max_fraction, None, describe)


def _absent(key: str, kept: set[Any]) -> Callable[[dict[str, Any]], bool]:
    """Whether an export row's ``key`` is not among those kept: that member leaves."""
    return lambda row: row.get(key) not in kept


def mirror_version(
    client: SendGridClient,
    list_ids: tuple[str, ...],
    field: str,
    version: Any,
    max_fraction: float,
    timeout: float,
    leavers: Leavers,
    placeholders: AbstractSet[str] = frozenset(),
    exported: Mapping[str, set[str]] | None = None,
    left: Mapping[str, set[str]] | None = None,
    describe: Callable[[str], str] = str,
) -> dict[str, int]:
    """Remove from each list the members whose ``field`` stamp is older than ``version``, or missing.

    ``exported`` and ``left`` (lists read without the run's own changes, as when nothing was sent):
    the members this run stamped, who stay, and those it took out; the lists are judged as they
    are after the run.
    """
    complete = stored_number(version)
    if complete is None:
        raise MirrorStopped(f"Table version {version!r} is not a number: nothing was removed.")

    def stale(list_id: str) -> Callable[[dict[str, Any]], bool]:
        stamped = (exported or {}).get(list_id, set())

        def leaves(row: dict[str, Any]) -> bool:
            stamp = stamp_of(row, field)
            return (stamp is None or stamp < complete) and row.get("email") not in stamped

        return leaves

    def changes(list_id: str) -> _Changes | None:
        if exported is None:
            return None  # a real run reads the lists after its own changes
        gone = {hash(e) for e in (left or {}).get(list_id, ())}
        return _Changes({hash(e) for e in exported.get(list_id, ())}, gone)

    judged = {
        list_id: _judge(
            client,
            list_id,
            stale(list_id),
            timeout,
            rows=() if list_id in placeholders else None,
            changes=changes(list_id),
        )
        for list_id in list_ids
    }
    why = f"members whose {field} is older than the completed table version {version}, or missing"
    return _remove(leavers, judged, why, max_fraction, field, describe)


def stamp_of(row: dict[str, Any], field: str) -> Decimal | None:
    """A member's table-version stamp from an export row (JSON: nested by name; CSV: a column)."""
    return stored_number(custom_value(row, field))


class _Changes(NamedTuple):
    """A list read before the run's own changes: what the run sent to it, and took out (hashes of emails)."""

    joined: set[int]
    gone: set[int]


def _judge(
    client: SendGridClient,
    list_id: str,
    leaves: Callable[[dict[str, Any]], bool],
    timeout: float,
    rows: Iterable[dict[str, Any]] | None = None,
    changes: _Changes | None = None,
) -> Judged:
    """The members of a list that leave it, and how many members it has after the run's own changes.

    The members come from ``rows``, or else from a contacts export of the list. ``changes``: the rows
    were read before the run's changes; those it took out are members no more, those it sent are.
    """
    members = 0
    leaving = []
    seen: set[int] = set()
    for member in client.list_members(list_id, timeout) if rows is None else rows:  # one at a time: ids kept
        if changes is not None:
            key = member["key"] if "key" in member else hash(member.get("email"))
            if key in changes.gone:
                continue
            seen.add(key)
        members += 1
        if leaves(member):
            if not member.get("id"):
                raise MirrorStopped(f"A member of list {list_id} came without a contact id: nothing was removed.")
            leaving.append({"id": member["id"], "key": member["key"] if "key" in member else hash(member.get("email"))})
    if changes is not None:
        members += len(changes.joined - seen)
    return Judged(leaving, members)


def _stop(name: str, judged: Judged, max_fraction: float, field: str | None) -> str | None:
    """Why the safety stop refuses a list's removals (more than the fraction), or None."""
    leaving, members = len(judged.leaving), judged.members
    if not members or leaving / members <= max_fraction:
        return None
    hint = (
        f" A member stays only when its {field} is the completed version: check that the tap sent the whole table."
        if field
        else " Check that the input held the whole segment."
    )
    return (
        f"Mirror mode would remove {leaving} of the {members} contacts of list {name} "
        f"({leaving / members:.0%}), more than mirror_max_removal_fraction={max_fraction}. "
        f"Nothing was removed.{hint} Or raise the fraction."
    )


def _remove(
    leavers: Leavers,
    judged: dict[str, Judged],
    why: str,
    max_fraction: float,
    field: str | None,
    describe: Callable[[str], str],
) -> dict[str, int]:
    """Every list judged first: past the fraction anywhere, nothing is removed anywhere (MirrorStopped)."""
    stops = {list_id: _stop(describe(list_id), j, max_fraction, field) for list_id, j in judged.items()}
    return leavers.take(judged, stops, why)
