"""Gzip judged from the bytes: files SendGrid and taps hand us may or may not be compressed, whatever they say."""

from __future__ import annotations

import gzip
import io
import typing as t
from typing import IO

_GZIP_MAGIC = b"\x1f\x8b"


def maybe_gunzipped(raw: IO[bytes]) -> IO[bytes]:
    """The stream's bytes, decompressed if its first two bytes are gzip's; nothing is read twice."""
    # A file object with peek() (a BufferedReader) as it is; anything else wrapped in one.
    buffered = t.cast(io.BufferedReader, raw) if hasattr(raw, "peek") else io.BufferedReader(t.cast(t.Any, raw))
    if buffered.peek(2)[:2] == _GZIP_MAGIC:
        return t.cast(IO[bytes], gzip.GzipFile(fileobj=buffered))
    return t.cast(IO[bytes], buffered)
