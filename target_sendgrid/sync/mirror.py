"""Mirror mode: when members leave the target lists, which ones, with a safety stop, and why.

:class:`MirrorMode` follows the run (table versions, stamps, STATE held back until removals
are done); the functions below plan and make the removals. Two ways to tell a stale member,
both judged against a contacts export of each list:

- unversioned: the member was not exported to that list by this run, which read the whole table;
- versioned: the member's stamp (the table version it was last exported with, a custom field)
  is older than a completed version, or missing.

Every list is judged before anything is removed, so the removal-fraction stop removes nothing
anywhere. In a plan (``plan``) the stale members are counted into it, every list judged, and
nothing removed; the safety stop still fails the run, after the plan has them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple, Protocol

from singer_sdk.exceptions import ConfigValidationError

from target_sendgrid.contacts.custom_fields import CustomField, CustomFieldRegistry
from target_sendgrid.contacts.routing import ListRouter
from target_sendgrid.errors import MirrorStopped
from target_sendgrid.plan import Plan
from target_sendgrid.report import RunReport
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.sendgrid.export_files import custom_value
from target_sendgrid.sendgrid.removals import remove_from_list
from target_sendgrid.settings import Settings
from target_sendgrid.sync.unchanged import SendGridCopy
from target_sendgrid.sync.versions import TableVersions

logger = logging.getLogger("target-sendgrid.mirror")


class Deliveries(Protocol):
    """What mirror mode needs of the run's deliveries (the exporter): no more."""

    members: dict[str, set[str]] | None  # list id -> emails this run exported to it

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
        plan: Plan | None = None,
    ) -> None:
        self.settings = settings
        self.plan = plan  # a plan: stale members are counted, never removed
        self.client = client  # None: a dry run removes nothing
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
                    "taps) needs mirror_close_at_end_of_input: true.",
                    stream,
                    version,
                )
        elif self.client is not None:
            exported = self.exporter.members or {}
            removed = mirror_exported(
                self.client,
                {list_id: exported.get(list_id, set()) for list_id in self.router.all_lists},
                *self._limits(),
                copy=copy,
                plan=self.plan,
                new_lists=self.router.new_lists,
            )
            self.report.count("removed", sum(removed.values()))
        self.exporter.hold_state(False)  # the removals are done: the last STATE may go

    def _hold_state(self) -> None:
        self.exporter.hold_state(not self.versioned or self.versions.holds_state())

    def _remove_older(self, stream: str, version: Any, why: str) -> None:
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
        # A plan sent no stamps: a member this run would have stamped is not judged by its old one.
        exported = self.exporter.members if self.plan is not None else None
        removed = mirror_version(
            self.client,
            self.router.all_lists,
            self.field,
            version,
            *self._limits(),
            plan=self.plan,
            new_lists=self.router.new_lists,
            exported=exported,
        )
        self.report.count("removed", sum(removed.values()))

    def _limits(self) -> tuple[float, float, int]:
        settings = self.settings
        return settings.mirror_max_removal_fraction, settings.job_timeout_seconds, settings.max_job_attempts


def mirror_exported(
    client: SendGridClient,
    exported: Mapping[str, set[str]],
    max_fraction: float,
    timeout: float,
    max_attempts: int,
    copy: SendGridCopy | None = None,
    plan: Plan | None = None,
    new_lists: AbstractSet[str] = frozenset(),
) -> dict[str, int]:
    """Remove from each list the members this run did not export to it; returns removals per list.

    With ``copy`` (skip_unchanged read the lists at start, ids included) the lists are judged from
    it, with no second export; a member added by someone else during the run then stays.
    """
    judged = {}
    for list_id, emails in exported.items():
        if copy is not None and copy.ids is not None:
            hashes = {hash(e) for e in emails}
            judged[list_id] = _judge(client, list_id, _absent("key", hashes), timeout, rows=copy.members_of(list_id))
        else:
            none = () if list_id in new_lists else None  # a list a plan would create has no members
            judged[list_id] = _judge(client, list_id, _absent("email", emails), timeout, rows=none)
    why = "members this run did not export to it (unversioned mirror: the input is taken as the whole table)"
    return _remove(client, judged, why, timeout, max_attempts, max_fraction, None, plan)


