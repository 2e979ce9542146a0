"""What a plan hands the run in the place of creating: names noted, stand-in ids answered.

A plan creates no list and no custom field (its client refuses every write): the run is handed
:class:`StandIns` as its :class:`~target_sendgrid.contacts.creation.Creator`, which notes each
name and answers with an id SendGrid never sees, so the rest of the run goes on as it would.
"""

from __future__ import annotations

import logging
from collections.abc import Set as AbstractSet

from target_sendgrid.sendgrid.client import FieldDefinition

logger = logging.getLogger(__name__)

NEW_ID = "new:"  # the prefix of a stand-in id


def new_id(name: str) -> str:
    """The stand-in id of a list or custom field a plan would create."""
    return NEW_ID + name


class StandIns:
    """The lists and custom fields the real run would create, in the order it would."""

    def __init__(self) -> None:
        self.lists: dict[str, str] = {}  # stand-in id -> name
        self.fields: list[str] = []  # names of custom fields

    @property
    def placeholders(self) -> AbstractSet[str]:
        """The stand-in ids of the lists: SendGrid has no such list, so it has no members."""
        return self.lists.keys()

    def create_list(self, name: str) -> str:
        """Note the list; its stand-in id."""
        list_id = new_id(name)
        self.lists[list_id] = name
        logger.info("Plan: list '%s' would be created", name)
        return list_id

    def create_custom_field(self, name: str, field_type: str) -> FieldDefinition:
        """Note the custom field; a definition with a stand-in id."""
        self.fields.append(name)
        logger.info("Plan: custom field %s (%s) would be created", name, field_type)
        return FieldDefinition(id=new_id(name), name=name, field_type=field_type)
