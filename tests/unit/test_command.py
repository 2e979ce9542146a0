"""The command line's own handling: config files named when unreadable, expected failures in one line, signals."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from target_sendgrid.lifecycle.failures import ExportError, Interrupted
from target_sendgrid.lifecycle.signals import ShutdownGuard
from target_sendgrid.singer import command as command_module
from target_sendgrid.singer.command import DRAIN_SECONDS, SendGridCommand, check_config_files
from target_sendgrid.target import TargetSendGrid


@pytest.fixture
def command() -> Iterator[SendGridCommand]:
    """The target's command; what its invoke changes process-wide (excepthook, warnings) is put back after."""
    hook = sys.excepthook
    built = TargetSendGrid.get_singer_command()
    assert isinstance(built, SendGridCommand)
    with warnings.catch_warnings():
        yield built
    sys.excepthook = hook
    logging.captureWarnings(capture=False)


# --- config files --------------------------------------------------------------------------------


def test_a_config_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    with pytest.raises(click.BadParameter, match=f"config file {missing}: No such file or directory"):
        check_config_files((str(missing),))


def test_a_config_file_that_is_not_json_is_named_by_position_never_by_its_text(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{\n  "api_key": "SG.secret-key",\n  "list_id": \n}')
    with pytest.raises(click.BadParameter) as refused:
        check_config_files((str(path),))
    assert "is not valid JSON (at line 4 column 1)" in str(refused.value) and "secret" not in str(refused.value)


def test_a_config_file_must_hold_an_object(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('["api_key"]')
    with pytest.raises(click.BadParameter, match="must hold a JSON object of settings"):
        check_config_files((str(path),))


def test_config_from_the_environment_is_not_a_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"api_key": "SG.x"}))
    check_config_files(("ENV", str(path)))  # nothing raised: ENV is no file, the other is an object


# --- failures as one line ----------------------------------------------------------------------------


def test_an_expected_failure_is_one_line_with_the_traceback_only_at_debug(
    command: SendGridCommand, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        command.excepthook(ExportError, ExportError("nothing was sent"), None)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["nothing was sent"] and errors[0].exc_info is None
    assert any(r.levelno == logging.DEBUG and r.exc_info for r in caplog.records)


def test_an_unexpected_failure_keeps_its_traceback(command: SendGridCommand, caplog: pytest.LogCaptureFixture) -> None:
    """A bug is not an expected failure: the SDK logs it with its traceback."""
    with caplog.at_level(logging.ERROR):
        command.excepthook(ZeroDivisionError, ZeroDivisionError("division by zero"), None)
    [record] = caplog.records
    assert record.getMessage() == "division by zero" and record.exc_info is not None


def test_refused_settings_are_one_line_each_and_exit_1(
    command: SendGridCommand, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A config the settings refuse: each refusal logged alone, without the SDK's "Config validation failed"."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"api_key": "SG.x", "list_id": "L", "data_privacy_consent": True, "batch_sise": 5}))
    with caplog.at_level(logging.ERROR):
        result = CliRunner().invoke(command, ["--config", str(path)], input="")
    assert result.exit_code == 1
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert messages and any("batch_sise" in m for m in messages)
    assert not any("Config validation failed" in m for m in messages)


@pytest.mark.parametrize(
    ("settings", "given", "drained"),
    [
        ({"batch_sise": 5}, [], 1),  # refused settings: exit 1
        ({}, [], 1),  # a failure the excepthook reports: input that is not Singer
        ({}, ["--input"], 0),  # the same, read from a file: standard input is not the tap's
        ({}, ["--about"], 0),  # an exit the run chose
    ],
)
def test_a_failed_run_reads_out_its_piped_input_once(
    command: SendGridCommand,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, Any],
    given: list[str],
    drained: int,
) -> None:
    calls: list[float] = []
    monkeypatch.setattr(command_module, "drain_pipe", lambda stream, seconds: calls.append(seconds))
    config = tmp_path / "config.json"
    base = {"api_key": "SG.x", "list_id": "3f1c2a9e-5b7d-4c1e-9a2b-7d8e6f5a4b3c", "data_privacy_consent": True}
    config.write_text(json.dumps({**base, "dry_run": True, **settings}))
    (tmp_path / "input.txt").write_text("not a Singer message\n")
    args = [a.replace("--input", f"--input={tmp_path / 'input.txt'}") for a in given]
    result = CliRunner().invoke(command, ["--config", str(config), *args], input="not a Singer message\n")
    assert result.exit_code == (0 if "--about" in given else 1), result.output
    assert calls == [DRAIN_SECONDS] * drained


# --- signals -------------------------------------------------------------------------------------------


def test_the_first_signal_is_noticed_at_the_next_safe_point() -> None:
    guard = ShutdownGuard()
    guard.check()  # no signal yet
    guard.handle(signal.SIGTERM, None)  # the reader was not waiting: nothing raised in the handler
    with pytest.raises(Interrupted) as stopped:
        guard.check()
    assert stopped.value.exit_code == 128 + signal.SIGTERM


def test_the_first_signal_while_waiting_for_input_stops_the_wait() -> None:
    guard = ShutdownGuard()
    guard.safe_to_raise = True
    with pytest.raises(Interrupted) as stopped:
        guard.handle(signal.SIGINT, None)
    assert stopped.value.signum == signal.SIGINT


def test_a_second_signal_exits_at_once(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    class Exited(Exception):
        pass

    def exit_now(code: int) -> None:
        raise Exited(code)

    monkeypatch.setattr(os, "_exit", exit_now)
    guard = ShutdownGuard()
    guard.handle(signal.SIGTERM, None)
    with pytest.raises(Exited) as exited:
        guard.handle(signal.SIGINT, None)
    assert exited.value.args == (128 + signal.SIGINT,)
    assert "Second signal (SIGINT): exiting at once" in capsys.readouterr().err
