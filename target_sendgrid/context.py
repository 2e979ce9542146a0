"""What a run needs, resolved once at start, before any input is read: the one object sinks receive.

The target builds an :class:`ExportContext` from its settings (client, key check, custom
fields, lists, segment rules, report, exporter) and hands it to every sink; nothing below
the target reaches back into it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from singer_sdk.exceptions import ConfigValidationError

from target_sendgrid.client import NotFound, SendGridClient
from target_sendgrid.customfields import CustomFieldRegistry
from target_sendgrid.exporter import Exporter
from target_sendgrid.limits import MAX_CONTACTS_PER_UPSERT
from target_sendgrid.lists import ListRouter, mirror
from target_sendgrid.report import RunReport
from target_sendgrid.segments import SegmentFilter
from target_sendgrid.settings import DEFAULT_MAX_REQUEST_BYTES


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
    record_number: int = 0  # RECORD messages read so far
    record_reached_sink: bool = False  # whether the current record got past the stream maps

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
        ids = ListRouter.resolve(client, [*segment_lists.values(), *([list_name] if list_name else [])])
        list_id = _checked_list_id(client, config["list_id"]) if config.get("list_id") else ids.get(list_name)
        router = ListRouter(list_id, {s: ids[v] for s, v in segment_lists.items()}, bool(config.get("segments")))
        is_mirror = config.get("sync_mode", "upsert") == "mirror"
        if is_mirror and not router.all_lists:
            raise ConfigValidationError(
                "mirror needs a list", errors=["sync_mode mirror needs list_id, list_name or segment_lists."]
            )
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
        )
        return cls(
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
        )

    def finish(self) -> None:
        """Send the rest, wait for every job, write the last STATE, then mirror the lists if asked."""
        self.exporter.close()
        if self.mirror and self.client is not None:
            exported = self.exporter.members or {}
            removed = mirror(
                self.client,
                {list_id: exported.get(list_id, set()) for list_id in self.router.all_lists},
                self.config.get("mirror_max_removal_fraction", 0.5),
                self.config.get("job_timeout_seconds", 3600),
                self.config.get("max_job_attempts", 5),
            )
            self.report.count("removed", sum(removed.values()))

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


def _checked_list_id(client: SendGridClient | None, list_id: str) -> str:
    """list_id, once SendGrid confirmed it exists (a dry run takes it on trust)."""
    if client is not None:
        try:
            client.get_list(list_id)
        except NotFound:
            raise ConfigValidationError(
                "list_id not found", errors=[f"No SendGrid list has the id {list_id!r} (list_id)."]
            ) from None
    return list_id
