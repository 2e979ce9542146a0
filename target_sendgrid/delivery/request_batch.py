"""One request being built: contacts bound for one set of lists, each email once, within both caps."""

from __future__ import annotations

import threading
from collections.abc import Iterator
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
    settled: int = 0  # contacts SendGrid confirmed (exported) or refused (rejected) so far
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

    def records(self, emails: list[str], most: int = 20) -> str:
        """The record numbers these contacts came from, as a message names them (the first ``most``)."""
        numbers = sorted(self.ref(e).number for e in emails)
        return ", ".join(map(str, numbers[:most])) + (" ..." if len(numbers) > most else "")

    def body(self, emails: list[str] | None = None) -> Body:
        """The request body, from the contacts' own bytes (all of them, or these emails')."""
        keys = self.contacts if emails is None else emails
        return Body(self.prefix, [self.contacts[e][0] for e in keys])


class Body:
    """A request body sent in slices of the contacts' bytes, with its length known in advance.

    Joined into one 6 MB block per request, bodies came from the worker threads' malloc arenas,
    which kept them after use: 45 MB of a 300,000-profile run's peak. ``requests`` sends an
    iterable with a length as it is, with a Content-Length: the same bytes on the wire.
    """

    # Contacts per slice (~700 KB, eight a full body): each slice waits for the GIL while the
    # main thread reads records (up to 5 ms), so slices of 256 doubled the upload time.
    SLICE = 4096

    def __init__(self, prefix: bytes, parts: list[bytes]) -> None:
        self.prefix = prefix
        self.parts = parts
        self.length = len(prefix) + sum(map(len, parts)) + max(len(parts) - 1, 0) + 2

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        """The body's bytes, slice by slice; every iteration starts again (a retry sends it whole)."""
        yield self.prefix
        for start in range(0, len(self.parts), self.SLICE):
            yield (b"," if start else b"") + b",".join(self.parts[start : start + self.SLICE])
        yield b"]}"


def merge(earlier: bytes, contact: dict[str, Any]) -> dict[str, Any]:
    """A later record of the same email, over the earlier one: what it lacks keeps the earlier value."""
    return {**decode(earlier), **contact}
