"""skip_unchanged: send only contacts that differ from SendGrid's own copy of the target lists.

At the first SCHEMA, the current members of each target list are read through a contacts
export (one per list: membership is which export a row came from) and kept as one compact
entry per member: a hash of its email -> a hash of its values for the fields the stream maps,
plus a bit per target list it belongs to: about 130 MB per million members (measured).

A record's contact is *unchanged* when its email's entry exists, its values hash the same,
and it is already in every list it is bound for. Values are compared as SendGrid stores them
(``contacts/stored.py``): text trimmed, empty as absent, numbers by value, dates by day,
alternate emails as a set.
Python's ``hash`` is per process, which is all this needs: nothing is kept between runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from target_sendgrid.contacts.custom_fields import CustomField
from target_sendgrid.contacts.routing import ListRouter
from target_sendgrid.contacts.stored import kind_of, stored
from target_sendgrid.sendgrid.api_errors import SendGridError
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.sendgrid.export_files import custom_value

logger = logging.getLogger(__name__)

MAX_LISTS = 32  # list memberships kept as bits beside the hash
_TOUCHED = 1 << MAX_LISTS  # this run queued a change of the member: the copy no longer says what SendGrid has
_VALUES = MAX_LISTS + 1  # where the hash of the member's values starts


# What reading the target lists may fail with, short of a bug: SendGrid's answers and downloads
# (SendGridError and its kinds: refused, unreachable, cut off, malformed, past max_download_bytes) and
# the export's wait (TimeoutError). Anything else is a bug, and is raised as it is; an interruption too.
READ_FAILURES = (SendGridError, TimeoutError)


class CopyUser(Protocol):
    """One that needs SendGrid's copy of the target lists whatever skip_unchanged says, and cannot go on without it."""

    @property
    def label(self) -> str:
        """How the log lines of the read name it."""
        ...

    def unreadable(self, exc: Exception) -> Exception:
        """The failure that stops the run when the copy cannot be read (``exc``: why)."""
        ...

    def read(self, copy: SendGridCopy) -> None:
        """The copy, once read."""
        ...


def read_copy(
    client: SendGridClient,
    router: ListRouter,
    fields: tuple[str, ...],
    custom: tuple[CustomField, ...],
    timeout: float,
    keep_ids: bool = False,
    user: CopyUser | None = None,
) -> SendGridCopy | None:
    """SendGrid's copy of the target lists; None (with a warning saying why) when it cannot be read.

    With ``user``, who cannot go on without it, its failure is raised instead, and it is handed the copy.
    """
    if not router.all_lists:
        logger.warning("skip_unchanged needs a target list to compare with; every contact is sent")
        return None
    copy = SendGridCopy(fields, custom, router.all_lists, keep_ids)
    try:
        for list_id in router.all_lists:
            # A list SendGrid does not have yet has no members (and no id to export it by).
            rows = () if list_id in router.placeholders else client.list_members(list_id, timeout)
            read = copy.load(list_id, rows)
            label = user.label if user is not None else "skip_unchanged"
            logger.info("%s: list %s has %d members", label, router.describe(list_id), read)
    except READ_FAILURES as exc:  # failing to read costs only speed: everything is sent
        if user is not None:
            raise user.unreadable(exc) from None
        logger.warning(
            "skip_unchanged: could not read the target lists' current members (%s: %s); every contact is sent",
            type(exc).__name__,
            exc,
        )
        return None
    if user is not None:
        user.read(copy)
    return copy


