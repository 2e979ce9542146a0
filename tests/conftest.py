"""Fixtures (a fresh emulator per test, an authenticated client for it) and the one launcher of the CLI.

Every test that runs the target as a user would (a subprocess) builds its command line with
:func:`target_command`, and most run it with :func:`run_cli`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from sendgrid_emulator import SendGridEmulator
from tests.meltano_project import MeltanoProject, make_project
from tests.support import API_KEY, DATA, Api, HostileSendGrid

# The combination test's budget (tests/integration/test_combinations.py): CI draws a few hundred cases in
# a few minutes; --hypothesis-profile=thorough draws thousands when asked (the README says how).
settings.register_profile(
    "ci", max_examples=200, derandomize=True, print_blob=True, database=None
)  # no .hypothesis/ in the clone
settings.register_profile("thorough", max_examples=3000, print_blob=True)
settings.register_profile("quick", max_examples=25, database=None)
settings.register_profile("explore", max_examples=800, print_blob=True)
settings.load_profile("ci")
# Hypothesis keeps its files (a Unicode table, the example database of the other profiles) outside the
# clone, so that the tests leave it as they found it; HYPOTHESIS_STORAGE_DIRECTORY chooses another place.
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "target-sendgrid-hypothesis")


@pytest.fixture
def emulator() -> Iterator[SendGridEmulator]:
    """A fresh emulator on an ephemeral loopback port, with short job delays."""
    with SendGridEmulator(API_KEY, job_delay=0.02, seed=7) as emu:
        yield emu


@pytest.fixture(scope="session")
def meltano_project(tmp_path_factory: pytest.TempPathFactory) -> MeltanoProject:
    """The repository's Meltano project, copied to a temporary folder, its plugins installed once."""
    return make_project(tmp_path_factory.mktemp("meltano") / "project")


@pytest.fixture
def api(emulator: SendGridEmulator) -> Api:
    return Api(emulator.url)


@pytest.fixture
def hostile(emulator: SendGridEmulator) -> Iterator[HostileSendGrid]:
    """The emulator behind a proxy that answers what a test scripts (see HostileSendGrid)."""
    proxy = HostileSendGrid(emulator)
    yield proxy
    proxy.stop()


def target_command(config_path: Path | None = None, input_path: Path | None = None, *args: str) -> list[str]:
    """The target's command line, as a shell or an orchestrator runs it."""
    command = [sys.executable, "-m", "target_sendgrid.target", *args]
    command += ["--config", str(config_path)] if config_path else []
    return command + (["--input", str(input_path)] if input_path else [])


def about(*args: str) -> subprocess.CompletedProcess:
    """``target-sendgrid --about`` with these arguments; it must succeed."""
    return subprocess.run(target_command(None, None, "--about", *args), capture_output=True, text=True, check=True)


def run_cli(
    config: dict[str, Any],
    scenario: str | Path,
    tmp_path: Path,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> Cli:
    """Run the target's CLI on a tests/data scenario (or a file), with more environment if given."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    path = scenario if isinstance(scenario, Path) else DATA / scenario
    done = subprocess.run(
        target_command(config_path, path),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
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
    [line] = [x for x in stderr.splitlines() if any(f"Export {o}" in x or f"Plan {o} (" in x for o in outcomes)]
    return json.loads(line.split(": ", 1)[1])
