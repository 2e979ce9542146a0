"""What a run needs, resolved once at start, before any input is read: the one object sinks receive.

The target builds an :class:`ExportContext` from its settings (client, key check, custom
fields, lists, segment rules, report, exporter) and hands it to every sink; nothing below
the target reaches back into it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from singer_sdk.exceptions import ConfigValidationError

from target_sendgrid.contacts.custom_fields import CustomField, CustomFieldRegistry
from target_sendgrid.contacts.routing import ListRouter
from target_sendgrid.contacts.segments import SegmentFilter
from target_sendgrid.delivery.exporter import Exporter
from target_sendgrid.delivery.progress import Progress
from target_sendgrid.report import RunReport
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.sendgrid.errors import NotFound
from target_sendgrid.sendgrid.limits import MAX_CONTACTS_PER_UPSERT
from target_sendgrid.settings import DEFAULT_MAX_REQUEST_BYTES
from target_sendgrid.sync.mirror import MirrorMode
from target_sendgrid.sync.unchanged import SendGridCopy, read_copy

logger = logging.getLogger("target-sendgrid.context")


@dataclass
class ExportContext:
    """A run's collaborators and choices, plus the number of the record being processed."""

    config: dict[str, Any]
    client: SendGridClient | None  # None: a dry run, nothing is sent
    report: RunReport
    segments: SegmentFilter
    custom_fields: CustomFieldRegistry
    router: ListRouter
    exporter: Exporter
    hard_delete: bool
    remove_non_members: bool
    mirror: MirrorMode | None  # sync_mode mirror
    dry_run: bool
    record_number: int = 0  # RECORD messages read so far
    record_reached_sink: bool = False  # whether the current record got past the stream maps
    progress: Progress | None = None
    skip_unchanged: bool = False
    _copy: SendGridCopy | None = field(default=None, repr=False)  # SendGrid's copy of the target lists
    _copy_read: bool = field(default=False, repr=False)

    @classmethod
    def start(
        cls, config: dict[str, Any], write_state: Callable[[dict], None], checkpoint: Callable[[], None]
    ) -> ExportContext:
        """Check the key, resolve custom fields and lists, and build the exporter (settings already checked).

        ``checkpoint`` raises when the run must stop; the exporter calls it while it waits.
        """
        dry_run = bool(config.get("dry_run"))
        client = None if dry_run else _client(config)
        report = RunReport(config.get("rejected_records_path"))
        custom_fields = _custom_fields(config, client)
        segment_lists = config.get("segment_lists") or {}
        list_name = config.get("list_name")
        # One read of the account's lists finds (or creates) every list named in the settings.
        ids, names = ListRouter.resolve(client, [*segment_lists.values(), *([list_name] if list_name else [])])
        list_id = ids.get(list_name)
        if config.get("list_id"):
            list_id = config["list_id"]
            names[list_id] = _checked_list_name(client, list_id)
        router = ListRouter(list_id, {s: ids[v] for s, v in segment_lists.items()}, bool(config.get("segments")))
        router.names = names
        is_mirror = config.get("sync_mode", "upsert") == "mirror"
        if is_mirror and not router.all_lists:
            raise ConfigValidationError(
                "mirror needs a list", errors=["sync_mode mirror needs list_id, list_name or segment_lists."]
            )
        if is_mirror:
            MirrorMode.check_stamp_field(config, custom_fields)
        exporter = Exporter(
            client,
            report,
            write_state,
            batch_size=config.get("batch_size", MAX_CONTACTS_PER_UPSERT),
            max_request_bytes=config.get("max_request_bytes", DEFAULT_MAX_REQUEST_BYTES),
            max_in_flight=config.get("max_jobs_in_flight", 4),
            job_timeout=config.get("job_timeout_seconds", 3600),
            max_job_attempts=config.get("max_job_attempts", 5),
            max_contacts=config.get("max_contacts", 100_000),
            track_members=is_mirror,
            checkpoint=checkpoint,
            describe=router.describe_all,
        )
        context = cls(
            config=config,
            client=client,
            report=report,
            segments=SegmentFilter(config.get("segments"), config.get("segment_property", "segments")),
            custom_fields=custom_fields,
            router=router,
            exporter=exporter,
            hard_delete=config.get("hard_delete", True) is not False,
            remove_non_members=bool(config.get("remove_non_members")),
            mirror=MirrorMode(config, client, router, report, exporter, custom_fields) if is_mirror else None,
            dry_run=dry_run,
            skip_unchanged=bool(config.get("skip_unchanged")) and client is not None,
        )
        context.progress = Progress(context.progress_line, float(config.get("progress_interval_seconds", 30)))
        context.progress.start()
        return context

    def progress_line(self) -> str:
        """How far the run is, for the progress lines."""
        counts = self.report.counts
        elapsed = time.monotonic() - self.report.started
        return (
            f"{self.record_number} records read, {counts['sent']} contacts sent, {counts['jobs']} jobs finished, "
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
        if not self.skip_unchanged:
            return None
        if self.mirror is not None:  # records may carry table versions: the stamp is a value to compare too
            custom = (*custom, self.mirror.stamp_field())
        if not self._copy_read:
            self._copy_read = True
            assert self.client is not None
            timeout = float(self.config.get("skip_unchanged_timeout_seconds", 900))
            # With mirror mode, the same read serves its removals (if the records carry no versions).
            self._copy = read_copy(self.client, self.router, fields, custom, timeout, keep_ids=self.mirror is not None)
        copy = self._copy
        if copy is not None and (copy.fields, copy.custom) != (fields, custom):
            logger.warning(
                "skip_unchanged: stream '%s' maps other fields than the first stream; each of its contacts is sent",
                stream,
            )
            return None
        return copy

    def finish(self) -> None:
        """Send the rest and wait for every job, mirror the lists if asked, then write the last STATE."""
        self.exporter.settle()
        if self.mirror is not None:
            self.mirror.finish(self._copy)
        self.exporter.close()

    def silent_results(self) -> list[str]:
        """What a finished run did not do that its user likely expected: each cause, named."""
        found = []
        if self.record_number == 0:
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
        if not counts["exported"] and not counts["removed"]:
            found.append(
                f"No contact was exported from {self.record_number} records: the summary says where each went "
                "(filtered_by_segment, filtered_by_stream_map, rejected)."
            )
        return found

    def destinations(self) -> str:
        """Where the run's contacts went, by list name, and where its rejected records are listed."""
        report = self.report
        went = [
            f"{n} to list {self.router.describe(i)}" if i else f"{n} to no list"
            for i, n in sorted(report.per_list.items())
        ]
        text = "Contacts exported: " + ("; ".join(went) if went else "none") + "."
        rejected = sum(report.rejected.values())
        if rejected and report.path is not None:
            text += f" {rejected} records rejected, listed in {report.path} under run_id {report.run_id}."
        elif rejected:
            text += f" {rejected} records rejected (set rejected_records_path to list them)."
        return text

    def summary(self) -> dict[str, Any]:
        """The run's figures, as logged at its end."""
        self.report.set("records_read", self.record_number)
        return self.report.summary(self.client.requests_sent if self.client else 0, dry_run=self.dry_run)


def _client(config: dict[str, Any]) -> SendGridClient:
    return SendGridClient(
        config["api_key"],
        config.get("api_url", "https://api.sendgrid.com"),
        timeout=config.get("request_timeout_seconds", 60),
        max_retries=config.get("max_retries", 8),
    )


def _custom_fields(config: dict[str, Any], client: SendGridClient | None) -> CustomFieldRegistry:
    """The account's custom fields: one cheap request that also checks the key at once."""
    definitions = client.field_definitions()["custom_fields"] if client else []
    registry = CustomFieldRegistry(
        config.get("custom_field_mapping") or {},
        definitions,
        client,
        # A dry run cannot see the account: it takes every name as creatable.
        create=bool(config.get("create_custom_fields")) or client is None,
    )
    missing = registry.missing()
    if missing and not registry.create:
        raise ConfigValidationError(
            "unknown custom fields",
            errors=[
                f"custom_field_mapping names custom fields this SendGrid account does not have: {missing}. "
                f"The account has: {registry.account_fields()}. Fix the names, or set "
                "create_custom_fields: true to create them."
            ],
        )
    return registry


def _checked_list_name(client: SendGridClient | None, list_id: str) -> str:
    """The name of list ``list_id``, once SendGrid confirmed it exists (a dry run takes the id on trust)."""
    if client is None:
        return list_id
    try:
        return str(client.get_list(list_id).get("name") or list_id)
    except NotFound:
        raise ConfigValidationError(
            "list_id not found", errors=[f"No SendGrid list has the id {list_id!r} (list_id)."]
        ) from None
