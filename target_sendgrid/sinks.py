"""The sink: one per stream, turning its records into contacts for the run's shared exporter."""

from __future__ import annotations

import typing as t

from typing_extensions import override

from target_sendgrid.contacts.custom_fields import CustomField
from target_sendgrid.contacts.mapping import ContactMapper, Rejected, normalise_email, resolve_mapping
from target_sendgrid.report import RecordRef, RunReport
from target_sendgrid.settings import Settings
from target_sendgrid.singer.cursor import RecordCursor
from target_sendgrid.singer.sink_base import SingerSink
from target_sendgrid.sync.unchanged import SendGridCopy


class ContactRun(t.Protocol):
    """What a sink asks of the run (``run.py``'s ExportRun): where a record's contact goes, and the queue."""

    @property
    def all_lists(self) -> tuple[str, ...]: ...
    def custom_fields_for(self, properties: t.Mapping[str, t.Any]) -> list[CustomField]: ...
    def custom_properties(self) -> dict[str, str]: ...
    def sendgrid_copy(
        self, stream: str, fields: tuple[str, ...], custom: tuple[CustomField, ...]
    ) -> SendGridCopy | None: ...
    def copy_touch(self) -> t.Callable[[str], None] | None: ...
    def selected_segments(self, record: t.Mapping[str, t.Any], stream: str) -> list[str] | None: ...
    def member_lists(self, record: t.Mapping[str, t.Any], stream: str, selected: list[str]) -> tuple[str, ...]: ...
    def stamp(self, contact: dict[str, t.Any], lists: tuple[str, ...]) -> None: ...
    def queue(self, contact: dict[str, t.Any], lists: tuple[str, ...], ref: RecordRef) -> None: ...
    def queue_removal(self, email: str, list_id: str, ref: RecordRef) -> None: ...
    def queue_deletion(self, email: str, ref: RecordRef) -> None: ...
    def unchanged(self, email: str, lists: tuple[str, ...]) -> None: ...


class RunOwner(t.Protocol):
    """What a sink needs of the target that builds it (the SDK hands it to every sink)."""

    @property
    def run(self) -> ContactRun: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def report(self) -> RunReport: ...
    @property
    def cursor(self) -> RecordCursor: ...


