"""The exporter's concurrency with a fake delivery: bounded overlap, order, STATE, failures, the ceiling, shutdown.

Every batch is delivered by :class:`tests.unit.fakes.GatedDelivery`, which holds it until the test
finishes (or fails) it, so each test decides the order in which batches end. Nothing sleeps: a
test waits on an event with a bound (``fakes.WAIT``) only to fail instead of hanging.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from target_sendgrid.delivery.exporter import Exporter
from target_sendgrid.delivery.request_batch import Batch
from target_sendgrid.lifecycle.failures import ExportError, Interrupted, MaxContactsExceeded
from target_sendgrid.report import RecordRef, RunReport
from tests.unit.fakes import WAIT, Checkpoint, GatedDelivery, Producer, Tap, emails, eventually, sent_fields


class Run:
    """An exporter wired to a fake delivery, with the STATE it writes and its report."""

    def __init__(self, delivery: GatedDelivery, checkpoint: Callable[[], None] = lambda: None, **options: Any) -> None:
        self.delivery = delivery
        self.written: list[dict] = []
        self.report = RunReport()
        self.exporter = Exporter(
            None, self.report, self.written.append, checkpoint=checkpoint, delivery=delivery, **options
        )
        self.tap = Tap(self.exporter)

    def started(self, count: int) -> dict[str, Batch]:
        """The next ``count`` batches workers began to deliver, by their first email (workers race to start)."""
        batches = [self.delivery.next_started() for _ in range(count)]
        return {emails(b)[0]: b for b in batches}

    def finish(self, batch: Batch) -> None:
        """Let a batch end, and wait until the exporter has accounted for it (STATE moved, slot freed)."""
        self.delivery.finish(batch)
        assert batch.done.wait(WAIT)


def gated(**options: Any) -> Run:
    return Run(GatedDelivery(), **options)


def ungated(**options: Any) -> Run:
    return Run(GatedDelivery(gated=False), **options)


# --- bounded overlap -------------------------------------------------------------------


def test_no_more_batches_are_delivered_at_once_than_max_in_flight() -> None:
    """A full batch waits for a free slot (the caller blocks), and goes as soon as one batch ends."""
    checkpoint = Checkpoint()
    run = Run(GatedDelivery(), checkpoint, max_in_flight=2, batch_size=1)
    for email in ("a@x.com", "b@x.com", "c@x.com"):  # a and b are sent, c is open
        run.tap.record(email)
    first = run.started(2)
    producer = Producer(lambda: run.tap.record("d@x.com"))  # c is full: it needs a slot
    producer.start()
    assert checkpoint.called.wait(WAIT)  # called only while the caller waits for a slot
    assert run.delivery.nothing_started() and not producer.done.is_set()
    run.finish(first["a@x.com"])
    [third] = run.started(1).values()
    assert emails(third) == ["c@x.com"]
    assert producer.result() is None
    closing = Producer(run.exporter.close)
    closing.start()
    run.finish(first["b@x.com"])
    run.finish(third)
    [last] = run.started(1).values()
    run.finish(last)
    assert closing.result() is None
    assert run.delivery.peak == 2
    assert sorted(e for b in run.delivery.finished for e in emails(b)) == ["a@x.com", "b@x.com", "c@x.com", "d@x.com"]


def test_full_batches_go_while_the_input_goes_on() -> None:
    """A batch is sent when full, not at the end of the input; a flush sends a partial one."""
    run = ungated(batch_size=2)
    for email in ("a@x.com", "b@x.com", "c@x.com"):
        run.tap.record(email)
    [full] = run.started(1).values()
    assert emails(full) == ["a@x.com", "b@x.com"]
    run.exporter.flush()
    [partial] = run.started(1).values()
    assert emails(partial) == ["c@x.com"]
    run.exporter.close()
    assert run.report.counts["superseded"] == 0


# --- STATE -----------------------------------------------------------------------------


def test_state_is_written_only_once_every_record_before_it_is_in_sendgrid() -> None:
    """Batches may end out of order: STATE waits for the oldest record still in flight, then only the newest goes."""
    run = gated(max_in_flight=2, batch_size=1)
    run.tap.record("a@x.com")
    run.tap.state(1)
    run.tap.record("b@x.com")  # a is sent
    second = run.tap.state(2)
    run.tap.record("c@x.com")  # b is sent, c is open
    third = run.tap.state(3)
    batches = run.started(2)
    run.finish(batches["b@x.com"])
    assert run.written == []  # record 1 is still in flight
    run.finish(batches["a@x.com"])
    assert run.written == [second]  # record 3 is in an open batch; STATE 1 is superseded by 2
    closing = Producer(run.exporter.close)
    closing.start()
    [last] = run.started(1).values()
    run.finish(last)
    assert closing.result() is None
    assert run.written == [second, third]


def test_a_batch_waiting_for_a_slot_holds_state() -> None:
    """A full batch not yet in flight (no slot) still holds STATE back when the batch before it ends."""
    run = gated(max_in_flight=1, batch_size=1)
    run.tap.record("a@x.com")
    first = run.tap.state(1)
    run.tap.record("b@x.com")  # a is sent
    second = run.tap.state(2)
    producer = Producer(lambda: run.tap.record("c@x.com"))  # b waits for the only slot
    producer.start()
    [a] = run.started(1).values()
    run.finish(a)
    [b] = run.started(1).values()
    assert run.written == [first]  # not STATE 2: record 2 was waiting for the slot when a ended
    assert producer.result() is None
    run.finish(b)
    assert run.written == [first, second]
    run.exporter.flush()
    [c] = run.started(1).values()
    run.finish(c)
    run.exporter.close()


def test_a_state_before_any_pending_record_is_written_at_once() -> None:
    """STATE after records that were all settled without a batch (rejected) is written when it comes."""
    run = ungated(max_request_bytes=200)
    run.tap.record("a@x.com", note="x" * 500)  # larger than a request: rejected
    state = run.tap.state(1)
    assert run.written == [state]
    assert run.report.rejected["contact larger than max_request_bytes"] == 1
    run.exporter.close()
    assert run.delivery.finished == []


def test_held_state_is_written_when_let_go() -> None:
    """Mirror mode holds STATE while removals are to come; letting go writes the newest settled one."""
    run = ungated()
    run.exporter.hold_state(True)
    run.tap.record("a@x.com")
    state = run.tap.state(1)
    run.exporter.close()
    assert run.written == []
    run.exporter.hold_state(False)
    assert run.written == [state]


# --- order of one email's records --------------------------------------------------------


def test_a_later_record_of_an_email_waits_for_the_batch_with_its_earlier_one() -> None:
    """The same email bound for other lists: its second batch is taken up but not delivered until the first ends."""
    run = gated(max_in_flight=2)
    run.tap.record("a@x.com", ("L1",), first_name="Ann")
    run.tap.record("a@x.com", ("L2",), first_name="Anna")  # the batch for L1 is sent first
    run.exporter.flush()  # the batch for L2 goes to a worker, which waits
    [first] = run.started(1).values()
    assert first.list_ids == ("L1",)
    eventually(lambda: run.exporter.running() == 2)  # both taken up by a worker ...
    assert run.delivery.nothing_started()  # ... the second one waiting for the first
    run.finish(first)
    [second] = run.started(1).values()
    assert second.list_ids == ("L2",) and first in run.delivery.finished_before[second]
    assert sent_fields(second, "a@x.com")["first_name"] == "Anna"
    run.finish(second)
    run.exporter.close()


def test_a_removal_from_a_list_follows_the_upsert_to_it() -> None:
    """An upsert then a removal of the same email from the same list: SendGrid sees them in that order."""
    run = ungated()
    run.tap.record("a@x.com", ("L",))
    run.tap.removal("a@x.com", "L")
    run.exporter.close()
    assert [(b.kind, emails(b)) for b in run.delivery.finished] == [("upsert", ["a@x.com"]), ("remove", ["a@x.com"])]


def test_batch_size_bounds_upserts_only_every_removal_is_delivered() -> None:
    """With batch_size 1, removals from one list still share a batch, and none is dropped (a bug once
    dropped the second: the removal batch was capped by batch_size and a refused add was ignored)."""
    run = ungated(batch_size=1)
    run.tap.record("a@x.com", ("L",))
    run.tap.removal("b@x.com", "L")
    run.tap.removal("a@x.com", "L")
    run.exporter.close()
    delivered = [(b.kind, emails(b)) for b in run.delivery.finished]
    assert delivered == [("upsert", ["a@x.com"]), ("remove", ["b@x.com", "a@x.com"])]


def test_a_later_record_in_the_same_batch_wins_field_by_field() -> None:
    """One email once per request: the later record's fields win, what it lacks keeps the earlier value."""
    run = ungated()
    run.tap.record("a@x.com", first_name="Ann", city="Oslo")
    run.tap.record("a@x.com", first_name="Anna")
    run.exporter.close()
    [batch] = run.delivery.finished
    assert sent_fields(batch, "a@x.com") == {"email": "a@x.com", "first_name": "Anna", "city": "Oslo"}
    assert run.report.counts["superseded"] == 1


