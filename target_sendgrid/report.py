"""Accounting for every record of a run: exported, filtered, rejected, and the summary."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import IO, Any, NamedTuple

import msgspec

from target_sendgrid.files.private import check_writable, email_hash, open_private

logger = logging.getLogger(__name__)

MAX_LOGGED_DROPS = 100  # dropped custom values logged one by one; the rest are counted and in the file


class RecordRef(NamedTuple):
    """What is kept of a record to report it if it is not exported: never its email.

    One is made per record and held per contact in every batch in flight, so it is a named
    tuple (quick to make, small) that keeps the key values beside the stream's shared names.
    """

    stream: str
    number: int  # the record's position among the RECORD messages of the input
    key_names: tuple[str, ...] = ()
    key_values: tuple[Any, ...] = ()
    email_keys: tuple[str, ...] = ()  # key properties that hold the email: written hashed

    def safe_key(self) -> tuple[dict[str, Any], list[str]]:
        """The key as the rejected-records file shows it, and the names whose values are hashed.

        An email (the stream's email property, or any value with an ``@``) becomes
        ``sha256:<hex>`` of its trimmed, lower-cased text: stable, so a user can find a record
        by hashing the address, and never the address itself.
        """
        key: dict[str, Any] = {}
        hashed: list[str] = []
        for name, value in zip(self.key_names, self.key_values, strict=True):
            if value is not None and (name in self.email_keys or (isinstance(value, str) and "@" in value)):
                key[name] = email_hash(value)
                hashed.append(name)
            else:
                key[name] = value
        return key, hashed


class RunReport:
    """Thread-safe tallies of a run, and the rejected-records file (JSON Lines).

    The file is appended to across runs; each line carries the ``run_id`` of its run, which
    the run's log names. It is created readable by its owner only (0600).
    """

    def __init__(self, rejected_records_path: str | None = None) -> None:
        self.started = time.monotonic()
        self.run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.per_list: Counter[str] = Counter()  # list id ("" for none) -> contacts exported to it
        self.unchanged_per_list: Counter[str] = Counter()  # list id ("" for none) -> contacts not sent
        self._path = Path(rejected_records_path) if rejected_records_path else None
        self._file: IO[bytes] | None = None
        if self._path is not None:
            check_writable(self._path, "rejected_records_path")

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a tally (records_read, filtered_segment, created, updated, jobs, ...)."""
        if n:
            with self._lock:
                self.counts[name] += n

    def count_lists(self, list_ids: tuple[str, ...], n: int) -> None:
        """Add ``n`` contacts exported to each of ``list_ids`` (none: into no list)."""
        with self._lock:
            for list_id in list_ids or ("",):
                self.per_list[list_id] += n

    def count_unchanged(self, list_ids: tuple[str, ...]) -> None:
        """A contact not sent, SendGrid having it already in each of ``list_ids`` (skip_unchanged)."""
        with self._lock:
            self.counts["unchanged"] += 1
            for list_id in list_ids or ("",):
                self.unchanged_per_list[list_id] += 1

    def set(self, name: str, n: int) -> None:
        """Set a tally outright (records_read, known only to the reader)."""
        with self._lock:
            self.counts[name] = n

    def reject(self, ref: RecordRef, reason: str, detail: str | None = None) -> None:
        """Account for a record that will not be exported, and write it to the file."""
        with self._lock:
            self.rejected[reason] += 1
            self._write(ref, reason, detail)

    def drop_values(self, ref: RecordRef, dropped: list[tuple[str, str]]) -> None:
        """Custom values an exported record lost (field, why): counted, logged and written one by one.

        ``why`` names the value's kind, never the value. The first ``MAX_LOGGED_DROPS`` are logged;
        every one is in the file.
        """
        with self._lock:
            for field, why in dropped:
                self.counts["custom_values_dropped"] += 1
                logged = self.counts["custom_values_dropped"]
                if logged <= MAX_LOGGED_DROPS:
                    logger.warning(
                        "Record %d of stream '%s': custom field %s dropped: %s", ref.number, ref.stream, field, why
                    )
                if logged == MAX_LOGGED_DROPS:
                    logger.warning("Further dropped custom values are counted (custom_values_dropped), not logged")
                self._write(ref, "custom value dropped", f"{field}: {why}")

    def _write(self, ref: RecordRef, reason: str, detail: str | None) -> None:
        """One line of the rejected-records file, if there is one (the caller holds the lock)."""
        if self._path is None:
            return
        if self._file is None:
            self._file = open_private(self._path, append=True)
        key, hashed = ref.safe_key()
        line: dict[str, Any] = {"run_id": self.run_id, "stream": ref.stream, "record_number": ref.number}
        line["key"] = key
        if hashed:
            line["key_hashed"] = hashed
        line["reason"] = reason
        if detail:
            line["detail"] = detail
        self._file.write(msgspec.json.encode(line, enc_hook=str) + b"\n")
        self._file.flush()

    @property
    def path(self) -> Path | None:
        """The rejected-records file, if one is configured."""
        return self._path

    def close(self) -> None:
        """Close the rejected-records file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def summary(self, requests_sent: int, dry_run: bool = False) -> dict[str, Any]:
        """The figures of the run, as logged at its end."""
        with self._lock:
            c = self.counts
            return {
                "records_read": c["records_read"],
                ("would_export" if dry_run else "exported"): c["exported"],
                "unchanged": c["unchanged"],
                "created": c["created"],
                "updated": c["updated"],
                "merged_duplicates": c["superseded"],
                "removed_from_lists": c["removed"],
                "removals_not_looked_up": c["removals_not_looked_up"],
                "deleted_records": c["deleted_records"],
                "deleted_contacts": c["deleted_contacts"],
                "filtered_by_segment": c["filtered_segment"],
                "filtered_by_stream_map": c["filtered_map"],
                "not_sent": c["not_sent"],
                "stopped_run": c["stopped_run"],
                "rejected": sum(self.rejected.values()),
                "rejected_by_reason": dict(self.rejected),
                "values_truncated": c["truncated"],
                "custom_values_dropped": c["custom_values_dropped"],
                "requests": requests_sent,
                "upserts": c["upserts"],
                "jobs": c["jobs"],
                "jobs_resubmitted": c["jobs_resubmitted"],
                "elapsed_seconds": round(time.monotonic() - self.started, 2),
            }
