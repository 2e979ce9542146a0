"""Fakes for the exporter's collaborators: a delivery the test drives batch by batch, a tap, a scripted SendGrid.

No sleeps and no network: a test waits on events (each wait bounded, so a broken exporter fails
the test instead of hanging it), and decides when each batch finishes and how.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from typing_extensions import override

from target_sendgrid.delivery.exporter import Exporter
from target_sendgrid.delivery.request_batch import Batch, decode
from target_sendgrid.lifecycle.failures import Interrupted
from target_sendgrid.report import RecordRef
from target_sendgrid.sendgrid.api_errors import BadRequest, NotFound, SendGridError
from target_sendgrid.sendgrid.client import SendGridClient

WAIT = 10.0  # seconds a test waits for something that should happen at once, before failing


@dataclass
class _Gate:
    opened: threading.Event = field(default_factory=threading.Event)
    failure: BaseException | None = None


class GatedDelivery:
    """A :class:`~target_sendgrid.delivery.exporter.BatchDelivery` whose batches finish when the test says.

    Each ``deliver`` call announces its batch (``next_started``), then waits at the batch's gate
    until the test calls ``finish`` or ``fail``. Ungated (``gated=False``), every batch finishes at
    once. It keeps what a test asserts on: the batches in the order they finished, how many were
    being delivered at once at most, and which batches had finished when each one began.
    """

    def __init__(self, *, gated: bool = True) -> None:
        self.gated = gated
        self.finished: list[Batch] = []  # in the order their deliveries returned
        self.peak = 0  # most batches inside ``deliver`` at once
        self.finished_before: dict[Batch, list[Batch]] = {}  # batch -> those finished when it began
        self._inside: set[Batch] = set()
        self._gates: dict[Batch, _Gate] = {}
        self._started: queue.Queue[Batch] = queue.Queue()
        self._lock = threading.Lock()

    def deliver(self, batch: Batch) -> None:
        """Wait at the batch's gate (if gated), then settle every contact of it, or raise the failure set."""
        with self._lock:
            gate = self._gates.setdefault(batch, _Gate())
            self._inside.add(batch)
            self.peak = max(self.peak, len(self._inside))
            self.finished_before[batch] = list(self.finished)
        self._started.put(batch)
        try:
            if self.gated and not gate.opened.wait(WAIT):
                raise AssertionError("the test never finished a batch it let start")
            if gate.failure is not None:
                raise gate.failure
            batch.settled = len(batch.contacts)
            with self._lock:
                self.finished.append(batch)
        finally:
            with self._lock:
                self._inside.discard(batch)

    def next_started(self) -> Batch:
        """The next batch a worker began to deliver (fails the test if none begins within WAIT seconds)."""
        try:
            return self._started.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError(f"no batch was delivered within {WAIT}s") from None

    def nothing_started(self) -> bool:
        """Whether no batch began since the last ``next_started`` (a snapshot: true now, not forever)."""
        return self._started.empty()

    def finish(self, batch: Batch) -> None:
        """Let the batch's delivery return: its contacts are in SendGrid."""
        self._gate(batch).opened.set()

    def fail(self, batch: Batch, failure: BaseException) -> None:
        """Let the batch's delivery raise ``failure`` (SendGrid refused it for good)."""
        gate = self._gate(batch)
        gate.failure = failure
        gate.opened.set()

    def _gate(self, batch: Batch) -> _Gate:
        with self._lock:
            return self._gates.setdefault(batch, _Gate())


def eventually(condition: Callable[[], bool]) -> None:
    """Wait until ``condition`` holds (polled each millisecond), failing the test past WAIT seconds.

    For a state the exporter announces no other way (a worker has taken a batch up); never a
    stand-in for an event a collaborator can give.
    """
    until = threading.Event()
    for _ in range(int(WAIT * 1000)):
        if condition():
            return
        until.wait(0.001)
    raise AssertionError(f"not true within {WAIT}s")


def emails(batch: Batch) -> list[str]:
    """A batch's addresses, in the order they were added."""
    return list(batch.contacts)


def sent_fields(batch: Batch, email: str) -> dict[str, Any]:
    """The fields a batch would send for one contact (its request body's part)."""
    return dict(decode(batch.contacts[email][0]))


class Tap:
    """Feeds an exporter as the target does: numbered records, each marked processed, STATE in between."""

    def __init__(self, exporter: Exporter, stream: str = "people") -> None:
        self.exporter = exporter
        self.stream = stream
        self.number = 0

    def record(self, email: str, lists: tuple[str, ...] = ("L",), **fields: Any) -> int:
        """One RECORD for an upsert of ``email`` to ``lists``; returns its number."""
        self.number += 1
        self.exporter.add({"email": email, **fields}, lists, RecordRef(self.stream, self.number))
        self.exporter.mark_processed(self.number)
        return self.number

    def removal(self, email: str, list_id: str) -> int:
        """One RECORD that takes ``email`` out of ``list_id``."""
        self.number += 1
        self.exporter.remove(email, list_id, RecordRef(self.stream, self.number))
        self.exporter.mark_processed(self.number)
        return self.number

    def deletion(self, email: str) -> int:
        """One RECORD flagged deleted: ``email`` leaves the account."""
        self.number += 1
        self.exporter.delete(email, RecordRef(self.stream, self.number))
        self.exporter.mark_processed(self.number)
        return self.number

    def state(self, at: int) -> dict[str, Any]:
        """A STATE message after the records so far; returns it."""
        state = {"bookmarks": {self.stream: {"at": at}}}
        self.exporter.add_state(state)
        return state


