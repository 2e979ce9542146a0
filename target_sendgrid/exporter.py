"""Batched upserts, import jobs followed to their end, and STATE emitted only when covered.

The exporter is shared by every sink of a run: contacts from all streams that go to the
same set of lists share requests, so an export sends the fewest requests the API allows.

STATE: every RECORD message has a number. A STATE message is tied to the number of the
last record before it. A record is *settled* once it was filtered, rejected, or its
contact is in a finished import job. A STATE is written when every record up to its
number is settled: the oldest unsettled record is the lowest number held by an open
batch or a batch still in flight, so that minimum, minus one, is how far STATE may go.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import msgspec

from target_sendgrid.client import BadRequest, SendGridClient
from target_sendgrid.limits import MAX_CONTACTS_PER_UPSERT as MAX_BATCH_CONTACTS
from target_sendgrid.lists import remove_from_list
from target_sendgrid.report import RecordRef, RunReport

logger = logging.getLogger("target-sendgrid.exporter")

REMOVE_BATCH = 1_000  # emails per removal batch: 10 searches and at most 10 removal jobs
# msgspec sizes each result exactly (~350 B a contact); orjson's results each held a 4 KB
# buffer, which made a batch in flight cost 120 MB instead of 10 MB. Also the fastest here.
_encode = msgspec.json.Encoder().encode
_CONTACT_FIELD = re.compile(r"^contacts\[(\d+)\]")


class ExportError(Exception):
    """The export cannot go on: nothing past the last emitted STATE is claimed."""


class MaxContactsExceeded(ExportError):
    """More contacts than ``max_contacts`` in one run."""


@dataclass(eq=False)  # batches are told apart by identity (sets of batches to wait for)
class Batch:
    """Contacts bound for one upsert: one set of list ids, each email once, within both caps."""

    list_ids: tuple[str, ...]
    first_record: int  # the lowest record number this batch holds (for STATE)
    max_contacts: int
    max_bytes: int
    kind: str = "upsert"  # or "remove": the contacts leave the one list in list_ids
    contacts: dict[str, tuple[bytes, RecordRef]] = field(default_factory=dict)
    size: int = 0
    done: threading.Event = field(default_factory=threading.Event)  # set once its jobs ended

    def __post_init__(self) -> None:
        self.prefix = (
            b'{"list_ids":' + _encode(list(self.list_ids)) + b',"contacts":[' if self.list_ids else b'{"contacts":['
        )
        self.size = len(self.prefix) + 2  # the closing "]}"

    def fits(self, part: bytes) -> bool:
        """Whether one more serialised contact keeps the request within both caps."""
        comma = 1 if self.contacts else 0
        return len(self.contacts) < self.max_contacts and self.size + comma + len(part) <= self.max_bytes

    def add(self, email: str, part: bytes, ref: RecordRef) -> None:
        """Add a contact (the caller checked ``fits`` and removed any earlier one)."""
        self.size += len(part) + (1 if self.contacts else 0)
        self.contacts[email] = (part, ref)

    def remove(self, email: str) -> bytes | None:
        """Take out a contact (a later record with the same email replaces it); return its bytes."""
        found = self.contacts.pop(email, None)
        if found is None:
            return None
        self.size -= len(found[0]) + (1 if self.contacts else 0)
        return found[0]

    def body(self, emails: list[str] | None = None) -> bytes:
        """The request body, serialised once from the contacts' own bytes."""
        keys = self.contacts if emails is None else emails
        return self.prefix + b",".join(self.contacts[e][0] for e in keys) + b"]}"


