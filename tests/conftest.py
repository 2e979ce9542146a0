"""Shared fixtures: a fresh SendGrid emulator per test, and helpers to talk to it."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from sendgrid_emulator import SendGridEmulator
from target_sendgrid.sample import profiles, write_singer
from target_sendgrid.target import TargetSendGrid

API_KEY = "SG.test-key-0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij"


@pytest.fixture
def emulator() -> Iterator[SendGridEmulator]:
    """A fresh emulator on an ephemeral loopback port, with short job delays."""
    with SendGridEmulator(API_KEY, job_delay=0.02, seed=7) as emu:
        yield emu


class Api:
    """A thin authenticated HTTP client for the emulator, as a user's script would be."""

    def __init__(self, url: str, key: str = API_KEY) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=10, **kwargs)


@pytest.fixture
def api(emulator: SendGridEmulator) -> Api:
    return Api(emulator.url)


DATA = Path(__file__).parent / "data"


def target_config(emulator: SendGridEmulator, **overrides: Any) -> dict[str, Any]:
    """A working configuration against the emulator, with a fresh list unless given one."""
    config: dict[str, Any] = {
        "api_key": API_KEY,
        "api_url": emulator.url,
        "data_privacy_consent": True,
        "max_retries": 6,
    }
    if "list_id" not in overrides:
        config["list_id"] = emulator.create_list(f"list {len(emulator.lists)}")
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


@dataclass
class Run:
    """The outcome of one in-process run of the target."""

    target: TargetSendGrid
    states: list[dict]
    error: BaseException | None

    @property
    def summary(self) -> dict[str, Any]:
        return self.target.report.summary(self.target.client.requests_sent if self.target.client else 0)


def run_target(config: dict[str, Any], lines: str | Iterable[str], *, expect_error: bool = False) -> Run:
    """Run the target in this process on Singer lines (or a tests/data scenario name)."""
    if isinstance(lines, str):
        lines = (DATA / lines).read_text().splitlines(keepends=True)
    target = TargetSendGrid(config=config)
    out = io.StringIO()
    error = None
    with contextlib.redirect_stdout(out):
        try:
            target.listen(_LineFile(lines))
        except Exception as exc:
            if not expect_error:
                raise
            error = exc
    if expect_error and error is None:
        raise AssertionError("the run was expected to fail")
    states = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return Run(target, states, error)


def target_command(config_path: Path, input_path: Path | None = None) -> list[str]:
    """The target's command line, as a shell or an orchestrator runs it."""
    command = [sys.executable, "-m", "target_sendgrid.target", "--config", str(config_path)]
    return command + (["--input", str(input_path)] if input_path else [])


def run_cli(config: dict[str, Any], scenario: str | Path, tmp_path: Path, timeout: float = 300) -> Cli:
    """Run the target's CLI on a tests/data scenario (or a file); its STATE lines are parsed."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    path = scenario if isinstance(scenario, Path) else DATA / scenario
    done = subprocess.run(
        target_command(config_path, path),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return Cli(done.returncode, done.stdout, done.stderr)


@dataclass
class Cli:
    """The outcome of one run of the target's CLI."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def states(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def summary(self) -> dict[str, Any]:
        return logged_summary(self.stderr)


def logged_summary(stderr: str, outcomes: tuple[str, ...] = ("finished", "failed", "interrupted")) -> dict[str, Any]:
    """The figures of the one ``Export <outcome>: {...}`` line a run logs."""
    [line] = [x for x in stderr.splitlines() if any(f"Export {o}" in x for o in outcomes)]
    return json.loads(line.split(": ", 1)[1])


class _LineFile:
    """An iterable of lines that the SDK's reader accepts as its input file."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = lines

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            yield line if line.endswith("\n") else line + "\n"


def singer_lines(count: int, *, stream: str = "profiles", state_every: int = 1000, seed: int = 42) -> list[str]:
    """Generated profiles as a tap would send them."""
    out = io.StringIO()
    write_singer(out, count, stream=stream, seed=seed, state_every=state_every)
    return out.getvalue().splitlines(keepends=True)


def expected_emails(count: int, *, start: int = 1, seed: int = 42) -> set[str]:
    """The valid emails among generated profiles ``start``..``count``, as SendGrid stores them."""
    emails = _generated_emails(seed, max(count, 100_000))
    return {e for e in emails[start - 1 : count] if e}


@functools.lru_cache
def _generated_emails(seed: int, count: int) -> tuple[str | None, ...]:
    out = []
    for record in profiles(count, seed):
        email = (record["email"] or "").strip().lower()
        out.append(email if "@" in email else None)
    return tuple(out)
