"""Lists and membership: which lists a record joins or leaves, and mirror mode."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from target_sendgrid.client import SendGridClient
from target_sendgrid.segments import normalise

logger = logging.getLogger("target-sendgrid.lists")

REMOVE_CHUNK = 100  # contact ids per removal call, as other integrations use


class MirrorStopped(Exception):
    """Mirror mode would remove too much of a list: nothing was removed."""


class ListRouter:
    """Routes a record's segments to list ids.

    A segment named in ``segment_lists`` goes to its own list; any other selected segment
    goes to the default list (``list_id`` or ``list_name``). With no segments selected,
    a record goes to the lists of its ``segment_lists`` segments, or else to the default.
    """

    def __init__(self, default_list: str | None, segment_lists: Mapping[str, str], segments_selected: bool) -> None:
        self.default_list = default_list
        self.segment_lists = {normalise(k): v for k, v in segment_lists.items()}
        self.segments_selected = segments_selected
        self.all_lists = tuple(sorted({*self.segment_lists.values(), *([default_list] if default_list else [])}))

    def member_lists(self, selected: Iterable[str] | None, declared: set[str]) -> tuple[str, ...]:
        """The lists a record belongs to: ``selected`` are its selected segments (None: filtered out)."""
        if selected is None:
            return ()
        if self.segments_selected:
            lists = {self.segment_lists.get(normalise(s), self.default_list) for s in selected}
        else:
            lists = {self.segment_lists[s] for s in declared if s in self.segment_lists}
            lists = lists or {self.default_list}
        lists.discard(None)
        return tuple(sorted(lists))  # type: ignore[arg-type]

    @staticmethod
    def resolve(client: SendGridClient | None, values: Iterable[str]) -> dict[str, str]:
        """Each list id or name -> list id; names not found are created."""
        wanted = set(values)
        if client is None:
            return {v: v for v in wanted}  # a dry run sends nothing: names stand in for ids
        by_id, by_name = {}, {}
        if wanted:
            for found in client.lists():
                by_id[found["id"]] = found["id"]
                by_name.setdefault(found["name"], found["id"])
        resolved = {}
        for value in wanted:
            if value in by_id or value in by_name:
                resolved[value] = by_id.get(value) or by_name[value]
                logger.info("Found list '%s' (%s)", value, resolved[value])
            else:
                resolved[value] = by_name[value] = client.create_list(value)  # the lists were just read
                logger.info("Created list '%s' (%s)", value, resolved[value])
        return resolved


def mirror(
    client: SendGridClient,
    exported: Mapping[str, set[str]],
    max_fraction: float,
    timeout: float,
    max_attempts: int,
) -> dict[str, int]:
    """Remove from each list the contacts this run did not export to it; returns removals per list.

    Every list is checked before anything is removed, so the removal-fraction stop removes
    nothing anywhere.
    """
    plans: dict[str, list[str]] = {}
    for list_id, emails in exported.items():
        members = client.list_members(list_id, timeout)
        leaving = [m["id"] for m in members if (m.get("email") or "").lower() not in emails]
        if members and len(leaving) / len(members) > max_fraction:
            raise MirrorStopped(
                f"Mirror mode would remove {len(leaving)} of the {len(members)} contacts of list {list_id} "
                f"({len(leaving) / len(members):.0%}), more than mirror_max_removal_fraction={max_fraction}. "
                "Nothing was removed. Check that the input held the whole segment, or raise the fraction."
            )
        plans[list_id] = leaving
    for list_id, ids in plans.items():
        remove_from_list(client, list_id, ids, timeout, max_attempts)
        logger.info("Mirror: removed %d contacts from list %s", len(ids), list_id)
    return {list_id: len(ids) for list_id, ids in plans.items()}


def remove_from_list(client: SendGridClient, list_id: str, ids: list[str], timeout: float, attempts: int) -> None:
    """Remove contacts from a list, 100 ids a call, following each job to its end."""
    for start in range(0, len(ids), REMOVE_CHUNK):
        chunk = ids[start : start + REMOVE_CHUNK]
        client.run_job(
            lambda chunk=chunk: client.remove_from_list(list_id, chunk),
            timeout,
            attempts,
            f"removal of {len(chunk)} contacts from list {list_id}",
        )
