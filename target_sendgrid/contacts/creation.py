"""Creating what the settings name and the account lacks: a list, a custom field.

The run is handed a :class:`Creator`. A real run's, :class:`SendGridCreator`, asks SendGrid and
logs what it made; another may stand in (``planning/stand_ins.py`` notes what would be made and
answers with ids that SendGrid never sees: its ``placeholders``).
"""

from __future__ import annotations

import logging
from collections.abc import Set as AbstractSet
from typing import Protocol

from target_sendgrid.sendgrid.client import FieldDefinition, SendGridClient

logger = logging.getLogger(__name__)


class Creator(Protocol):
    """What makes a list or a custom field the account lacks."""

    @property
    def placeholders(self) -> AbstractSet[str]:
        """Ids this creator answered with that name no list in SendGrid (such a list has no members to read)."""
        ...

    def create_list(self, name: str) -> str:
        """A new list of this name; returns its id."""
        ...

    def create_custom_field(self, name: str, field_type: str) -> FieldDefinition:
        """A new custom field of this name and type; returns its definition."""
        ...


class SendGridCreator:
    """Creates lists and custom fields in the account."""

    placeholders: AbstractSet[str] = frozenset()  # every id it returns is SendGrid's

    def __init__(self, client: SendGridClient) -> None:
        self.client = client

    def create_list(self, name: str) -> str:
        """Create the list in SendGrid."""
        list_id = self.client.create_list(name)
        logger.info("Created list '%s' (%s)", name, list_id)
        return list_id

    def create_custom_field(self, name: str, field_type: str) -> FieldDefinition:
        """Create the custom field in SendGrid."""
        definition = self.client.create_custom_field(name, field_type)
        logger.info("Created custom field %s (%s) as %s", name, field_type, definition["id"])
        return definition
