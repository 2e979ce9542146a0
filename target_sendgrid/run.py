"""The run: the collaborators of one export, and what the target and the sinks ask of them.

:func:`~target_sendgrid.wiring.start_run` builds an :class:`ExportRun` from the settings; the
target answers the singer layer's hooks with its methods, and every sink queues its contacts
through them: neither reaches into the collaborators. Where the reading is comes from the singer
layer's :class:`~target_sendgrid.singer.cursor.RecordCursor`, which this only reads.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from target_sendgrid.contacts.custom_fields import CustomField, CustomFieldRegistry
from target_sendgrid.contacts.routing import ListRouter
from target_sendgrid.contacts.segments import SegmentFilter, normalise
from target_sendgrid.delivery.exporter import Exporter
from target_sendgrid.delivery.progress import Progress
from target_sendgrid.lifecycle.failures import Interrupted
from target_sendgrid.report import RecordRef, RunReport
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.settings import Settings
from target_sendgrid.singer.cursor import RecordCursor
from target_sendgrid.sync.mirror import MirrorMode
from target_sendgrid.sync.unchanged import CopyUser, SendGridCopy, read_copy

logger = logging.getLogger(__name__)


class Ending(Protocol):
    """How the run's end is told: what the summary adds, the lines logged, the files closed."""

    @property
    def dry(self) -> bool:
        """Whether nothing was written (the summary counts what would be exported)."""
        ...

    def add_to(self, summary: dict[str, Any]) -> None:
        """Add this ending's parts to the run's summary."""
        ...

    def lines(self, outcome: str, summary: dict[str, Any]) -> list[str]:
        """The lines the run ends with (``outcome``: finished, failed or interrupted)."""
        ...

    def close(self) -> None:
        """Close the files this ending writes."""
        ...


class ExportEnding:
    """A real run's (or a dry run's) ending: where the contacts went, then the summary."""

    def __init__(self, dry_run: bool, router: ListRouter, report: RunReport) -> None:
        self.dry = dry_run
        self.router = router
        self.report = report

    def add_to(self, summary: dict[str, Any]) -> None:
        """Nothing to add."""

    def lines(self, outcome: str, summary: dict[str, Any]) -> list[str]:
        """Where the contacts went, and the summary line."""
        dry = " (dry run)" if self.dry else ""
        return [destinations(self.dry, self.router, self.report), f"Export {outcome}{dry}: {json.dumps(summary)}"]

    def close(self) -> None:
        """No file of its own."""


