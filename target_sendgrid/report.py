"""Accounting for every record of a run: exported, filtered, rejected, and the summary."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec


@dataclass(frozen=True, slots=True)
class RecordRef:
    """What is kept of a record to report it if it is not exported: never its email.

    One is held per contact in every batch in flight, so it is slotted and keeps the key
    values as a tuple beside the stream's shared tuple of key names.
    """

    stream: str
    number: int  # the record's position among the RECORD messages of the input
    key_names: tuple[str, ...] = ()
    key_values: tuple[Any, ...] = ()

    @property
    def key(self) -> dict[str, Any]:
        """The record's key properties and their values."""
        return dict(zip(self.key_names, self.key_values, strict=True))


class RunReport:
    """Thread-safe tallies of a run, and the rejected-records file (JSON Lines)."""

    def __init__(self, rejected_records_path: str | None = None) -> None:
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self._path = Path(rejected_records_path) if rejected_records_path else None
        self._file: IO[bytes] | None = None

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a tally (records_read, filtered_segment, created, updated, jobs, ...)."""
        if n:
            with self._lock:
                self.counts[name] += n

    def set(self, name: str, n: int) -> None:
        """Set a tally outright (records_read, known only to the reader)."""
        with self._lock:
            self.counts[name] = n

    def reject(self, ref: RecordRef, reason: str, detail: str | None = None) -> None:
        """Account for a record that will not be exported, and write it to the file."""
        with self._lock:
            self.rejected[reason] += 1
            if self._path is None:
                return
            if self._file is None:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self._path.open("ab")
            line = {"stream": ref.stream, "record_number": ref.number, "key": ref.key, "reason": reason}
            if detail:
                line["detail"] = detail
            self._file.write(msgspec.json.encode(line, enc_hook=str) + b"\n")
            self._file.flush()

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
                "created": c["created"],
                "updated": c["updated"],
                "merged_duplicates": c["superseded"],
                "removed_from_lists": c["removed"],
                "deleted_records": c["deleted_records"],
                "filtered_by_segment": c["filtered_segment"],
                "filtered_by_stream_map": c["filtered_map"],
                "not_sent": c["not_sent"],
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
