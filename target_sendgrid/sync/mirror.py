"""Mirror mode: following the run (table versions, stamps, STATE held back until removals are done).

:class:`MirrorMode` knows when a sync is complete (see ``versions``) and then has its stale members
judged and removed (see ``stale_members``): unversioned, once a complete run ends; versioned, when a
table version completes. What becomes of the stale members is up to the ``Leavers`` it is handed.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from singer_sdk.exceptions import ConfigValidationError

from target_sendgrid.contacts.custom_fields import CustomField, CustomFieldRegistry
from target_sendgrid.contacts.routing import ListRouter
from target_sendgrid.lifecycle.failures import MirrorStopped
from target_sendgrid.report import RunReport
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.settings import Settings
from target_sendgrid.sync.stale_members import Leavers, mirror_exported, mirror_version
from target_sendgrid.sync.unchanged import SendGridCopy
from target_sendgrid.sync.versions import TableVersions

logger = logging.getLogger(__name__)


class Deliveries(Protocol):
    """What mirror mode needs of the run's deliveries (the exporter): no more."""

    members: dict[str, set[str]] | None  # list id -> emails this run exported to it
    left: dict[str, set[str]] | None  # list id -> emails this run took out of it (and did not send again)

    @property
    def holding(self) -> bool:
        """Whether nothing is sent until the input ends (a max_contacts ceiling)."""

    def settle(self) -> None:
        """Send what is queued and wait until every job has finished."""

    def hold_state(self, held: bool) -> None:
        """Hold STATE back while removals are to come, or let it go."""