# --- failures ----------------------------------------------------------------------------


def test_a_failed_batch_stops_the_run_and_state_stays_before_it() -> None:
    """A batch that fails: STATE never passes its records, the next call raises the failure, the rest is unsent."""
    run = gated(max_in_flight=2, batch_size=1)
    run.tap.record("a@x.com")
    run.tap.state(1)
    run.tap.record("b@x.com")
    run.tap.state(2)
    run.tap.record("c@x.com")  # open
    batches = run.started(2)
    refused = ExportError("SendGrid refused the batch")
    run.delivery.fail(batches["a@x.com"], refused)
    assert batches["a@x.com"].done.wait(WAIT)
    run.finish(batches["b@x.com"])
    assert run.written == []
    with pytest.raises(ExportError) as raised:
        run.tap.record("d@x.com")
    assert raised.value is refused and run.exporter.failed_with(refused)
    assert not run.exporter.failed_with(ExportError("another"))
    assert run.exporter.holds_record(1) and not run.exporter.holds_record(2) and run.exporter.holds_record(3)
    run.exporter.count_unsent()
    assert run.report.counts["not_sent"] == 2  # a (failed) and c (open); b is in SendGrid
    with pytest.raises(ExportError) as settling:
        run.exporter.settle()
    assert settling.value is refused
    assert run.written == []


