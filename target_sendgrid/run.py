"""The run's wiring: what a run needs, resolved once at start, before any input is read.

The target builds an :class:`ExportRun` from its :class:`~target_sendgrid.settings.Settings`
(client, key check, custom fields, lists, segment rules, report, exporter) and hands it to
every sink; nothing below the target reaches back into it. Where the reading is comes from the
singer layer's :class:`~target_sendgrid.singer.cursor.RecordCursor`, which this only reads.
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
from target_sendgrid.delivery.planning import PlanDelivery
from target_sendgrid.delivery.progress import Progress
from target_sendgrid.plan import Plan, new_id
from target_sendgrid.report import RunReport
from target_sendgrid.sendgrid.api_errors import AuthError, NotFound
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.settings import Settings
from target_sendgrid.singer.cursor import RecordCursor
from target_sendgrid.sync.mirror import MirrorMode
from target_sendgrid.sync.unchanged import MAX_LISTS, SendGridCopy, read_copy

logger = logging.getLogger(__name__)


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
    plan: Plan | None = None  # plan: true (a read-only client; batches are planned, not sent)
    skip_unchanged: bool = False  # and a client to read SendGrid's copy with
    _copy: SendGridCopy | None = field(default=None, repr=False)  # SendGrid's copy of the target lists
    _copy_read: bool = field(default=False, repr=False)

    @classmethod
    def start(
        cls,
        settings: Settings,
        cursor: RecordCursor,
        write_state: Callable[[dict[str, Any]], None],
        checkpoint: Callable[[], None],
    ) -> ExportRun:
        """Check the key, resolve custom fields and lists, and build the exporter (settings already checked).

        ``checkpoint`` raises when the run must stop; the exporter calls it while it waits.
        """
        # The files first: refusing a path needs no network (and no retries against an unreachable api_url).
        report = RunReport(settings.rejected_records_path)
        plan = Plan(settings.plan_path, report.run_id) if settings.plan else None
        client = None if settings.dry_run else _client(settings)
        if settings.dry_run or plan is not None:
            write_state = _no_state  # nothing was sent, so nothing is settled: no STATE may say it was
        if client is not None:
            _check_scopes(client)
        stand_in = new_id if plan is not None else None  # a plan creates nothing: it names what it would
        custom_fields = _custom_fields(settings, client, stand_in)
        router = _router(settings, client, stand_in)
        if settings.mirror:
            MirrorMode.check_stamp_field(settings.mirror_version_field, custom_fields)
        planning = None
        if plan is not None:
            assert client is not None  # a plan is never a dry run (settings.check)
            planning = _start_plan(plan, router, custom_fields, client, report)
        exporter = _exporter(settings, client, report, write_state, checkpoint, router, planning)
        mirror = None
        if settings.mirror:
            mirror = MirrorMode(settings, client, router, report, exporter, custom_fields, plan)
            exporter.hold_state(True)  # until the input shows table versions, the whole run is one sync
        run = cls(
            settings=settings,
            cursor=cursor,
            client=client,
            report=report,
            segments=SegmentFilter(settings.segments, settings.segment_property),
            custom_fields=custom_fields,
            router=router,
            exporter=exporter,
            mirror=mirror,
            progress=Progress(lambda: run.progress_line(), settings.progress_interval_seconds),
            plan=plan,
            skip_unchanged=settings.skip_unchanged and client is not None,
        )
        run.progress.start()
        return run

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
        plan = self.plan
        if not self.skip_unchanged and plan is None:
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
            # A plan reads it whatever the settings: it tells members (and so existing contacts) apart.
            if plan is None or self.router.all_lists:
                keep_ids = self.mirror is not None
                self._copy = read_copy(
                    self.client, self.router, fields, custom, timeout, keep_ids, required=plan is not None
                )
            if plan is not None and self._copy is not None:
                plan.membership = self._copy.lists_of
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

    def destinations(self) -> str:
        """Where the run's contacts went, by list name, and where its rejected records are listed."""
        report = self.report
        went = [
            f"{n} to list {self.router.describe(i)}" if i else f"{n} to no list"
            for i, n in sorted(report.per_list.items())
        ]
        lead = (
            "Contacts that would be exported (dry run, nothing was sent): "
            if self.settings.dry_run
            else "Contacts exported: "
        )
        text = lead + ("; ".join(went) if went else "none") + "."
        if unchanged := report.counts["unchanged"]:
            text += f" {unchanged} unchanged, already in SendGrid (skip_unchanged)."
        rejected = sum(report.rejected.values())
        if rejected and report.path is not None:
            text += f" {rejected} records rejected, listed in {report.path} under run_id {report.run_id}."
        elif rejected:
            text += f" {rejected} records rejected (set rejected_records_path to list them)."
        return text

    def summary(self) -> dict[str, Any]:
        """The run's figures, as logged at its end."""
        self.report.set("records_read", self.cursor.number)
        requests = self.client.requests_sent if self.client else 0
        summary = self.report.summary(requests, dry_run=self.settings.dry_run or self.plan is not None)
        if self.plan is not None:
            summary["plan"] = self.plan.summary(self.report.unchanged_per_list)
        return summary

    def plan_lines(self) -> list[str]:
        """A plan's lines for the log, one per list (none when this run is not a plan)."""
        return self.plan.lines(self.report.unchanged_per_list) if self.plan is not None else []

    def close_files(self) -> None:
        """Close the files the run writes: the rejected records, and a plan's changes."""
        self.report.close()
        if self.plan is not None:
            self.plan.close()


