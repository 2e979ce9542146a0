"""Routing: which lists a record joins, and the lists named in the settings found or created."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet

from target_sendgrid.contacts.creation import Creator
from target_sendgrid.contacts.segments import normalise
from target_sendgrid.sendgrid.client import SendGridClient

logger = logging.getLogger(__name__)


class ListRouter:
    """Routes a record's segments to list ids.

    A segment named in ``segment_lists`` goes to its own list; any other selected segment
    goes to the default list (``list_id`` or ``list_name``). With no segments selected,
    a record goes to the lists of its ``segment_lists`` segments, or else to the default.
    """

    def __init__(
        self,
        default_list: str | None,
        segment_lists: Mapping[str, str],
        segments_selected: bool,
        placeholders: AbstractSet[str] = frozenset(),
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.default_list = default_list
        self.segment_lists = {normalise(k): v for k, v in segment_lists.items()}
        self.segments_selected = segments_selected
        self.all_lists = tuple(sorted({*self.segment_lists.values(), *([default_list] if default_list else [])}))
        self.names: dict[str, str] = dict(names or {})  # list id -> name, for messages
        # Ids that stand for lists SendGrid does not have (see contacts/creation.py): no members, nothing to read.
        self.placeholders = frozenset(placeholders) & set(self.all_lists)
        self._default_only: tuple[str, ...] = (default_list,) if default_list else ()

    def describe(self, list_id: str) -> str:
        """A list as a message names it: 'name' (id)."""
        name = self.names.get(list_id)
        if list_id in self.placeholders:
            return f"'{name}' (to be created)"
        return f"'{name}' ({list_id})" if name and name != list_id else list_id

    def describe_all(self, list_ids: tuple[str, ...]) -> str:
        """Lists as a message names them."""
        if not list_ids:
            return "no list"
        return ("list " if len(list_ids) == 1 else "lists ") + ", ".join(map(self.describe, list_ids))

    def member_lists(self, selected: Iterable[str] | None, declared: AbstractSet[str]) -> tuple[str, ...]:
        """The lists a record belongs to: ``selected`` are its selected segments (None: filtered out)."""
        if selected is None:
            return ()
        if not self.segment_lists:  # every member goes to the default list
            return self._default_only
        if self.segments_selected:
            lists = {self.segment_lists.get(normalise(s), self.default_list) for s in selected}
        else:
            lists = {self.segment_lists[s] for s in declared if s in self.segment_lists}
            lists = lists or {self.default_list}
        return tuple(sorted(filter(None, lists)))  # a segment without a list and no default_list: none

    @staticmethod
    def resolve(
        client: SendGridClient | None, values: Iterable[str], creator: Creator | None
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Each list id or name -> list id (names not found are made by ``creator``), and each list id -> its name.

        Without a client or a creator (a dry run: it has neither) nothing is read or created: names stand in for ids.
        """
        wanted = set(values)
        if client is None or creator is None:
            return {v: v for v in wanted}, {v: v for v in wanted}  # a dry run sends nothing: names stand in for ids
        name_of: dict[str, str] = {}
        by_name: dict[str, str] = {}
        if wanted:
            for found in client.lists():
                name_of[found["id"]] = found["name"]
                by_name.setdefault(found["name"], found["id"])
        resolved = {}
        for value in wanted:
            if value in name_of or value in by_name:
                resolved[value] = value if value in name_of else by_name[value]
                logger.info("Found list '%s' (%s)", name_of[resolved[value]], resolved[value])
            else:
                resolved[value] = by_name[value] = creator.create_list(value)  # the lists were just read
                name_of[resolved[value]] = value
        return resolved, {i: name_of[i] for i in resolved.values()}
