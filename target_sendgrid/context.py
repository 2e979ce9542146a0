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

from target_sendgrid.client import NotFound, SendGridClient
from target_sendgrid.customfields import CustomField, CustomFieldRegistry
from target_sendgrid.exporter import Exporter
from target_sendgrid.limits import MAX_CONTACTS_PER_UPSERT
from target_sendgrid.lists import ListRouter
from target_sendgrid.mirror import MirrorStopped, mirror_exported, mirror_version
from target_sendgrid.progress import Progress
from target_sendgrid.report import RunReport
from target_sendgrid.segments import SegmentFilter
from target_sendgrid.settings import DEFAULT_MAX_REQUEST_BYTES
from target_sendgrid.versions import TableVersions

logger = logging.getLogger("target-sendgrid.mirror")


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
    mirror: bool
    dry_run: bool
    versions: TableVersions | None = None  # mirror mode: table versions seen, and when they complete
    record_number: int = 0  # RECORD messages read so far
    record_reached_sink: bool = False  # whether the current record got past the stream maps
    record_version: Any = None  # the current record's table version (mirror mode only)
    _stamp: CustomField | None = field(default=None, repr=False)
    progress: Progress | None = None

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
            _check_stamp_field(custom_fields, config.get("mirror_version_field", "singer_table_version"))
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
        if is_mirror:  # until the input shows table versions, the whole run is one sync
            exporter.hold_state(True)
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
            mirror=is_mirror,
            dry_run=dry_run,
            versions=TableVersions(bool(config.get("mirror_close_at_end_of_input"))) if is_mirror else None,
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

    # --- mirror mode with table versions (see versions.py and mirror.py) -----------------

    def note_record(self, stream: str, version: Any) -> None:
        """A RECORD's table version (mirror mode): its contact will carry the stamp."""
        self.record_version = version
        if version is not None and self.versions is not None and self.versions.record(stream, version):
            self._hold_state()

    def stamp(self, contact: dict[str, Any]) -> None:
        """Stamp a contact bound for the run's lists with its record's table version."""
        if self._stamp is None:
            name = self.config.get("mirror_version_field", "singer_table_version")
            self._stamp = self.custom_fields.ensure(name, "Number")
        contact.setdefault("custom_fields", {})[self._stamp.id] = self.record_version

    def activate_version(self, stream: str, version: Any) -> bool:
        """An ACTIVATE_VERSION; False when mirror mode is off (nothing to do)."""
        if self.versions is None:
            return False
        complete = self.versions.activate(stream, version)
        if complete is not None:
            self.exporter.settle()  # the stamps are in SendGrid before the lists are judged
            self._remove_older(stream, complete, "its ACTIVATE_VERSION followed its records")
        else:
            logger.info("Stream '%s': table version %s announced", stream, version)
        self._hold_state()
        return True

    def _hold_state(self) -> None:
        versions = self.versions
        assert versions is not None
        self.exporter.hold_state(not versions.versioned_streams or versions.holds_state())

    def _remove_older(self, stream: str, version: Any, why: str) -> None:
        assert self.versions is not None
        others = sorted(self.versions.versioned_streams - {stream})
        if others:
            raise MirrorStopped(
                f"Table version {version} of stream '{stream}' is complete, but this run also read versions of "
                f"{others}. Versioned mirroring removes from every list the run manages, so it takes one versioned "
                "stream per run: run each stream in its own pipeline with its own lists. Nothing was removed."
            )
        logger.info("Stream '%s': table version %s complete (%s)", stream, version, why)
        if self.client is None:
            return
        removed = mirror_version(
            self.client,
            self.router.all_lists,
            self.config.get("mirror_version_field", "singer_table_version"),
            version,
            self.config.get("mirror_max_removal_fraction", 0.5),
            self.config.get("job_timeout_seconds", 3600),
            self.config.get("max_job_attempts", 5),
        )
        self.report.count("removed", sum(removed.values()))

    def finish(self) -> None:
        """Send the rest and wait for every job, mirror the lists if asked, then write the last STATE."""
        self.exporter.settle()
        if self.versions is not None:
            self._finish_mirror(self.versions)
            self.exporter.hold_state(False)  # the removals are done: the last STATE may go
        self.exporter.close()

    def _finish_mirror(self, versions: TableVersions) -> None:
        if versions.versioned_streams or versions.open:
            complete, left_open = versions.at_end()
            for stream, version in complete:
                self._remove_older(stream, version, "the input ended")
            for stream, version in left_open:
                logger.warning(
                    "Stream '%s': table version %s was not completed by an ACTIVATE_VERSION after its records, so no "
                    "member was removed for it. A tap that sends ACTIVATE_VERSION only before its records (singer-sdk "
                    "taps) needs mirror_close_at_end_of_input: true.",
                    stream,
                    version,
                )
            return
        if self.client is None:
            return
        exported = self.exporter.members or {}
        removed = mirror_exported(
            self.client,
            {list_id: exported.get(list_id, set()) for list_id in self.router.all_lists},
            self.config.get("mirror_max_removal_fraction", 0.5),
            self.config.get("job_timeout_seconds", 3600),
            self.config.get("max_job_attempts", 5),
        )
        self.report.count("removed", sum(removed.values()))

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


def _check_stamp_field(registry: CustomFieldRegistry, name: str) -> None:
    """The stamp field, if the account has it, must be a Number: a Text stamp would fail every upsert."""
    existing = registry.by_name.get(name.lower())
    if existing is not None and existing["field_type"] != "Number":
        raise ConfigValidationError(
            "mirror_version_field is not a Number",
            errors=[
                f"mirror_version_field {name!r} is a {existing['field_type']} custom field in this account; "
                "it must be a Number. Name another field (it is created if missing)."
            ],
        )


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
