"""The run's own files kept private: written owner-only and never through a link, and emails named by hash."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from pathlib import Path
from typing import IO, Any

from singer_sdk.exceptions import ConfigValidationError

logger = logging.getLogger(__name__)


def email_hash(value: Any) -> str:
    """``sha256:<hex>`` of an address's trimmed, lower-cased text: how files name an email, never the address."""
    return "sha256:" + hashlib.sha256(str(value).strip().lower().encode()).hexdigest()


def open_private(path: Path, append: bool) -> IO[bytes]:
    """Open a file of the run's for writing, readable by its owner only (0600), never through a link."""
    # Never through a symbolic link: it could point at any file the run may write.
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)  # also when an earlier tool created it readable by others
    return os.fdopen(fd, "ab" if append else "wb")


def check_writable(path: Path, setting: str) -> None:
    """Refuse, at start, a file setting's path that is a link, not a file, or cannot be written."""

    def refuse(why: str) -> ConfigValidationError:
        return ConfigValidationError(setting, errors=[f"{setting} {path}: {why}."])

    try:
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
            logger.warning("%s %s: its folder did not exist and was created", setting, path)
    except OSError as exc:
        raise refuse(f"its folder cannot be created ({exc.strerror})") from None
    try:
        found = path.lstat()
    except FileNotFoundError:
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise refuse("its folder is not writable") from None
        return
    if stat.S_ISLNK(found.st_mode):
        raise refuse("is a symbolic link; name the file itself")
    if not stat.S_ISREG(found.st_mode):
        raise refuse("is not a regular file")
    if not os.access(path, os.W_OK):
        raise refuse("is not writable")
