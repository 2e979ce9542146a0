"""Gzip judged from the bytes: files SendGrid and taps hand us may or may not be compressed, whatever they say."""

from __future__ import annotations

import gzip
import io
from typing import IO

_GZIP_MAGIC = b"\x1f\x8b"


def maybe_gunzipped(raw: IO[bytes]) -> IO[bytes]:
    """The stream's bytes, decompressed if its first two bytes are gzip's; nothing is read twice."""
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
    if buffered.peek(2)[:2] == _GZIP_MAGIC:  # type: ignore[attr-defined]
        return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
    return buffered