def test_a_batch_queued_behind_a_failed_one_is_never_delivered() -> None:
    """A later record of an email whose earlier batch failed is not sent: it would land without the earlier one."""
    run = gated(max_in_flight=2)
    run.tap.record("a@x.com", ("L1",))
    run.tap.record("a@x.com", ("L2",))
    run.exporter.flush()
    [first] = run.started(1).values()
    run.delivery.fail(first, ExportError("refused"))
    with pytest.raises(ExportError):
        run.exporter.settle()  # waits for every worker: the second batch's worker has ended
    assert run.delivery.nothing_started() and run.delivery.finished == []


def test_no_batch_is_delivered_once_one_failed() -> None:
    """A batch handed to a worker after another failed is skipped: the run is ending, nothing more is sent."""
    run = gated(batch_size=1)
    run.tap.record("a@x.com")
    run.tap.record("b@x.com")  # a is sent, b is open
    [a] = run.started(1).values()
    run.delivery.fail(a, ExportError("refused"))
    assert a.done.wait(WAIT)
    run.exporter.flush()  # b goes to a worker, which finds the run failed
    with pytest.raises(ExportError, match="refused"):
        run.exporter.settle()
    assert run.delivery.nothing_started() and run.delivery.finished == []
    run.exporter.count_unsent()
    assert run.report.counts["not_sent"] == 2


# --- the max_contacts ceiling ------------------------------------------------------------


def test_under_a_ceiling_nothing_is_sent_until_the_input_ends_then_everything_in_order() -> None:
    """All or nothing: full batches are held (a flush sends nothing), then released in record order."""
    run = ungated(max_contacts=5, batch_size=2, max_in_flight=1)
    states = []
    for email in ("a@x.com", "b@x.com", "c@x.com", "d@x.com", "e@x.com"):
        run.tap.record(email)
        states.append(run.tap.state(run.tap.number))
        run.exporter.flush()  # a slow tap's timed flush: it would only split requests, so it is a no-op
    assert run.exporter.holding and run.delivery.finished == [] and run.written == []
    run.exporter.close()
    assert not run.exporter.holding
    assert [emails(b) for b in run.delivery.finished] == [["a@x.com", "b@x.com"], ["c@x.com", "d@x.com"], ["e@x.com"]]
    assert run.written[-1] == states[-1]
    assert run.written == [s for s in states if s in run.written]  # in the tap's order, none twice