def _absent(key: str, kept: set[Any]) -> Callable[[dict[str, Any]], bool]:
    """Whether an export row's ``key`` is not among those kept: that member leaves."""
    return lambda row: row.get(key) not in kept


def mirror_version(
    client: SendGridClient,
    list_ids: tuple[str, ...],
    field: str,
    version: Any,
    max_fraction: float,
    timeout: float,
    max_attempts: int,
    plan: Plan | None = None,
    new_lists: AbstractSet[str] = frozenset(),
    exported: Mapping[str, set[str]] | None = None,
) -> dict[str, int]:
    """Remove from each list the members whose ``field`` stamp is older than ``version``, or missing.

    ``exported`` (a plan, which sent no stamps): the members this run would have stamped, who stay.
    """
    complete = _number(version)
    if complete is None:
        raise MirrorStopped(f"Table version {version!r} is not a number: nothing was removed.")

    def stale(list_id: str) -> Callable[[dict[str, Any]], bool]:
        stamped = (exported or {}).get(list_id, set())

        def leaves(row: dict[str, Any]) -> bool:
            stamp = stamp_of(row, field)
            return (stamp is None or stamp < complete) and row.get("email") not in stamped

        return leaves

    judged = {
        list_id: _judge(client, list_id, stale(list_id), timeout, rows=() if list_id in new_lists else None)
        for list_id in list_ids
    }
    why = f"members whose {field} is older than the completed table version {version}, or missing"
    return _remove(client, judged, why, timeout, max_attempts, max_fraction, field, plan)


def stamp_of(row: dict[str, Any], field: str) -> Decimal | None:
    """A member's table-version stamp from an export row (JSON: nested by name; CSV: a column)."""
    return _number(custom_value(row, field))


def _number(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


class _Judged(NamedTuple):
    leaving: list[dict[str, Any]]  # the members that leave: export rows, or the copy's {"id", "key"}
    members: int


def _judge(
    client: SendGridClient,
    list_id: str,
    leaves: Callable[[dict[str, Any]], bool],
    timeout: float,
    rows: Iterable[dict[str, Any]] | None = None,
) -> _Judged:
    """The members of a list that leave it, and how many members it has.

    The members come from ``rows``, or else from a contacts export of the list.
    """
    members = 0
    leaving = []
    for member in client.list_members(list_id, timeout) if rows is None else rows:  # one at a time: ids kept
        members += 1
        if leaves(member):
            if not member.get("id"):
                raise MirrorStopped(f"A member of list {list_id} came without a contact id: nothing was removed.")
            leaving.append({"id": member["id"], "key": member["key"] if "key" in member else hash(member.get("email"))})
    return _Judged(leaving, members)


def _stop(list_id: str, judged: _Judged, max_fraction: float, field: str | None) -> str | None:
    """Why the safety stop refuses a list's removals (more than the fraction), or None."""
    leaving, members = len(judged.leaving), judged.members
    if not members or leaving / members <= max_fraction:
        return None
    hint = (
        f" A member stays only when its {field} is the completed version: check that the tap sent the whole table."
        if field
        else " Check that the input held the whole segment."
    )
    return (
        f"Mirror mode would remove {leaving} of the {members} contacts of list {list_id} "
        f"({leaving / members:.0%}), more than mirror_max_removal_fraction={max_fraction}. "
        f"Nothing was removed.{hint} Or raise the fraction."
    )


def _remove(
    client: SendGridClient,
    judged: dict[str, _Judged],
    why: str,
    timeout: float,
    max_attempts: int,
    max_fraction: float,
    field: str | None,
    plan: Plan | None,
) -> dict[str, int]:
    """Every list judged first: past the fraction anywhere, nothing is removed anywhere (MirrorStopped)."""
    stops = {list_id: _stop(list_id, j, max_fraction, field) for list_id, j in judged.items()}
    if plan is not None:
        removed = {list_id: plan.leave(list_id, j.leaving, bool(stops[list_id])) for list_id, j in judged.items()}
    for message in stops.values():
        if message:
            raise MirrorStopped(message)
    if plan is not None:
        return removed
    for list_id, j in judged.items():
        remove_from_list(client, list_id, [m["id"] for m in j.leaving], timeout, max_attempts)
        logger.info("Mirror: removed %d contacts from list %s: %s", len(j.leaving), list_id, why)
    return {list_id: len(j.leaving) for list_id, j in judged.items()}