@dataclass
class ExportRun:
    """A run's settings and collaborators."""

    settings: Settings
    cursor: RecordCursor  # where the reading is (written by the singer layer)
    client: SendGridClient | None  # None: a dry run, nothing is sent
    report: RunReport
    segments: SegmentFilter
    custom_fields: CustomFieldRegistry
    router: ListRouter
    exporter: Exporter
    mirror: MirrorMode | None  # sync_mode mirror
    progress: Progress
    ending: Ending
    copy_user: CopyUser | None = None  # one that needs SendGrid's copy whatever skip_unchanged says
    skip_unchanged: bool = False  # and a client to read SendGrid's copy with
    _copy: SendGridCopy | None = field(default=None, repr=False)  # SendGrid's copy of the target lists
    _copy_read: bool = field(default=False, repr=False)

    def progress_line(self) -> str:
        """How far the run is, for the progress lines."""
        counts = self.report.counts
        elapsed = time.monotonic() - self.report.started
        return (
            f"{self.cursor.number} records read, {counts['sent']} contacts sent, {counts['jobs']} jobs finished, "
            f"{self.exporter.running()} running, {elapsed:.0f} s elapsed"
        )

    # --- skip_unchanged (see unchanged.py) -------------------------------------------------

    def sendgrid_copy(
        self, stream: str, fields: tuple[str, ...], custom: tuple[CustomField, ...]
    ) -> SendGridCopy | None:
        """SendGrid's copy of the target lists to judge this stream's contacts by; None: send them all.

        Read once, at the first stream, for the fields it maps; a stream that maps other fields
        has every contact sent.
        """
        user = self.copy_user
        if not self.skip_unchanged and user is None:
            return None
        if self.mirror is not None and (stamp := self.mirror.existing_stamp_field()) is not None:
            # Records may carry table versions: the stamp is a value to compare too. A field the account
            # lacks is not created for this (only a stamped contact creates it): no member has a stamp then,
            # and SendGridCopy sends every contact that carries one.
            custom = (*custom, stamp)
        if not self._copy_read:
            self._copy_read = True
            assert self.client is not None
            timeout = self.settings.skip_unchanged_timeout_seconds
            # With mirror mode, the same read serves its removals (if the records carry no versions).
            # A copy user reads it whatever the settings (but not with no list to read).
            if user is None or self.router.all_lists:
                keep_ids = self.mirror is not None
                self._copy = read_copy(self.client, self.router, fields, custom, timeout, keep_ids, user)
        if not self.skip_unchanged:
            return None
        copy = self._copy
        if copy is not None and (copy.fields, copy.custom) != (fields, custom):
            logger.warning(
                "skip_unchanged: stream '%s' maps other fields than the first stream; each of its contacts is sent",
                stream,
            )
            return None
        return copy

    def copy_touch(self) -> Callable[[str], None] | None:
        """What marks a contact this run changed in SendGrid's copy (None: no copy was read)."""
        return self._copy.touch if self._copy is not None else None

    # --- what a sink asks of the run ---------------------------------------------------------

    @property
    def all_lists(self) -> tuple[str, ...]:
        """Every list the run manages."""
        return self.router.all_lists

    def custom_fields_for(self, properties: Mapping[str, Any]) -> list[CustomField]:
        """The custom fields a stream with these properties feeds (created, if the settings ask)."""
        return self.custom_fields.for_stream(properties)

    def custom_properties(self) -> dict[str, str]:
        """custom_field_mapping: each custom field's name -> the record property that feeds it."""
        return dict(self.custom_fields.mapping)

    def selected_segments(self, record: Mapping[str, Any], stream: str) -> list[str] | None:
        """The record's selected segments; None: it is filtered out."""
        return self.segments.matches(record, stream)

    def member_lists(self, record: Mapping[str, Any], stream: str, selected: list[str]) -> tuple[str, ...]:
        """The lists a member record belongs to (``selected``: its selected segments)."""
        if not self.router.segment_lists:
            return self.router.member_lists(selected, frozenset())
        declared = self.segments.record_segments(record)
        declared.add(normalise(stream))
        return self.router.member_lists(selected, declared)

    def stamp(self, contact: dict[str, Any], lists: tuple[str, ...]) -> None:
        """In mirror mode with table versions, a contact bound for lists carries its record's version."""
        if self.mirror is not None and self.mirror.record_version is not None and lists:
            self.mirror.stamp(contact)

    def queue(self, contact: dict[str, Any], lists: tuple[str, ...], ref: RecordRef) -> None:
        """Queue a contact's upsert to ``lists``."""
        self.exporter.add(contact, lists, ref)

    def queue_removal(self, email: str, list_id: str, ref: RecordRef) -> None:
        """Queue a contact's removal from a list (the contact stays in the account)."""
        self.exporter.remove(email, list_id, ref)

    def queue_deletion(self, email: str, ref: RecordRef) -> None:
        """Queue a contact's deletion from the account."""
        self.exporter.delete(email, ref)

    def unchanged(self, email: str, lists: tuple[str, ...]) -> None:
        """A contact SendGrid has as it is: settled at once, nothing sent."""
        self.report.count_unchanged(lists)
        self.exporter.note_members(email, lists)

    # --- what the target asks of the run (the singer layer's hooks) ---------------------------

    def note_record(self, stream: str, version: Any) -> None:
        """A RECORD's table version, before its record is handled (mirror mode stamps its contact)."""
        if self.mirror is not None:
            self.mirror.note_record(stream, version)

    def record_done(self, number: int, reached_sink: bool) -> None:
        """Record ``number`` is handed over: filtered (a stream map, if it reached no sink), rejected or queued."""
        if not reached_sink:
            self.report.count("filtered_map")
        self.exporter.mark_processed(number)

    def record_failed(self, number: int, exc: BaseException) -> None:
        """The record being handled when the run stopped gets a bucket, unless a batch holds it already.

        ``not_sent`` when a signal or a failed batch cut it short; ``stopped_run`` when it stopped the
        run itself (a record that does not match its schema, the one past max_contacts).
        """
        if self.exporter.holds_record(number):
            return
        cut_short = isinstance(exc, Interrupted) or self.exporter.failed_with(exc)
        self.report.count("not_sent" if cut_short else "stopped_run")

    def add_state(self, state: dict[str, Any]) -> None:
        """A STATE message: written once the records before it are settled."""
        self.exporter.add_state(state)

    def activate_version(self, stream: str, version: Any) -> bool:
        """An ACTIVATE_VERSION; False when nothing follows from it (no mirror mode)."""
        if self.mirror is None:
            return False
        self.mirror.activate_version(stream, version)
        return True

    def flush(self) -> None:
        """Send what is buffered, full batches or not."""
        self.exporter.flush()

    def finish_before_failure(self) -> None:
        """After a bad input: send and settle the records before it (no mirror removals, unlike ``finish``)."""
        self.exporter.close()

    def abort(self) -> None:
        """Send nothing more; what is in flight finishes."""
        self.exporter.abort()

    def stop(self, timeout: float) -> bool:
        """After a signal: nothing more is sent, the batches in flight get ``timeout`` seconds; True if all ended."""
        return self.exporter.stop(timeout)

    def finish(self) -> None:
        """Send the rest and wait for every job, mirror the lists if asked, then write the last STATE."""
        self.exporter.settle()
        if self.mirror is not None:
            self.mirror.finish(self._copy)
        self.exporter.close()

    def silent_results(self) -> list[str]:
        """What a finished run did not do that its user likely expected: each cause, named."""
        found = []
        if self.cursor.number == 0:
            found.append(
                "The input held no RECORD messages, so nothing was exported. Check that the tap selected its "
                "streams and had rows to send."
            )
            return found
        if unmatched := self.segments.unmatched():
            seen = sorted(self.segments.seen)
            found.append(
                f"The segments {unmatched} matched no record: segments are read from the record property "
                f"'{self.segments.segment_property}' (and stream names), compared without case or surrounding "
                f"spaces. Segment names seen in the input: {seen[:50] or 'none'}."
            )
        counts = self.report.counts
        # A run whose contacts SendGrid already had is not empty: it found the lists as they should be.
        if not any(counts[done] for done in ("exported", "removed", "unchanged", "deleted_contacts")):
            went = {
                "filtered_by_segment": counts["filtered_segment"],
                "filtered_by_stream_map": counts["filtered_map"],
                "rejected": sum(self.report.rejected.values()),
                "deleted_records": counts["deleted_records"],
                "merged_duplicates": counts["superseded"],
            }
            causes = ", ".join(f"{n} {bucket}" for bucket, n in went.items() if n)
            found.append(f"No contact was exported from {self.cursor.number} records: {causes or 'none sent'}.")
        return found

    def summary(self) -> dict[str, Any]:
        """The run's figures, as logged at its end."""
        self.report.set("records_read", self.cursor.number)
        requests = self.client.requests_sent if self.client else 0
        summary = self.report.summary(requests, dry_run=self.ending.dry)
        self.ending.add_to(summary)
        return summary

    def end(self, outcome: str) -> list[str]:
        """Stop the progress lines, count what was not sent (unless finished), close the files: the last lines."""
        self.progress.stop()
        if outcome != "finished":
            self.exporter.count_unsent()
        summary = self.summary()
        self.report.close()
        self.ending.close()
        return self.ending.lines(outcome, summary)


def destinations(dry_run: bool, router: ListRouter, report: RunReport) -> str:
    """Where the run's contacts went, by list name, and where its rejected records are listed."""
    went = [f"{n} to list {router.describe(i)}" if i else f"{n} to no list" for i, n in sorted(report.per_list.items())]
    lead = "Contacts that would be exported (dry run, nothing was sent): " if dry_run else "Contacts exported: "
    text = lead + ("; ".join(went) if went else "none") + "."
    if unchanged := report.counts["unchanged"]:
        text += f" {unchanged} unchanged, already in SendGrid (skip_unchanged)."
    rejected = sum(report.rejected.values())
    if rejected and report.path is not None:
        text += f" {rejected} records rejected, listed in {report.path} under run_id {report.run_id}."
    elif rejected:
        text += f" {rejected} records rejected (set rejected_records_path to list them)."
    return text