def test_under_a_ceiling_state_after_records_settled_at_once_waits_for_the_end_of_the_input() -> None:
    """Records that need no request (unchanged) are settled at once, but under a ceiling the run is all or
    nothing: the STATE after them waits, since a later contact past the ceiling fails the whole run."""
    run = ungated(max_contacts=1)
    run.exporter.mark_processed(1)  # an unchanged record: nothing to send
    run.tap.state(1)
    assert run.written == []
    run.tap.number = 1
    run.tap.record("a@x.com")
    run.tap.record("b@x.com")  # past the ceiling
    with pytest.raises(MaxContactsExceeded):
        run.exporter.close()
    assert run.written == []


def test_past_the_ceiling_nothing_is_sent_and_state_stays() -> None:
    """One contact more than max_contacts: nothing is sent, no STATE at all (not even one before the first
    record: the run is all or nothing), all counted unsent."""
    run = ungated(max_contacts=3, batch_size=2)
    run.tap.state(0)  # a STATE before any record: held too
    for email in ("a@x.com", "b@x.com", "c@x.com", "d@x.com"):
        run.tap.record(email)
        run.tap.state(run.tap.number)
    run.tap.removal("e@x.com", "L")  # nothing more is queued
    run.tap.deletion("f@x.com")
    with pytest.raises(MaxContactsExceeded, match="holds 4 contacts"):
        run.exporter.release()
    with pytest.raises(MaxContactsExceeded):
        run.exporter.close()
    assert run.delivery.finished == [] and run.written == []
    assert not run.exporter.holds_record(1)  # dropped, not held
    run.exporter.count_unsent()
    assert run.report.counts["not_sent"] == 4


def test_a_superseded_contact_counts_once_toward_the_ceiling() -> None:
    """Two records of one email are one contact: they fit a ceiling of two with another email."""
    run = ungated(max_contacts=2)
    run.tap.record("a@x.com", first_name="Ann")
    run.tap.record("a@x.com", first_name="Anna")
    run.tap.record("b@x.com")
    run.exporter.close()
    assert [emails(b) for b in run.delivery.finished] == [["a@x.com", "b@x.com"]]


def test_the_ceiling_counts_an_email_once_whatever_the_batch_boundaries() -> None:
    """Two contacts (a, b, then a again) fit max_contacts=2, however the requests are cut."""
    for batch_size in (10, 1):
        run = ungated(max_contacts=2, batch_size=batch_size)
        for email in ("a@x.com", "b@x.com", "a@x.com"):
            run.tap.record(email)
        run.exporter.close()  # batch_size=1: MaxContactsExceeded, "The input holds 3 contacts"
        assert {e for b in run.delivery.finished for e in emails(b)} == {"a@x.com", "b@x.com"}


# --- deletions, members, shutdown ----------------------------------------------------------


def test_deletions_are_sent_last_once_every_upsert_ended() -> None:
    """Deletions wait for the end of the input and for every upsert; a flush or settle does not send them."""
    run = ungated(batch_size=1)
    run.tap.deletion("gone@x.com")
    run.tap.record("a@x.com")
    run.tap.record("b@x.com")
    run.exporter.settle()
    assert [b.kind for b in run.delivery.finished] == ["upsert", "upsert"]
    run.exporter.close()
    assert [b.kind for b in run.delivery.finished] == ["upsert", "upsert", "delete"]
    assert emails(run.delivery.finished[-1]) == ["gone@x.com"]


def test_deletions_past_their_ceiling_delete_nothing() -> None:
    run = ungated(max_deletions=1)
    run.tap.record("a@x.com")
    run.tap.deletion("gone1@x.com")
    run.tap.deletion("gone2@x.com")
    with pytest.raises(ExportError, match="would delete 2 contacts"):
        run.exporter.close()
    assert [b.kind for b in run.delivery.finished] == ["upsert"]


def test_a_customer_deleted_then_back_is_not_deleted() -> None:
    """A record of an email after its deletion record: the customer is back, upserted and not deleted."""
    run = ungated()
    run.tap.deletion("back@x.com")
    run.tap.record("back@x.com")
    run.exporter.close()
    assert [(b.kind, emails(b)) for b in run.delivery.finished] == [("upsert", ["back@x.com"])]


