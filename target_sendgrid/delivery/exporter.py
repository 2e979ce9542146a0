"""The exporter: routes each contact to a batch, sends full batches with bounded overlap, keeps order.

One exporter serves every sink of a run: contacts from all streams that go to the same set
of lists share requests, so an export sends the fewest requests the API allows. Each batch
is delivered in a worker thread (see ``delivery``); STATE follows the batches that finish
(see ``watermark``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

from target_sendgrid.delivery.request_batch import Batch, BatchKey, encode, merge
from target_sendgrid.delivery.sending import Delivery
from target_sendgrid.delivery.watermark import StateWatermark
from target_sendgrid.lifecycle.failures import ExportError, Interrupted, MaxContactsExceeded
from target_sendgrid.lifecycle.threads import leave_signals_to_main
from target_sendgrid.report import RecordRef, RunReport
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.sendgrid.jobs import (
    DEFAULT_JOB_TIMEOUT_SECONDS,
    DEFAULT_MAX_JOB_ATTEMPTS,
    DEFAULT_MAX_JOBS_IN_FLIGHT,
)
from target_sendgrid.sendgrid.limits import DEFAULT_MAX_REQUEST_BYTES
from target_sendgrid.sendgrid.limits import MAX_CONTACTS_PER_UPSERT as MAX_BATCH_CONTACTS

REMOVE_BATCH = 1_000  # emails per removal batch: 10 searches and at most 10 removal jobs
# Deletions from the account wait in one batch until the end of the input: the ceiling
# (max_contact_deletions) is judged on the whole run before any is sent, and STATE waits for them.
DELETE_KEY: BatchKey = ("delete", ())


class BatchDelivery(Protocol):
    """What the workers hand each batch to, one batch a call: a real delivery, a plan's, or a test's fake.

    ``deliver`` returns once every contact of the batch is accounted for (``batch.settled``), and
    raises to fail the run: the exporter then sends nothing more and STATE stays before the batch.
    """

    def deliver(self, batch: Batch) -> None: ...


class Exporter:
    """Builds batches, sends them with bounded overlap, and moves STATE on as they finish."""

    def __init__(
        self,
        client: SendGridClient | None,
        report: RunReport,
        write_state: Callable[[dict[str, Any]], None],
        *,
        batch_size: int = MAX_BATCH_CONTACTS,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        max_in_flight: int = DEFAULT_MAX_JOBS_IN_FLIGHT,
        job_timeout: float = DEFAULT_JOB_TIMEOUT_SECONDS,
        max_job_attempts: int = DEFAULT_MAX_JOB_ATTEMPTS,
        max_contacts: int = 0,
        max_deletions: int = 0,
        track_members: bool = False,
        checkpoint: Callable[[], None] = lambda: None,
        describe: Callable[[tuple[str, ...]], str] = lambda ids: str(list(ids)),
        delivery: BatchDelivery | None = None,
    ) -> None:
        self.report = report
        self._checkpoint = checkpoint  # raises when the run must stop (a termination signal)
        # A delivery handed in (a plan's: planning/) gets the same batches, in the same order, as a real run's.
        self.delivery: BatchDelivery = delivery or Delivery(
            client, report, job_timeout=job_timeout, max_job_attempts=max_job_attempts, describe=describe
        )
        self.watermark = StateWatermark(write_state)
        self.batch_size = min(batch_size, MAX_BATCH_CONTACTS)
        self.max_request_bytes = max_request_bytes
        self.max_contacts = max_contacts
        # Under a ceiling the run is all or nothing: full batches are sealed, in order, and held until the
        # input ends; only then is it known whether the run stays within max_contacts (docs/contract.md).
        self._holding = bool(max_contacts)
        self._sealed: list[Batch] = []
        self._over_ceiling = 0  # contacts dropped, unsent, once the input held more than max_contacts
        self.max_deletions = max_deletions
        self._lock = threading.Lock()  # guards the batches' membership and the watermark
        self._open: dict[BatchKey, Batch] = {}
        self._in_flight: set[Batch] = set()
        self._emails_in_flight: dict[str, Batch] = {}
        self._futures: list[Future[None]] = []
        self._accepted = 0
        # Under max_contacts: the distinct contacts queued (at most max_contacts), counted once however cut.
        self._within_ceiling: set[str] = set()
        self._failure: BaseException | None = None
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._pool = ThreadPoolExecutor(
            max_in_flight, thread_name_prefix="sendgrid-upsert", initializer=leave_signals_to_main
        )
        # Mirror mode's, by list id: the emails this run exported to it; those it took out (not sent again).
        self.members: dict[str, set[str]] | None = {} if track_members else None
        self.left: dict[str, set[str]] | None = {} if track_members else None

    # --- called by the sinks and the target (main thread) -----------------------------

    def add(self, contact: dict[str, Any], list_ids: tuple[str, ...], ref: RecordRef) -> None:
        """Queue a contact for upsert to ``list_ids``; sends a batch when it is full."""
        self._raise_if_failed()
        email = contact["email"]
        key = ("upsert", list_ids)
        # An earlier record of this email queued for other lists (or its removal from one of
        # these) is sent first, and this batch will wait for it: the later record lands last.
        if len(self._open) > 1 or key not in self._open:  # another open batch may hold this email
            self._submit_open_holding(email, key, lambda k: k[0] == "upsert" or bool(set(k[1]) & set(list_ids)))
        deleting = self._open.get(DELETE_KEY)
        if deleting is not None and email in deleting.contacts:
            with self._lock:  # a later record of a deleted customer: the customer is back
                deleting.remove(email)
        batch = self._open.get(key)
        if batch is not None and email in batch.contacts:
            # One email per request: the later record wins field by field, and what it lacks
            # keeps the earlier value, exactly as if both had been applied in order.
            earlier = batch.remove(email)
            assert earlier is not None  # the batch holds this email: checked just above
            contact = merge(earlier, contact)
            self.report.count("superseded")
            self._accepted -= 1
        if self.max_contacts and (self._over_ceiling or email not in self._within_ceiling):
            if self._over_ceiling or len(self._within_ceiling) >= self.max_contacts:
                self._past_ceiling()  # nothing will be sent: the contact is only counted
                return
            self._within_ceiling.add(email)
        part = encode(contact)
        with self._lock:
            added = batch is not None and batch.add(email, part, ref)
        if not added:
            if batch is not None and batch.contacts:
                self._submit(key)
            batch = self._new_batch(key, ref.number)
            with self._lock:
                added = batch.add(email, part, ref)
            if not added:
                self.report.reject(ref, "contact larger than max_request_bytes")
                return
        self._accepted += 1
        if self.members is not None:
            self.note_members(email, list_ids)

    def _past_ceiling(self) -> None:
        """The input holds more contacts than max_contacts: drop what is held (memory), count the rest
        (as records: telling a contact's repeats apart would need memory for the whole input)."""
        if not self._over_ceiling:  # the first contact past it: the count goes on from the distinct ones
            self._accepted = len(self._within_ceiling)
            self._within_ceiling = set()
        self._accepted += 1
        self._over_ceiling += 1
        if self._sealed or self._open:
            with self._lock:
                held = [*self._sealed, *self._open.values()]
                self._over_ceiling += sum(len(b.contacts) for b in held if b.kind == "upsert")
                self._sealed = []
                self._open = {}

    def note_members(self, email: str, list_ids: tuple[str, ...]) -> None:
        """For mirror mode: a contact of these lists in this run (queued, or unchanged and not sent)."""
        if self.members is not None and self.left is not None:
            for list_id in list_ids:
                self.members.setdefault(list_id, set()).add(email)
                self.left.get(list_id, set()).discard(email)

    def remove(self, email: str, list_id: str, ref: RecordRef) -> None:
        """Queue the removal of a contact from a list (the contact itself stays)."""
        self._raise_if_failed()
        if self._over_ceiling:
            return  # nothing will be sent
        key = ("remove", (list_id,))
        self._submit_open_holding(email, key, lambda k: k[0] == "upsert" and list_id in k[1])  # upsert first
        batch = self._open.get(key)
        with self._lock:  # a full batch (REMOVE_BATCH emails) is sent, and the email starts the next one
            held = batch is not None and (email in batch.contacts or batch.add(email, b"", ref))
        if not held:
            if batch is not None and batch.contacts:
                self._submit(key)
            batch = self._new_batch(key, ref.number)
            with self._lock:
                batch.add(email, b"", ref)
        if self.members is not None and self.left is not None:
            self.members.get(list_id, set()).discard(email)
            self.left.setdefault(list_id, set()).add(email)

    def delete(self, email: str, ref: RecordRef) -> None:
        """Queue the deletion of a contact from the account: sent at the end of the input (see ``close``)."""
        self._raise_if_failed()
        if self._over_ceiling:
            return  # nothing will be sent
        batch = self._open.get(DELETE_KEY) or self._new_batch(DELETE_KEY, ref.number)
        if email not in batch.contacts:
            with self._lock:
                batch.add(email, b"", ref)

    def _submit_open_holding(self, email: str, key: BatchKey, related: Callable[[BatchKey], bool]) -> None:
        """Send the other open batches that hold ``email`` and are ``related`` to ``key``, keeping order."""
        for other in [k for k, b in self._open.items() if k != key and email in b.contacts and related(k)]:
            self._submit(other)

    def running(self) -> int:
        """Batches being delivered now (their requests sent or their jobs followed)."""
        with self._lock:
            return sum(1 for b in self._in_flight if b.started)

    def mark_processed(self, number: int) -> None:
        """Record ``number`` and all before it have been handed over (filtered, rejected or queued)."""
        # No lock: one int written by this thread; a worker reading the one before is only later to write STATE.
        self.watermark.processed = number

    def add_state(self, state: dict[str, Any]) -> None:
        """A STATE message from the tap: written as soon as the records before it are settled."""
        with self._lock:
            self.watermark.add(state)
            self._advance_watermark()

    def flush(self, deletions: bool = False) -> None:
        """Send every open batch, full or not (the deletions only at the end: ``close``).

        Under a ceiling nothing is sent before the input ends (``release``): a timed flush would
        only split requests.
        """
        if self._holding:
            return
        for key in [k for k, b in self._open.items() if b.contacts and (deletions or k != DELETE_KEY)]:
            self._submit(key)

    @property
    def holding(self) -> bool:
        """Whether batches are held back until the input ends (a max_contacts ceiling)."""
        return self._holding

    def release(self) -> None:
        """At the end of the input under a ceiling: send every held batch, in order, or none of them.

        Raises MaxContactsExceeded, with the count seen, when the input held more contacts than
        max_contacts: nothing was sent, and no STATE moved.
        """
        if not self._holding:
            return
        if self._over_ceiling:
            raise MaxContactsExceeded(
                f"The input holds {self._accepted} contacts to export, more than max_contacts={self.max_contacts} "
                "(SendGrid's recommended ceiling per export): nothing was sent. Split the export (segments, "
                "segment_lists, one pipeline each), or raise or disable (0) max_contacts."
            )
        self._holding = False
        for key in [k for k, b in self._open.items() if b.contacts and k != DELETE_KEY]:
            self._seal(key)
        while self._sealed:
            self._wait_for_slot()
            with self._lock:
                self._dispatch(self._sealed.pop(0))  # tracked as sealed until it is in flight: STATE waits for it

    def settle(self, deletions: bool = False) -> None:
        """Send every open batch and wait until every job has finished; STATE moves on as they do."""
        try:
            self.release()
            self.flush(deletions)
            while wait(self._futures, timeout=0.5).not_done:  # waking up to notice a signal
                self._checkpoint()
            self._raise_if_failed()  # failures of the batches are kept in self._failure
        except Interrupted:
            raise  # the target gives the batches in flight a bounded wait (stop)
        except BaseException:
            self.abort()
            raise
        with self._lock:
            self._futures = []
            self._advance_watermark()

    def hold_state(self, held: bool) -> None:
        """Hold STATE back while mirror removals are to come (see ``watermark``), or let it go."""
        with self._lock:
            self.watermark.hold(held)

    def close(self) -> None:
        """Send what is left, the deletions last (within their ceiling), wait for every job, write the last STATE."""
        self.settle()
        deleting = self._open.get(DELETE_KEY)
        count = len(deleting.contacts) if deleting is not None else 0
        if self.max_deletions and count > self.max_deletions:
            raise ExportError(
                f"This run would delete {count} contacts from the account, more than max_contact_deletions="
                f"{self.max_deletions}: nothing was deleted. Check that the tap flags only erased customers as "
                "deleted, or raise max_contact_deletions (0 lifts it)."
            )
        self.settle(deletions=True)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """Stop without sending more; jobs already sent finish and may still move STATE on."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def stop(self, timeout: float) -> bool:
        """Send nothing more; give the batches in flight up to ``timeout`` seconds. True if all finished.

        Each batch that finishes moves STATE on by itself; open batches, and batches still queued
        for a worker, are not sent, so STATE never passes their records (see ``count_unsent``).
        """
        self._pool.shutdown(wait=False, cancel_futures=True)
        # A future cancelled in the queue never reports itself done: waiting for it would last the
        # whole timeout. Its batch stays in flight, unsent, holding STATE back like an open one.
        return not wait([f for f in self._futures if not f.cancelled()], timeout=timeout).not_done

    def count_unsent(self) -> None:
        """After a failure or a signal: count as ``not_sent`` each contact of a batch that did not finish.

        Open batches, batches cancelled in the queue, one that failed and ones still running past the
        shutdown timeout: SendGrid confirmed none of their contacts (but those already exported or
        rejected from them). Called once, for the summary.
        """
        with self._lock:
            batches = [b for b in (*self._open.values(), *self._sealed, *self._in_flight) if b.kind == "upsert"]
            unsent = sum(len(b.contacts) - b.settled for b in batches) + self._over_ceiling
            self.report.count("not_sent", unsent)

    def holds_record(self, number: int) -> bool:
        """Whether a batch not yet finished holds record ``number`` (it is accounted for with that batch)."""
        with self._lock:
            batches = (*self._open.values(), *self._sealed, *self._in_flight)
            return any(ref.number == number for b in batches if b.kind == "upsert" for _, ref in b.contacts.values())

    def failed_with(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the failure of a batch (raised again to the main thread), not of the input."""
        return exc is self._failure

    # --- batches in flight (worker threads) ---------------------------------------------

    def _new_batch(self, key: BatchKey, first_record: int) -> Batch:
        """A new open batch, capped by its kind: batch_size bounds an upsert request only (removals are
        chunked when sent; the deletions stay whole until the end, judged against their ceiling)."""
        kind, list_ids = key
        caps = {"upsert": (self.batch_size, self.max_request_bytes), "remove": (REMOVE_BATCH, 2**62)}
        batch = Batch(list_ids, first_record, *caps.get(kind, (2**31, 2**62)), kind)
        with self._lock:
            self._open[key] = batch
        return batch

    def _submit(self, key: BatchKey) -> None:
        if self._holding:
            self._seal(key)
            return
        self._wait_for_slot()
        with self._lock:
            self._dispatch(self._open.pop(key))  # open until it is in flight: STATE waits for it

    def _seal(self, key: BatchKey) -> None:
        """Hold a batch, in order, until the input ends (a ceiling); its key may open a new batch."""
        with self._lock:
            self._sealed.append(self._open.pop(key))

    def _wait_for_slot(self) -> None:
        """Bounded overlap: wait for a free slot, waking up to notice a failed batch or a signal."""
        while not self._slots.acquire(timeout=0.5):
            self._raise_if_failed()
            self._checkpoint()

    def _dispatch(self, batch: Batch) -> None:
        """Hand a batch to a worker (the caller holds a slot and the lock)."""
        self._in_flight.add(batch)
        # A contact still in flight in an earlier batch must land first, so later values win.
        earlier = {self._emails_in_flight[e] for e in batch.contacts if e in self._emails_in_flight}
        for email in batch.contacts:
            self._emails_in_flight[email] = batch
        self._futures.append(self._pool.submit(self._run, batch, earlier))

    def _run(self, batch: Batch, earlier: set[Batch]) -> None:
        batch.started = True
        try:
            for other in earlier:
                other.done.wait()
            if self._failure is None:
                self.delivery.deliver(batch)
                with self._lock:
                    self._in_flight.discard(batch)
                    for email in batch.contacts:
                        if self._emails_in_flight.get(email) is batch:
                            del self._emails_in_flight[email]
                    self._advance_watermark()
        except BaseException as exc:
            with self._lock:
                self._failure = self._failure or exc
            raise
        finally:
            batch.done.set()
            self._slots.release()

    def _advance_watermark(self) -> None:
        """Let STATE move up to the oldest record still in a batch (caller holds the lock)."""
        if self._over_ceiling or self._holding:  # under a ceiling the run is all or nothing, its STATE too:
            return  # even records settled at once (unchanged) wait until the input ends within the ceiling
        pending = [b.first_record for b in (*self._open.values(), *self._sealed, *self._in_flight) if b.contacts]
        self.watermark.advance(min(pending) if pending else None)

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure
