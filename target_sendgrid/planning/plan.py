"""A plan: what a run would change in each list, counted from SendGrid's own copy, written nowhere.

A plan run reads what the real run would read (lists, custom fields, the target lists' members
through exports) and looks up the contacts it would send that are in none of those lists, but
writes nothing. Its batches are planned instead of sent (``planned_delivery.py``), in the real
run's order, so a contact that two batches touch is counted as the real run would touch it: the
first creates it, the second updates it. What differs from SendGrid's copy is kept as hashes of
emails (a few sets of ints), never an address.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import msgspec

from target_sendgrid.files.private import check_writable, email_hash, open_private

logger = logging.getLogger(__name__)

ACTIONS = ("create", "update", "unchanged", "add", "remove")
NO_LIST = ""  # contacts upserted into no list (allow_no_list)

# hash(email) -> the target lists it is in, as SendGrid's copy has it (None: in none of them).
Membership = Callable[[int], Iterable[str] | None]


def check_path(path: str | None) -> None:
    """Refuse a ``plan_path`` that cannot be written, before anything is read or sent."""
    if path:
        check_writable(Path(path), "plan_path")


class Plan:
    """Counts per list of what the run would change; thread-safe (batches are planned in the workers)."""

    def __init__(
        self,
        path: str | None,
        run_id: str,
        *,
        names: Mapping[str, str] | None = None,
        new_lists: Mapping[str, str] | None = None,
        new_fields: list[str] | None = None,
        lists: Iterable[str] = (),
    ) -> None:
        """``names``: list id -> name; ``new_lists``: stand-in id -> name, of the lists the run would create;
        ``new_fields``: the custom fields it would create (the creator's own list, so that fields noted later
        are in it); ``lists``: the lists the run manages, each with a line whether anything changes or not.
        """
        self.run_id = run_id
        self._lock = threading.Lock()
        self.counts: dict[str, Counter[str]] = {}  # list id -> action -> contacts
        self.stopped: set[str] = set()  # lists whose removals mirror's safety stop would refuse
        self.new_lists: dict[str, str] = dict(new_lists or {})
        self.new_fields: list[str] = new_fields if new_fields is not None else []
        self.deletions = 0  # contacts the run would delete from the account
        self.names: dict[str, str] = dict(names or {})
        self.membership: Membership = lambda key: None  # set once SendGrid's copy is read
        # What the planned changes make differ from SendGrid's copy, by hash(email).
        self._present: set[int] = set()  # sent by a planned upsert: in the account from then on
        self._outside: set[int] = set()  # found by look-up, in none of the target lists
        self._absent: set[int] = set()  # looked up and not found: new to the account
        self._deleted: set[int] = set()
        self._joined: dict[str, set[int]] = {}
        self._left: dict[str, set[int]] = {}
        self._exported_members: dict[str, set[int]] = {}  # members read from a list's export (no copy)
        self._path = Path(path) if path else None
        self._file: IO[bytes] | None = None
        self._closed = False
        check_path(path)
        self.lists(lists)

    # --- what the account has -------------------------------------------------------------

    def unknown(self, emails: Iterable[str]) -> list[str]:
        """Of these emails, those whose presence in the account a look-up must tell."""
        return [e for e in emails if not self._known(hash(e))]

    def found(self, looked_up: Iterable[str], present: set[str]) -> None:
        """The answer of a look-up: which of the looked-up emails are a contact's primary email."""
        with self._lock:
            for email in looked_up:
                (self._outside if email in present else self._absent).add(hash(email))

    def _known(self, key: int) -> bool:
        return (
            key in self._present
            or key in self._outside
            or key in self._absent
            or key in self._deleted
            or self.membership(key) is not None
        )

    def exists(self, email: str) -> bool:
        """Whether the account would have a contact of this primary email at this point of the run."""
        with self._lock:
            return self._exists(hash(email))

    def _exists(self, key: int) -> bool:
        if key in self._deleted:
            return False
        return key in self._present or key in self._outside or self.membership(key) is not None

    def _member(self, key: int, list_id: str) -> bool:
        if key in self._joined.get(list_id, ()):
            return True
        if key in self._left.get(list_id, ()) or key in self._deleted:
            return False
        return list_id in (self.membership(key) or ())

    # --- planned changes (the exporter's workers) ---------------------------------------------

    def upsert(self, email: str, list_ids: tuple[str, ...], record: int) -> None:
        """A contact the run would send to these lists (none: into no list)."""
        key = hash(email)
        with self._lock:
            action = "update" if self._exists(key) else "create"
            self._present.add(key)
            self._deleted.discard(key)
            for list_id in list_ids or (NO_LIST,):
                joins = bool(list_id) and not self._member(key, list_id)
                counts = self._counts(list_id)
                counts[action] += 1
                if joins:
                    self._joined.setdefault(list_id, set()).add(key)
                    self._left.get(list_id, set()).discard(key)
                self._write(list_id, action, record, email=email, joins=joins)

    def remove(self, email: str, list_id: str, record: int) -> bool:
        """A contact the run would take out of a list; False unless it is a member."""
        key = hash(email)
        with self._lock:
            if not self._member(key, list_id):
                return False
            self._leave(key, list_id)
            self._write(list_id, "remove", record, email=email)
            return True

    def delete(self, email: str, record: int) -> bool:
        """A contact the run would delete from the account; False if the account has none."""
        key = hash(email)
        with self._lock:
            if not self._exists(key):
                return False
            for list_id in list(self.counts):  # every list the run manages (see ``lists``)
                if list_id and self._member(key, list_id):
                    self._leave(key, list_id)
                    self._write(list_id, "remove", record, email=email)
            self._deleted.add(key)
            self._present.discard(key)
            self._outside.discard(key)
            self.deletions += 1
            self._write(None, "delete", record, email=email)
            return True

    def leave(self, list_id: str, members: Iterable[Mapping[str, Any]], stopped: bool) -> int:
        """Mirror mode's stale members of a list, as ``{"id", "key"}`` (key: the email's hash).

        ``stopped``: the safety stop refuses them. The rows are members at the read (whether the
        copy was read or not): each leaves unless a planned change took it out already.
        """
        left = 0
        with self._lock:
            self._counts(list_id)
            if stopped:
                self.stopped.add(list_id)
            for row in members:
                key = row["key"]
                self._exported_members.setdefault(list_id, set()).add(key)
                if key not in self._left.get(list_id, ()) and key not in self._deleted:
                    self._leave(key, list_id)
                    self._write(list_id, "remove", None, contact_id=str(row.get("id") or ""))
                    left += 1
        return left

    def lists(self, list_ids: Iterable[str]) -> None:
        """The lists the run manages: each has a line in the plan, with nothing to change or not."""
        with self._lock:
            for list_id in list_ids:
                self._counts(list_id)

    def _leave(self, key: int, list_id: str) -> None:
        self._left.setdefault(list_id, set()).add(key)
        self._joined.get(list_id, set()).discard(key)

    def _net(self, list_id: str) -> dict[str, int]:
        """How the list changes from now to the run's end: contacts that join it, members that leave it.

        A contact that joins and leaves again in one run (or leaves and comes back) changes nothing.
        """
        joined = sum(1 for key in self._joined.get(list_id, ()) if not self._was_member(key, list_id))
        left = sum(1 for key in self._left.get(list_id, ()) if self._was_member(key, list_id))
        return {"add": joined, "remove": left}

    def _was_member(self, key: int, list_id: str) -> bool:
        return list_id in (self.membership(key) or ()) or key in self._exported_members.get(list_id, ())

    def _counts(self, list_id: str) -> Counter[str]:
        counts = self.counts.get(list_id)
        if counts is None:
            counts = self.counts[list_id] = Counter()
        return counts

    # --- the plan file ----------------------------------------------------------------------

    def _write(
        self,
        list_id: str | None,
        action: str,
        record: int | None,
        *,
        email: str | None = None,
        contact_id: str | None = None,
        joins: bool | None = None,
    ) -> None:
        """One line of ``plan_path`` (the caller holds the lock): never an email, its hash."""
        if self._path is None or self._closed:  # a worker's late batch after close must not truncate the file
            return
        if self._file is None:
            self._file = open_private(self._path, append=False)
        line: dict[str, Any] = {"run_id": self.run_id, "list": self.name(list_id), "action": action}
        line["record_number"] = record
        if email is not None:
            line["email"] = email_hash(email)
        if contact_id is not None:
            line["contact_id"] = contact_id
        if joins is not None:
            line["joins_list"] = joins
        self._file.write(msgspec.json.encode(line) + b"\n")

    def close(self) -> None:
        """Close the plan file (for good: a line planned after this is not written)."""
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()
                self._file = None

    # --- the plan as reported -----------------------------------------------------------------

    def name(self, list_id: str | None) -> str | None:
        """A list's name as the plan shows it (None: the account itself, or no list)."""
        if not list_id:
            return None
        return self.new_lists.get(list_id) or self.names.get(list_id) or list_id

    def summary(self, unchanged: Mapping[str, int]) -> dict[str, Any]:
        """The plan object of the run's summary; ``unchanged``: contacts not sent, per list."""
        with self._lock:
            lists: dict[str, Any] = {}
            for list_id in sorted({*self.counts, *(i for i in unchanged if i)}, key=lambda i: str(self.name(i))):
                if not list_id:
                    continue
                counts = {**self.counts.get(list_id, Counter()), "unchanged": unchanged.get(list_id, 0)}
                counts |= self._net(list_id)
                entry: dict[str, Any] = {"id": None if list_id in self.new_lists else list_id}
                entry |= {action: counts.get(action, 0) for action in ACTIONS}
                entry["removal_stop"] = list_id in self.stopped
                lists[str(self.name(list_id))] = entry
            found: dict[str, Any] = {"lists": lists}
            if NO_LIST in self.counts or unchanged.get(NO_LIST):
                counts = self.counts.get(NO_LIST, Counter())
                found["no_list"] = {
                    "create": counts["create"],
                    "update": counts["update"],
                    "unchanged": unchanged.get(NO_LIST, 0),
                }
            found["create_lists"] = sorted(self.new_lists.values())
            found["create_custom_fields"] = sorted(self.new_fields)
            found["delete_contacts"] = self.deletions
            return found

    def lines(self, unchanged: Mapping[str, int]) -> list[str]:
        """One line per list, for the log."""
        plan = self.summary(unchanged)
        out = []
        for name, entry in plan["lists"].items():
            where = f"list '{name}' ({entry['id'] or 'to be created'})"
            counts = ", ".join(f"{entry[a]} {a}" for a in ACTIONS)
            stop = "; mirror's safety stop would refuse these removals" if entry["removal_stop"] else ""
            out.append(f"Plan for {where}: {counts}{stop}")
        if "no_list" in plan:
            entry = plan["no_list"]
            out.append(
                f"Plan for contacts in no list: {entry['create']} create, {entry['update']} update, "
                f"{entry['unchanged']} unchanged"
            )
        if plan["delete_contacts"]:
            out.append(f"Plan for the account: {plan['delete_contacts']} contacts deleted, every list with them")
        if plan["create_lists"] or plan["create_custom_fields"]:
            created = [f"lists {plan['create_lists']}"] if plan["create_lists"] else []
            created += [f"custom fields {plan['create_custom_fields']}"] if plan["create_custom_fields"] else []
            out.append(f"Plan for the account: {' and '.join(created)} would be created")
        return out