class MirrorMode:
    """A mirror run: stamps contacts with their table version, and removes stale members when a sync completes.

    Until the input shows table versions the whole run is one sync, so STATE is held back until
    its removals are done (see ``watermark``): whoever builds it holds STATE from the start.
    """

    def __init__(
        self,
        settings: Settings,
        client: SendGridClient | None,
        router: ListRouter,
        report: RunReport,
        exporter: Deliveries,
        custom_fields: CustomFieldRegistry,
        leavers: Leavers | None,
        *,
        changes_sent: bool,
    ) -> None:
        self.settings = settings
        self.leavers = leavers  # what takes the stale members out (None, or no client: a dry run removes nothing)
        # False: the run's changes do not reach SendGrid (nothing is sent), so the lists are judged as read,
        # with the run's own changes counted in.
        self.changes_sent = changes_sent
        self.client = client
        self.router = router
        self.report = report
        self.exporter = exporter
        self.custom_fields = custom_fields
        self.field = settings.mirror_version_field
        self.versions = TableVersions(settings.mirror_close_at_end_of_input)
        self.record_version: Any = None  # the current record's table version
        self._stamp: CustomField | None = None
        self._completed: list[tuple[str, Any]] = []  # versions complete while the exporter held every batch

    @staticmethod
    def check_stamp_field(name: str, registry: CustomFieldRegistry) -> None:
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

    @property
    def versioned(self) -> bool:
        """Whether records of this run carry table versions (so far)."""
        return bool(self.versions.versioned_streams)

    def note_record(self, stream: str, version: Any) -> None:
        """A RECORD's table version: its contact will carry the stamp."""
        self.record_version = version
        if version is not None and self.versions.record(stream, version):
            self._hold_state()

    def stamp(self, contact: dict[str, Any]) -> None:
        """Stamp a contact bound for the run's lists with its record's table version."""
        contact.setdefault("custom_fields", {})[self.stamp_field().id] = self.record_version

    def existing_stamp_field(self) -> CustomField | None:
        """The stamp's custom field if the account has it already (nothing is created)."""
        if self._stamp is None and self.field.lower() in self.custom_fields.by_name:
            return self.stamp_field()
        return self._stamp

    def stamp_field(self) -> CustomField:
        """The stamp's custom field, created if the account lacks it."""
        if self._stamp is None:
            self._stamp = self.custom_fields.ensure(self.field, "Number")
        return self._stamp

    def activate_version(self, stream: str, version: Any) -> None:
        """An ACTIVATE_VERSION: a completed version removes older members (STATE after it waits)."""
        complete = self.versions.activate(stream, version)
        if complete is not None and self.exporter.holding:
            # Under max_contacts nothing is sent before the input ends: the removals wait for the stamps.
            logger.info(
                "Stream '%s': table version %s complete; its removals wait for the end of the input", stream, version
            )
            self._completed.append((stream, complete))
        elif complete is not None:
            self.exporter.settle()  # the stamps are in SendGrid before the lists are judged
            self._remove_older(stream, complete, "its ACTIVATE_VERSION followed its records")
        else:
            logger.info("Stream '%s': table version %s announced", stream, version)
        self._hold_state()

    def finish(self, copy: SendGridCopy | None = None) -> None:
        """At the end of the input (every job finished): the last removals, then STATE may go.

        ``copy`` is skip_unchanged's read of the lists at start: the unversioned removals use it.
        """
        for stream, version in self._completed:
            self._remove_older(stream, version, "its ACTIVATE_VERSION followed its records")
        if self.versioned or self.versions.open:
            complete, left_open = self.versions.at_end()
            for stream, version in complete:
                self._remove_older(stream, version, "the input ended")
            for stream, version in left_open:
                logger.warning(
                    "Stream '%s': table version %s was not completed by an ACTIVATE_VERSION after its records, so no "
                    "member was removed for it. A tap that sends ACTIVATE_VERSION only before its records (singer-sdk "
                    "taps) needs mirror_close_at_end_of_input: true; with it, a tap that fails mid-table still ends "
                    "this input, and the rows it had not sent look stale (mirror_max_removal_fraction bounds what "
                    "leaves).",
                    stream,
                    version,
                )
        elif self.client is not None and self.leavers is not None:
            exported = self.exporter.members or {}
            removed = mirror_exported(
                self.client,
                {list_id: exported.get(list_id, set()) for list_id in self.router.all_lists},
                *self._limits(),
                self.leavers,
                copy=copy,
                placeholders=self.router.placeholders,
                left=self.exporter.left or {},
                describe=self.router.describe,
            )
            self.report.count("removed", sum(removed.values()))
        self.exporter.hold_state(False)  # the removals are done: the last STATE may go

    def _hold_state(self) -> None:
        # Held while removals are to come: the whole run without versions, a version that may complete at the
        # end, and versions complete but not yet judged (under max_contacts, nothing is sent before the end).
        self.exporter.hold_state(not self.versioned or self.versions.holds_state() or bool(self._completed))

    def _remove_older(self, stream: str, version: Any, why: str) -> None:
        others = sorted(self.versions.versioned_streams - {stream})
        if others:
            raise MirrorStopped(
                f"Table version {version} of stream '{stream}' is complete, but this run also read versions of "
                f"{others}. Versioned mirroring removes from every list the run manages, so it takes one versioned "
                "stream per run: run each stream in its own pipeline with its own lists. Nothing was removed."
            )
        logger.info("Stream '%s': table version %s complete (%s)", stream, version, why)
        if self.client is None or self.leavers is None:
            return
        # Nothing sent, no stamps: a member this run stamped is not judged by its old one, and the lists are
        # read as they were before the run (what it added and took out is counted in).
        exported = None if self.changes_sent else self.exporter.members
        left = None if self.changes_sent else self.exporter.left
        removed = mirror_version(
            self.client,
            self.router.all_lists,
            self.field,
            version,
            *self._limits(),
            self.leavers,
            placeholders=self.router.placeholders,
            exported=exported,
            left=left,
            describe=self.router.describe,
        )
        self.report.count("removed", sum(removed.values()))

    def _limits(self) -> tuple[float, float]:
        return self.settings.mirror_max_removal_fraction, self.settings.job_timeout_seconds