class SendGridSink(SingerSink):
    """Maps, filters and hands each record's contact to the run's exporter.

    Batching is not done here but in the exporter, across streams, so that records of
    every stream bound for the same lists share requests: the SDK's per-sink drains
    have nothing to send. What a sink needs comes from its target (``RunOwner``): the settings,
    the report, and the run it queues contacts through (``ContactRun``); what needs SendGrid
    (custom fields created, the lists' members read) waits for ``setup``.
    """

    def __init__(
        self, target: RunOwner, stream_name: str, schema: dict[str, t.Any], key_properties: t.Sequence[str] | None
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.run = target.run
        self.settings = target.settings
        self.report = target.report
        self._properties: dict[str, t.Any] = schema.get("properties") or {}
        self._mapping = resolve_mapping(self.settings.field_mapping, self._properties)
        self.email_property = self._mapping.get("email") or ""  # "": none mapped, and no property has that name
        self.has_email = self.email_property in self._properties
        self._email_keys = tuple(k for k in self.key_names if k == self.email_property)

    @override
    def setup(self) -> None:
        """The stream's requests, once the sink is built (the SDK calls this before its first record).

        Its custom fields are resolved (and created, if asked), and SendGrid's copy of the target
        lists is read when ``skip_unchanged`` or mirror mode needs it; what the mapping leaves out
        is said once.
        """
        properties, mapping, stream_name = self._properties, self._mapping, self.stream_name
        self.mapper = ContactMapper(mapping, self.run.custom_fields_for(properties))
        shown = _names(properties)
        if not self.has_email:
            self.logger.warning(
                "Stream '%s' has no %s property for the contact email; its records will be rejected "
                "(reason 'no email property'). Map one with field_mapping.email. The stream's properties: %s",
                stream_name,
                f"'{self.email_property}'" if self.email_property else "email-like",
                shown,
            )
        else:
            self.logger.info("Stream '%s' maps SendGrid fields to properties: %s", stream_name, mapping)
        fields = tuple(f for f in mapping if f != "email" and mapping[f] in properties)
        self._copy = self.run.sendgrid_copy(stream_name, fields, tuple(self.mapper.custom_fields))
        # Whatever this stream queues for a contact, SendGrid's copy (shared by the streams) no longer has it.
        self._touch = self.run.copy_touch()
        wanted = {**mapping, **self.run.custom_properties()}
        absent = {field: prop for field, prop in wanted.items() if prop not in properties and field != "email"}
        if absent:
            self.logger.warning(
                "Stream '%s' has no property %s named in the mapping (field: property); those fields are left "
                "unchanged in SendGrid. The stream's properties: %s",
                stream_name,
                absent,
                shown,
            )

    @override
    def handle_record(self, record: dict[str, t.Any]) -> None:
        """Filter by segment, map, and queue the contact's upsert and removals (or account for it)."""
        run, report, settings = self.run, self.report, self.settings
        selected = run.selected_segments(record, self.stream_name)
        deleted = self.deleted and settings.hard_delete
        leaves = deleted or (settings.remove_non_members and run.all_lists)
        if selected is None and not leaves:
            report.count("filtered_segment")
            return
        ref = RecordRef(
            self.stream_name,
            self.cursor.number,
            self.key_names,
            tuple(map(record.get, self.key_names)),
            self._email_keys,
        )
        if not self.has_email:
            report.reject(ref, "no email property")
            return
        if selected is None or deleted:
            self._leave(record, ref, deleted)
            return
        try:
            contact, truncated, dropped = self.mapper.build(record)
        except Rejected as exc:
            report.reject(ref, exc.reason, exc.detail)
            return
        if truncated:
            report.count("truncated", truncated)
        if dropped:
            report.drop_values(ref, dropped)
        self._queue(contact, run.member_lists(record, self.stream_name, selected), ref)

    def _leave(self, record: dict[str, t.Any], ref: RecordRef, deleted: bool) -> None:
        """A leaver or a deleted record: it leaves the lists (or the account), and is counted."""
        try:
            email = normalise_email(record.get(self.email_property))
        except Rejected as exc:
            self.report.reject(ref, exc.reason, exc.detail)
            return
        if deleted and self.settings.deleted_records == "delete_contacts":
            self.run.queue_deletion(email, ref)  # from the account, every list with it
        else:  # its contact stays in SendGrid
            for list_id in self.run.all_lists:
                self.run.queue_removal(email, list_id, ref)
        if self._touch is not None:
            self._touch(email)
        self.report.count("deleted_records" if deleted else "filtered_segment")

    def _queue(self, contact: dict[str, t.Any], lists: tuple[str, ...], ref: RecordRef) -> None:
        """A member's contact: queued for its lists (or settled, if SendGrid has it so), and out of the others."""
        run = self.run
        run.stamp(contact, lists)  # mirror mode with table versions: see versions.py
        copy = self._copy
        if copy is not None and copy.is_current(contact, lists):
            run.unchanged(contact["email"], lists)  # settled at once: nothing to send
        else:
            run.queue(contact, lists, ref)
            if self._touch is not None:
                self._touch(contact["email"])
        if self.settings.remove_non_members:
            for list_id in run.all_lists:
                if list_id not in lists:
                    run.queue_removal(contact["email"], list_id, ref)
                    if self._touch is not None:
                        self._touch(contact["email"])


def _names(properties: t.Mapping[str, t.Any], most: int = 50) -> str:
    """A stream's property names for a message, the first ``most`` of them."""
    names = sorted(properties)
    return ", ".join(names[:most]) + (f", ... ({len(names) - most} more)" if len(names) > most else "")