def _client(settings: Settings) -> SendGridClient:
    return SendGridClient(
        settings.api_key,
        settings.api_url,
        timeout=settings.request_timeout_seconds,
        max_retries=settings.max_retries,
        max_download_bytes=settings.max_download_bytes,
        read_only=settings.plan,  # a plan's client refuses every write, whatever the code above it asks
    )


def _router(settings: Settings, client: SendGridClient | None, stand_in: Callable[[str], str] | None) -> ListRouter:
    """The lists the run writes to, by segment: one read of the account's lists finds (or creates) each named one."""
    segment_lists = settings.routed_segments  # an unselected segment's list is no target
    list_name = settings.list_name
    wanted = [*segment_lists.values(), *([list_name] if list_name else [])]
    ids, names = ListRouter.resolve(client, wanted, stand_in)
    list_id = ids.get(list_name) if list_name else None
    if settings.list_id:
        list_id = settings.list_id
        names[list_id] = _checked_list_name(client, list_id)
    router = ListRouter(list_id, {s: ids[v] for s, v in segment_lists.items()}, bool(settings.segments))
    router.names = names
    return router


def _exporter(
    settings: Settings,
    client: SendGridClient | None,
    report: RunReport,
    write_state: Callable[[dict[str, Any]], None],
    checkpoint: Callable[[], None],
    router: ListRouter,
    planning: PlanDelivery | None,
) -> Exporter:
    """The exporter, with the batching, concurrency and ceilings the settings ask for."""
    return Exporter(
        client,
        report,
        write_state,
        batch_size=settings.batch_size,
        max_request_bytes=settings.max_request_bytes,
        max_in_flight=settings.max_jobs_in_flight,
        job_timeout=settings.job_timeout_seconds,
        max_job_attempts=settings.max_job_attempts,
        max_contacts=settings.max_contacts,
        max_deletions=settings.max_contact_deletions,
        track_members=settings.mirror,
        checkpoint=checkpoint,
        describe=router.describe_all,
        delivery=planning,
    )


def _no_state(state: dict[str, Any]) -> None:
    """The STATE writer of a dry run or a plan: it writes none (the next real run starts where the last one ended)."""


def _start_plan(
    plan: Plan, router: ListRouter, custom_fields: CustomFieldRegistry, client: SendGridClient, report: RunReport
) -> PlanDelivery:
    """The plan's view of the lists and fields resolved at start; its batches' delivery."""
    if len(router.all_lists) > MAX_LISTS:
        raise ConfigValidationError(
            "too many lists for a plan",
            errors=[f"A plan counts at most {MAX_LISTS} lists; this run manages {len(router.all_lists)}."],
        )
    router.new_lists = {i for i in router.all_lists if i.startswith(new_id(""))}
    plan.new_lists = {i: router.names.get(i, i) for i in router.new_lists}
    plan.names = dict(router.names)
    plan.new_fields = custom_fields.would_create  # the same list: fields noted later (the stamp) are in it
    plan.lists(router.all_lists)
    return PlanDelivery(client, report, plan)


def _check_scopes(client: SendGridClient) -> None:
    """Refuse a key without marketing.read before any input is read (when GET /v3/scopes answers)."""
    scopes = client.scopes()
    if scopes is not None and "marketing.read" not in scopes:
        raise AuthError(
            f"The API key lacks the marketing.read scope (GET /v3/scopes lists {len(scopes)} others): give it "
            "Marketing access in SendGrid (Settings, API Keys), or use a Full Access key. Nothing was sent."
        )


def _custom_fields(
    settings: Settings, client: SendGridClient | None, stand_in: Callable[[str], str] | None
) -> CustomFieldRegistry:
    """The account's custom fields: one cheap request that also checks the key at once."""
    definitions = client.field_definitions() if client else []
    registry = CustomFieldRegistry(
        settings.custom_field_mapping,
        definitions,
        client,
        # A dry run cannot see the account: it takes every name as creatable.
        create=settings.create_custom_fields or client is None,
        stand_in=stand_in,
    )
    if conflicts := registry.type_conflicts():
        raise ConfigValidationError("custom field of another type", errors=conflicts)
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
