"""The command line: config files checked with a clear message, expected failures shown without a traceback.

The SDK logs every uncaught exception with its traceback, and a config file that is not JSON
fails deep in its loader without naming the file. A user's mistake (a wrong key, a config file
that is not JSON, a CSV piped in) deserves one line saying what to fix; a traceback is for bugs,
and for anyone who asks for it with ``TARGET_SENDGRID_LOGLEVEL=DEBUG``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import stat
import sys
import time
import typing as t
import warnings
from pathlib import Path
from types import TracebackType

import click
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.plugin_base import SingerCommand
from typing_extensions import override


class SendGridCommand(SingerCommand):
    """The SDK's command, with expected failures logged as one line (the traceback at DEBUG).

    ``expected_errors`` is set by the target: failures that come from the input, the settings,
    the network or SendGrid's answers, never from a bug here.
    """

    expected_errors: tuple[type[BaseException], ...] = ()
    reads_stdin = True  # False when --input names a file: standard input is then not the tap's

    @override
    def invoke(self, ctx: click.Context) -> t.Any:
        """The SDK's invoke (plugin_base.py, SingerCommand.invoke), each refused setting in one line.

        The SDK follows a refused config's errors with "Config validation failed", which is
        wrong for a refusal that is not the schema's (a list that does not exist). A run that fails,
        either way, first reads out its piped input (``drain_pipe``); the exits the run chooses
        (``--about``, a signal's 130 or 143) are ``SystemExit``, and leave it alone.
        """
        logging.captureWarnings(capture=True)
        warnings.filterwarnings("once", category=DeprecationWarning)
        sys.excepthook = self.excepthook
        self.reads_stdin = ctx.params.get("file_input") is None
        try:
            try:
                return click.Command.invoke(self, ctx)
            except ConfigValidationError as exc:
                for error in exc.errors or [str(exc)]:
                    self.logger.error("%s", error)
                ctx.exit(1)
        except Exception:  # a refusal's exit 1, or a failure the excepthook reports once this returns
            if self.reads_stdin:
                drain_pipe(sys.stdin, DRAIN_SECONDS)
            raise

    @override
    def excepthook(
        self, exc_type: type[BaseException], exc_value: BaseException, exc_traceback: TracebackType | None
    ) -> None:
        """Log an expected failure as its message alone; anything else as the SDK does."""
        if not issubclass(exc_type, self.expected_errors):
            super().excepthook(exc_type, exc_value, exc_traceback)
        else:
            self.logger.error("%s", exc_value)
            self.logger.debug("Where it failed:", exc_info=(exc_type, exc_value, exc_traceback))


# How long a failed run keeps reading its piped input before it exits: long enough for a tap whose
# output is already written (Meltano holds it in a buffer), short enough not to delay a failure.
DRAIN_SECONDS = 3.0


def drain_pipe(stream: t.TextIO, seconds: float) -> None:
    """Read and discard what is left in a piped ``stream``, until it ends or ``seconds`` pass.

    A failed run exits with input unread. The process writing into the pipe then fails on its
    own: a tap with a ``BrokenPipeError`` traceback, or ``meltano run`` with a hundred lines of one
    after the target's one-line error. Reading what is already on its way lets the writer finish,
    so the target's error stays the last word. Files and terminals are left alone.
    """
    try:
        descriptor = stream.fileno()
        if not stat.S_ISFIFO(os.fstat(descriptor).st_mode):
            return
    except (OSError, ValueError):  # closed, or not backed by a descriptor (a test's StringIO)
        return
    deadline = time.monotonic() + seconds
    with contextlib.suppress(OSError):
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([descriptor], [], [], left)
            if not ready or not os.read(descriptor, 1 << 20):
                return


def check_config_files(paths: tuple[str, ...]) -> None:
    """Raise click.BadParameter naming the file when a --config file cannot be read or is not a JSON object."""
    for path in paths:
        if path == "ENV":
            continue
        try:
            value = json.loads(Path(path).read_text())
        except OSError as exc:
            raise click.BadParameter(f"config file {path}: {exc.strerror}") from None
        except ValueError as exc:  # the position only: a config file holds the key
            where = f"line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "its text"
            raise click.BadParameter(f"config file {path} is not valid JSON (at {where}).") from None
        if not isinstance(value, dict):
            raise click.BadParameter(f"config file {path} must hold a JSON object of settings.")