class SendGridCopy:
    """The target lists' members as SendGrid has them: a fingerprint per member."""

    def __init__(
        self,
        fields: tuple[str, ...],
        custom: tuple[CustomField, ...],
        list_ids: tuple[str, ...],
        keep_ids: bool = False,
    ) -> None:
        self.fields = fields  # reserved fields the stream maps, email excepted
        self.custom = custom  # custom fields the stream feeds (the mirror stamp included)
        self._custom_ids = frozenset(c.id for c in custom)
        self.bits = {list_id: 1 << n for n, list_id in enumerate(list_ids[:MAX_LISTS])}
        self.members: dict[int, int] = {}  # hash(email) -> value hash << _VALUES | _TOUCHED | list bits
        # Mirror mode: hash(email) -> contact id, so the same read serves its removals.
        self.ids: dict[int, str] | None = {} if keep_ids and len(list_ids) <= MAX_LISTS else None

    def load(self, list_id: str, rows: Iterable[dict[str, Any]]) -> int:
        """Take in one list's export rows; returns how many were read."""
        bit = self.bits.get(list_id, 0)
        read = 0
        for row in rows:
            email = row.get("email")
            if not email:
                continue
            if not isinstance(email, str):  # an export row SendGrid would not write: the read fails, as a read
                raise SendGridError(f"a member of list {list_id} came with an email that is not text")
            read += 1
            key = hash(email)
            if self.ids is not None:  # mirror mode judges removals from this read: every member needs its id
                if not row.get("id"):
                    raise SendGridError(f"a member of list {list_id} came without a contact id")
                self.ids[key] = str(row["id"])
            values = self._row_hash(row)
            known = self.members.get(key)
            if known is not None and known >> _VALUES == values:
                self.members[key] = known | bit
            else:
                self.members[key] = values << _VALUES | bit
        return read

    def members_of(self, list_id: str) -> Iterator[dict[str, Any]]:
        """The members of a list at the read, as ``{"id", "key"}`` (key: the email's hash)."""
        bit = self.bits[list_id]
        ids = self.ids or {}
        for key, entry in self.members.items():
            if entry & bit and key in ids:
                yield {"id": ids[key], "key": key}

    def lists_of(self, key: int) -> list[str] | None:
        """The target lists a member is in, by the hash of its email; None: in none of them."""
        entry = self.members.get(key)
        if entry is None:
            return None
        return [list_id for list_id, bit in self.bits.items() if entry & bit]

    def is_current(self, contact: dict[str, Any], list_ids: tuple[str, ...]) -> bool:
        """Whether SendGrid already has this contact, with these values, in all these lists."""
        known = self.members.get(hash(contact["email"]))
        if known is None or known & _TOUCHED or known >> _VALUES != self._contact_hash(contact):
            return False
        if not self._custom_ids.issuperset(contact.get("custom_fields") or ()):
            return False  # a value this copy did not read (a mirror stamp in a field created since): send it
        wanted = 0
        for list_id in list_ids:
            bit = self.bits.get(list_id)
            if bit is None:
                return False  # a list past MAX_LISTS: membership unknown
            wanted |= bit
        return known & wanted == wanted

    def touch(self, email: str) -> None:
        """This run queued a change of this contact (sent, removed, deleted): later records of it are sent.

        A later record that matches the copy would otherwise be skipped although SendGrid will have
        the earlier record's values by then.
        """
        key = hash(email)
        known = self.members.get(key)
        if known is not None:
            self.members[key] = known | _TOUCHED

    def _row_hash(self, row: dict[str, Any]) -> int:
        return self._hash([row.get(f) for f in self.fields], [custom_value(row, c.name) for c in self.custom])

    def _contact_hash(self, contact: dict[str, Any]) -> int:
        custom = contact.get("custom_fields") or {}
        return self._hash([contact.get(f) for f in self.fields], [custom.get(c.id) for c in self.custom])

    def _hash(self, reserved: list[Any], custom: list[Any]) -> int:
        """One fingerprint for a row as exported and a contact as sent: values as SendGrid stores them."""
        values = [stored(kind_of(f), v) for f, v in zip(self.fields, reserved, strict=True)]
        values += [stored(c.field_type, v) for c, v in zip(self.custom, custom, strict=True)]
        return hash(tuple(values)) & ((1 << 62) - 1)
