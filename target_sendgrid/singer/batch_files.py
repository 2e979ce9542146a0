"""Records from BATCH messages: JSON Lines files, gzip or not, on any storage the SDK supports.

A singer-sdk tap run with ``batch_config`` writes its records to files and sends their URLs.
Each file is read one line at a time (memory stays bound by the batch), and each record is
then handed to the same path as a RECORD message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import msgspec
from singer_sdk.contrib.msgspec import decoder
from singer_sdk.exceptions import InvalidInputLine

# The SDK's own batch types (as its target_base uses them), so every storage it supports works.
from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchFileFormat, StorageTarget

from target_sendgrid.files.gunzip import maybe_gunzipped


def batch_records(stream: str, encoding: dict[str, Any], manifest: list[str]) -> Iterator[dict[str, Any]]:
    """Every record of a BATCH message's files, in order; InvalidInputLine for what cannot be read.

    Each manifest entry is a URL (``file://``, ``s3://``, ...) opened with the SDK's storage helper.
    """
    parsed = BaseBatchFileEncoding.from_dict(encoding)
    if parsed.format != BatchFileFormat.JSONL:
        raise InvalidInputLine(
            f"BATCH message for stream '{stream}' uses the {parsed.format!s} format: target-sendgrid reads "
            "JSON Lines batch files (gzip-compressed or not). Set the tap's batch_config encoding format to jsonl."
        )
    for url in manifest:
        head, tail = StorageTarget.split_url(url)
        with StorageTarget.from_url(head).open(tail, mode="rb") as raw:
            # Compression is judged from the bytes, not trusted from the message.
            yield from _lines(stream, url, maybe_gunzipped(raw))


def _lines(stream: str, url: str, file: IO[bytes]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(file, start=1):
        if not line.strip():
            continue
        try:
            record = decoder.decode(line)
        except msgspec.DecodeError as exc:  # not JSON there (msgspec's ValidationError is one too)
            raise InvalidInputLine(
                f"BATCH file of stream '{stream}', line {number}: not a JSON record ({type(exc).__name__}); "
                f"file {url.rsplit('/', 1)[-1]}"
            ) from None
        if not isinstance(record, dict):
            raise InvalidInputLine(f"BATCH file of stream '{stream}', line {number}: not a JSON object")
        yield record