class Exporter:
    """Builds batches, sends them with bounded overlap, follows their jobs, and writes STATE."""

    def __init__(
        self,
        client: SendGridClient | None,
        report: RunReport,
        write_state: Callable[[dict], None],
        *,
        batch_size: int = MAX_BATCH_CONTACTS,
        max_request_bytes: int = 5_900_000,
        max_in_flight: int = 4,
        job_timeout: float = 3600.0,
        max_job_attempts: int = 5,
        max_contacts: int = 0,
        track_members: bool = False,
    ) -> None:
        self.client = client  # None: dry run, nothing is sent
        self.report = report
        self._write_state = write_state
        self.batch_size = min(batch_size, MAX_BATCH_CONTACTS)
        self.max_request_bytes = max_request_bytes
        self.job_timeout = job_timeout
        self.max_job_attempts = max_job_attempts
        self.max_contacts = max_contacts
        self._lock = threading.Lock()
        self._open: dict[tuple[str, tuple[str, ...]], Batch] = {}  # by (kind, list ids)
        self._in_flight: set[Batch] = set()
        self._emails_in_flight: dict[str, Batch] = {}
        self._futures: list[Future] = []
        self._states: deque[tuple[int, dict]] = deque()
        self._last_state: dict | None = None
        self._processed = 0  # number of the last record handed over completely
        self._accepted = 0
        self._failure: BaseException | None = None
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._pool = ThreadPoolExecutor(max_in_flight, thread_name_prefix="sendgrid-upsert")
        # For mirror mode: list id -> emails this run exported to it.
        self.members: dict[str, set[str]] | None = {} if track_members else None

    # --- called by the sinks and the target (main thread) -----------------------------

    def add(self, contact: dict[str, Any], list_ids: tuple[str, ...], ref: RecordRef) -> None:
        """Queue a contact for upsert to ``list_ids``; sends a batch when it is full."""
        self._raise_if_failed()
        email = contact["email"]
        key = ("upsert", list_ids)
        self._submit_open_holding(email, "remove", list_ids)  # a queued removal of it lands first
        batch = self._open.get(key)
        earlier = batch.remove(email) if batch else None
        if earlier is not None:
            # One email per request: the later record wins field by field, and what it lacks
            # keeps the earlier value, exactly as if both had been applied in order.
            contact = {**msgspec.json.decode(earlier), **contact}
            self.report.count("superseded")
            self._accepted -= 1
        part = _encode(contact)
        if self.max_contacts and self._accepted >= self.max_contacts:
            raise MaxContactsExceeded(
                f"This run would export more than max_contacts={self.max_contacts} contacts (SendGrid's recommended "
                "ceiling per export). Nothing beyond it was sent. Split the export, or raise or disable "
                "(0) max_contacts."
            )
        if batch is None or not batch.fits(part):
            if batch is not None and batch.contacts:
                self._submit(key)
            batch = self._new_batch(key, ref.number)
            if not batch.fits(part):
                self.report.reject(ref, "contact larger than max_request_bytes")
                return
        with self._lock:
            batch.add(email, part, ref)
        self._accepted += 1
        if self.members is not None:
            for list_id in list_ids:
                self.members.setdefault(list_id, set()).add(email)

    def remove(self, email: str, list_id: str, ref: RecordRef) -> None:
        """Queue the removal of a contact from a list (the contact itself stays)."""
        self._raise_if_failed()
        key = ("remove", (list_id,))
        self._submit_open_holding(email, "upsert", (list_id,))  # a queued upsert of it lands first
        batch = self._open.get(key)
        if batch is None or len(batch.contacts) >= REMOVE_BATCH:
            if batch is not None and batch.contacts:
                self._submit(key)
            batch = self._new_batch(key, ref.number)
        if email not in batch.contacts:
            with self._lock:
                batch.add(email, b"", ref)
        if self.members is not None:
            self.members.get(list_id, set()).discard(email)

    def _submit_open_holding(self, email: str, kind: str, list_ids: tuple[str, ...]) -> None:
        """Send the open batches of ``kind`` that hold ``email`` for one of ``list_ids``, keeping order."""
        for key in [k for k, b in self._open.items() if k[0] == kind and email in b.contacts]:
            if set(key[1]) & set(list_ids):
                self._submit(key)

    def mark_processed(self, number: int) -> None:
        """Record ``number`` and all before it have been handed over (filtered, rejected or queued)."""
        with self._lock:
            self._processed = number

    def add_state(self, state: dict) -> None:
        """A STATE message from the tap: written as soon as the records before it are settled."""
        with self._lock:
            self._states.append((self._processed, state))
            self._emit_settled_state()

    def flush(self) -> None:
        """Send every open batch, full or not."""
        for key in [k for k, b in self._open.items() if b.contacts]:
            self._submit(key)

    def close(self) -> None:
        """Send what is left, wait for every job, and write the last covered STATE."""
        try:
            self.flush()
            for future in list(self._futures):
                future.exception()  # waits; failures are kept in self._failure
            self._raise_if_failed()
            with self._lock:
                self._emit_settled_state()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """Stop without sending more; jobs already sent finish and may still move STATE on."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    # --- batches and their jobs ---------------------------------------------------------

    def _new_batch(self, key: tuple[str, tuple[str, ...]], first_record: int) -> Batch:
        kind, list_ids = key
        batch = Batch(list_ids, first_record, self.batch_size, self.max_request_bytes, kind)
        with self._lock:
            self._open[key] = batch
        return batch

    def _submit(self, key: tuple[str, tuple[str, ...]]) -> None:
        # Bounded overlap: wait for a free slot, waking up to notice a failed batch.
        while not self._slots.acquire(timeout=0.5):
            self._raise_if_failed()
        with self._lock:
            batch = self._open.pop(key)
            self._in_flight.add(batch)
            # A contact still in flight in an earlier batch must land first, so later values win.
            earlier = {self._emails_in_flight[e] for e in batch.contacts if e in self._emails_in_flight}
            for email in batch.contacts:
                self._emails_in_flight[email] = batch
            future = self._pool.submit(self._run, batch, earlier)
        self._futures.append(future)

    def _run(self, batch: Batch, earlier: set[Batch]) -> None:
        try:
            for other in earlier:
                other.done.wait()
            if self._failure is None:
                self._deliver(batch)
                with self._lock:
                    self._in_flight.discard(batch)
                    for email in batch.contacts:
                        if self._emails_in_flight.get(email) is batch:
                            del self._emails_in_flight[email]
                    self._emit_settled_state()
        except BaseException as exc:
            with self._lock:
                self._failure = self._failure or exc
            raise
        finally:
            batch.done.set()
            self._slots.release()

    def _deliver(self, batch: Batch) -> None:
        """Upsert a batch; isolate contacts SendGrid refuses, resubmit failed jobs."""
        if batch.kind == "remove":
            self._deliver_removal(batch)
            return
        if self.client is None:
            self.report.count("exported", len(batch.contacts))
            return
        chunks: list[list[str]] = [list(batch.contacts)]
        while chunks:
            emails = chunks.pop()
            try:
                self._upsert(batch, emails)
            except BadRequest as err:
                chunks += self._isolate(batch, emails, err)

    def _deliver_removal(self, batch: Batch) -> None:
        """Find the contacts' ids, remove them from the list, and follow each job to its end."""
        emails = list(batch.contacts)
        [list_id] = batch.list_ids
        if self.client is None:
            self.report.count("removed", len(emails))
            return
        ids = list(self.client.contact_ids(emails).values())
        remove_from_list(self.client, list_id, ids, self.job_timeout, self.max_job_attempts)
        self.report.count("removed", len(ids))
        logger.info("Removed %d contacts from list %s (%d not in SendGrid)", len(ids), list_id, len(emails) - len(ids))

    def _isolate(self, batch: Batch, emails: list[str], err: BadRequest) -> list[list[str]]:
        """Reject the contacts a 400 names and return what is left to send (bisect if none is named)."""
        named: dict[int, str] = {}
        for error in err.errors:
            match = _CONTACT_FIELD.match(str(error.get("field") or ""))
            if match and int(match.group(1)) < len(emails):
                named.setdefault(int(match.group(1)), str(error.get("message")))
            elif error.get("field") == "list_ids":
                raise ExportError(f"SendGrid refused the list ids {list(batch.list_ids)}: {err}")
        if named:
            for index, message in named.items():
                self.report.reject(batch.contacts[emails[index]][1], "rejected by SendGrid", message)
            rest = [e for i, e in enumerate(emails) if i not in named]
            return [rest] if rest else []
        if len(emails) == 1:
            self.report.reject(batch.contacts[emails[0]][1], "rejected by SendGrid", str(err))
            return []
        half = len(emails) // 2
        return [emails[half:], emails[:half]]

    def _upsert(self, batch: Batch, emails: list[str]) -> None:
        """Upsert these contacts of a batch, follow the job to its end, and account for it."""
        assert self.client is not None
        body = batch.body(emails)
        job, submissions = self.client.run_job(
            lambda: self.client.upsert(body),
            self.job_timeout,
            self.max_job_attempts,
            f"{len(emails)} contacts to lists {list(batch.list_ids) or '(none)'}",
        )
        results = job.get("results") or {}
        errored = int(results.get("errored_count") or 0)
        self.report.count("upserts", submissions)
        self.report.count("jobs", submissions)
        self.report.count("jobs_resubmitted", submissions - 1)
        self.report.count("created", int(results.get("created_count") or 0))
        self.report.count("updated", int(results.get("updated_count") or 0))
        self.report.count("exported", len(emails) - errored)
        if errored:
            self._report_job_errors(batch, emails, job, errored)

    def _report_job_errors(self, batch: Batch, emails: list[str], job: dict, errored: int) -> None:
        assert self.client is not None
        listed = 0
        for email, message in self.client.job_errors(job):
            if email in batch.contacts and listed < errored:
                self.report.reject(batch.contacts[email][1], "import job error", message)
                listed += 1
        for _ in range(errored - listed):  # errors SendGrid did not itemise are still counted
            self.report.reject(RecordRef(batch.contacts[emails[0]][1].stream, -1), "import job error", job.get("id"))

    # --- STATE ------------------------------------------------------------------------

    def _emit_settled_state(self) -> None:
        """Write the newest STATE whose records are all settled (caller holds the lock)."""
        pending = [b.first_record for b in (*self._open.values(), *self._in_flight) if b.contacts]
        settled_through = min(pending) - 1 if pending else self._processed
        newest = None
        while self._states and self._states[0][0] <= settled_through:
            newest = self._states.popleft()[1]
        if newest is not None and newest != self._last_state:
            self._last_state = newest
            self._write_state(newest)

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure
