"""One request being built: contacts bound for one set of lists, each email once, within both caps."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import msgspec

from target_sendgrid.report import RecordRef

# msgspec sizes each result exactly (~350 B a contact); orjson's results each held a 4 KB
# buffer, which made a batch in flight cost 120 MB instead of 10 MB. Also the fastest here.
# Decimals (the SDK's reader makes every fraction one) are written as numbers, digit for digit.
encode = msgspec.json.Encoder(decimal_format="number").encode
decode = msgspec.json.decode

# A batch is keyed by what it does and where: ("upsert", list ids) or ("remove", (list id,)).
BatchKey = tuple[str, tuple[str, ...]]


@dataclass(eq=False)  # batches are told apart by identity (sets of batches to wait for)
class Batch:
    """Contacts bound for one upsert (or one list removal), with the bytes of its request body."""

    list_ids: tuple[str, ...]
    first_record: int  # the lowest record number this batch holds (for STATE)
    max_contacts: int
    max_bytes: int
    kind: str = "upsert"  # or "remove": the contacts leave the one list in list_ids
    contacts: dict[str, tuple[bytes, RecordRef]] = field(default_factory=dict)
    size: int = 0
    started: bool = False  # a worker took it up (a batch still queued when the run stops never is)
    done: threading.Event = field(default_factory=threading.Event)  # set once its jobs ended

    def __post_init__(self) -> None:
        self.prefix = (
            b'{"list_ids":' + encode(list(self.list_ids)) + b',"contacts":[' if self.list_ids else b'{"contacts":['
        )
        self.size = len(self.prefix) + 2  # the closing "]}"

    def add(self, email: str, part: bytes, ref: RecordRef) -> bool:
        """Add a contact if it fits (the caller removed any earlier one of its email); False if not."""
        contacts = self.contacts
        size = self.size + len(part) + (1 if contacts else 0)
        if size > self.max_bytes or len(contacts) >= self.max_contacts:
            return False
        self.size = size
        contacts[email] = (part, ref)
        return True

    def remove(self, email: str) -> bytes | None:
        """Take out a contact (a later record with the same email replaces it); return its bytes."""
        found = self.contacts.pop(email, None)
        if found is None:
            return None
        self.size -= len(found[0]) + (1 if self.contacts else 0)
        return found[0]

    def ref(self, email: str) -> RecordRef:
        """The record a contact of this batch came from."""
        return self.contacts[email][1]

    def body(self, emails: list[str] | None = None) -> bytes:
        """The request body, serialised once from the contacts' own bytes."""
        keys = self.contacts if emails is None else emails
        return self.prefix + b",".join(self.contacts[e][0] for e in keys) + b"]}"


def merge(earlier: bytes, contact: dict[str, Any]) -> dict[str, Any]:
    """A later record of the same email, over the earlier one: what it lacks keeps the earlier value."""
    return {**decode(earlier), **contact}