def test_mirror_mode_tracks_who_joined_and_who_left_each_list() -> None:
    run = ungated(track_members=True)
    run.tap.record("a@x.com", ("L1", "L2"))
    run.tap.removal("b@x.com", "L1")
    assert run.exporter.members == {"L1": {"a@x.com"}, "L2": {"a@x.com"}}
    assert run.exporter.left == {"L1": {"b@x.com"}}
    run.tap.record("b@x.com", ("L1",))  # back in the list
    run.exporter.close()
    assert run.exporter.members == {"L1": {"a@x.com", "b@x.com"}, "L2": {"a@x.com"}}
    assert run.exporter.left == {"L1": set()}


def test_a_signal_while_waiting_for_a_slot_stops_the_caller_and_in_flight_batches_may_finish() -> None:
    """Interrupted while blocked: the batch in flight gets its bounded wait and moves STATE; the open one is unsent."""
    checkpoint = Checkpoint()
    run = Run(GatedDelivery(), checkpoint, max_in_flight=1, batch_size=1)
    run.tap.record("a@x.com")
    first = run.tap.state(1)
    run.tap.record("b@x.com")  # a is sent
    checkpoint.interrupt(signal.SIGTERM)
    producer = Producer(lambda: run.tap.record("c@x.com"))  # b waits for the slot, and the signal comes
    producer.start()
    stopped = producer.result()
    assert isinstance(stopped, Interrupted) and stopped.exit_code == 128 + signal.SIGTERM
    [a] = run.started(1).values()
    assert run.exporter.stop(timeout=0) is False  # a is still running
    run.delivery.finish(a)
    assert run.exporter.stop(timeout=WAIT) is True
    assert run.written == [first]
    run.exporter.count_unsent()
    assert run.report.counts["not_sent"] == 1  # b, never sent
    assert run.delivery.nothing_started()


def test_a_signal_while_settling_is_raised_without_abandoning_the_batches_in_flight() -> None:
    """settle() notices a signal while it waits; the batch in flight is still delivered, its STATE written."""
    checkpoint = Checkpoint()
    run = Run(GatedDelivery(), checkpoint)
    run.tap.record("a@x.com")
    state = run.tap.state(1)
    checkpoint.interrupt(signal.SIGINT)
    settling = Producer(run.exporter.settle)
    settling.start()
    [a] = run.started(1).values()
    assert isinstance(settling.result(), Interrupted)
    run.delivery.finish(a)
    assert run.exporter.stop(timeout=WAIT) is True
    assert run.written == [state]


def test_close_waits_for_every_batch_and_writes_the_last_state() -> None:
    """A drain: close() returns only once every batch ended, with the newest STATE written."""
    run = gated(batch_size=1)
    for email in ("a@x.com", "b@x.com", "c@x.com"):
        run.tap.record(email)
    last = run.tap.state(3)
    closing = Producer(run.exporter.close)
    closing.start()
    batches = run.started(3)
    for email in ("c@x.com", "b@x.com"):
        run.delivery.finish(batches[email])
    assert not closing.done.wait(0)  # a has not ended
    run.delivery.finish(batches["a@x.com"])
    assert closing.result() is None
    assert run.written == [last]
    assert run.exporter.running() == 0


def test_stop_does_not_wait_for_a_batch_that_never_started() -> None:
    """A batch still queued in the pool when the run stops is cancelled: not waited for, counted as not sent.

    (The slot of a finished batch is free a moment before its worker is, so the next batch can
    be queued; the pool's shutdown cancels it, and such a future never reports itself done.)
    """
    report = RunReport()
    exporter = Exporter(None, report, lambda state: None, max_in_flight=1)
    release = threading.Event()
    exporter._pool.submit(release.wait)  # the only worker is busy, though the only slot is free
    for i in range(5):
        exporter.add({"email": f"u{i}@example.com"}, ("list",), RecordRef("s", i + 1))
    exporter.flush()  # the batch is queued behind the busy worker
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    assert exporter.stop(timeout=10) is True
    assert time.monotonic() - started < 5
    exporter.count_unsent()
    assert report.counts["not_sent"] == 5