class Checkpoint:
    """The exporter's ``checkpoint``: says it was called (while the caller waits), and can stop the run.

    The exporter calls it only while it waits (for a slot, for the batches to finish), so a call
    proves the caller is waiting; ``interrupt`` makes the next call raise as a termination signal would.
    """

    def __init__(self) -> None:
        self.called = threading.Event()
        self.signum: int | None = None

    def __call__(self) -> None:
        """Note the call; raise ``Interrupted`` once ``interrupt`` was called."""
        self.called.set()
        if self.signum is not None:
            raise Interrupted(self.signum)

    def interrupt(self, signum: int) -> None:
        """Raise ``Interrupted(signum)`` at the next call."""
        self.signum = signum


class Producer(threading.Thread):
    """Runs what would block the main thread (an ``add`` waiting for a slot) in a thread, keeping its failure."""

    def __init__(self, work: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.error: BaseException | None = None
        self.done = threading.Event()

    @override
    def run(self) -> None:
        """Do the work; keep what it raised."""
        try:
            self.work()
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def result(self) -> BaseException | None:
        """Wait for the work (WAIT seconds at most) and return what it raised, if anything."""
        if not self.done.wait(WAIT):
            raise AssertionError(f"the producer did not finish within {WAIT}s")
        return self.error


class FakeSendGrid(SendGridClient):
    """SendGrid's endpoints as a test scripts them, behind the real client's job following (``run_job``).

    No request leaves the process: the endpoint methods are replaced, and every job is finished when
    first asked for, so nothing polls. An upsert takes the next scripted outcome (a job's answer, or
    an error to raise); without one, its job completes with every contact updated.
    """

    def __init__(self) -> None:
        super().__init__("SG.fake-key", "https://api.sendgrid.com")
        self.upserts: list[list[str]] = []  # the emails of each upsert request, in order
        self.outcomes: list[dict[str, Any] | SendGridError] = []  # what the next upserts meet
        self.refuse: set[str] = set()  # emails whose presence makes an upsert a 400 naming no contact
        self.errors: dict[str, list[tuple[str, str]]] = {}  # job id -> its errors file's (email, message)
        self.ids: dict[str, str] = {}  # email -> contact id, as searches find them
        self.unlookable: set[str] = set()  # emails no search can take
        self.gone: set[str] = set()  # contact ids deleted meanwhile (a removal naming one is a 404)
        self.lists_gone: set[str] = set()  # list ids deleted meanwhile (a removal from one is a 404)
        self.removals: list[tuple[str, list[str]]] = []  # (list id, contact ids) of each removal job
        self.deletions: list[list[str]] = []  # contact ids of each deletion job
        self._jobs: dict[str, dict[str, Any]] = {}

    def _job(self, answer: dict[str, Any]) -> str:
        job_id = f"job-{len(self._jobs) + 1}"
        self._jobs[job_id] = {"id": job_id, **answer}
        return job_id

    @override
    def upsert(self, body: bytes | Iterable[bytes]) -> str:
        contacts = json.loads(body if isinstance(body, bytes) else b"".join(body))["contacts"]
        emails = [c["email"] for c in contacts]
        self.upserts.append(emails)
        if self.refuse & set(emails):
            raise BadRequest("HTTP 400", 400, [{"field": None, "message": "invalid"}])
        outcome = self.outcomes.pop(0) if self.outcomes else completed(updated=len(emails))
        if isinstance(outcome, SendGridError):
            raise outcome
        return self._job(outcome)

    @override
    def job(self, job_id: str, deadline: float | None = None) -> dict:
        return self._jobs[job_id]

    @override
    def job_errors(self, job: dict) -> list[tuple[str, str]]:
        return self.errors.get(job["id"], [])

    @override
    def contact_ids(self, emails: list[str]) -> tuple[dict[str, str], list[str]]:
        found = {e: self.ids[e] for e in emails if e in self.ids and e not in self.unlookable}
        return found, [e for e in emails if e in self.unlookable]

    @override
    def existing_contact_ids(self, contact_ids: list[str]) -> list[str]:
        return [i for i in contact_ids if i not in self.gone]

    @override
    def remove_from_list(self, list_id: str, contact_ids: list[str]) -> str:
        if self.gone & set(contact_ids) or list_id in self.lists_gone:
            raise NotFound("HTTP 404", 404)
        self.removals.append((list_id, contact_ids))
        return self._job({"status": "completed"})

    @override
    def delete_contacts(self, contact_ids: list[str]) -> str:
        self.deletions.append(contact_ids)
        return self._job({"status": "completed"})


def completed(created: int = 0, updated: int = 0, errored: int = 0) -> dict[str, Any]:
    """A finished import job's answer."""
    results = {"created_count": created, "updated_count": updated, "errored_count": errored}
    return {"status": "completed", "results": results}


def failed(message: str = "") -> dict[str, Any]:
    """An import job that ended ``failed`` (SendGrid's message, if any)."""
    return {"status": "failed", "message": message}
