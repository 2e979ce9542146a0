"""Helpers the tests share: the emulator's key, scenario files, configs, in-process runs, generated input.

Test modules import from here (and the CLI launcher from ``conftest``), never from one another.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import shutil
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
ROOT = Path(__file__).parent.parent


class Api:
    """A thin authenticated HTTP client for the emulator, as a user's script would be."""

    def __init__(self, url: str, key: str = API_KEY) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=10, **kwargs)


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


def run_target(
    config: dict[str, Any],
    lines: str | Iterable[str],
    *,
    expect_error: bool = False,
    target: type[TargetSendGrid] = TargetSendGrid,
) -> Run:
    """Run the target (or a subclass) in this process on Singer lines (or a tests/data scenario name)."""
    if isinstance(lines, str):
        lines = (DATA / lines).read_text().splitlines(keepends=True)
    plugin = target(config=config)
    out = io.StringIO()
    error = None
    with contextlib.redirect_stdout(out):
        try:
            plugin.listen(_LineFile(lines))
        except Exception as exc:
            if not expect_error:
                raise
            error = exc
    if expect_error and error is None:
        raise AssertionError("the run was expected to fail")
    states = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return Run(plugin, states, error)


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


# Members a list holds before a run, for the removal tests.
PREFILLED = ["ann@example.com", "bo@example.com", "carl@example.com", "dave@example.com"]


def prefill(emulator: SendGridEmulator, api: Api, list_id: str, emails: list[str]) -> None:
    """Put these emails in a list, as someone else (or an earlier run) did, and wait for the job."""
    api("PUT", "/v3/marketing/contacts", json={"list_ids": [list_id], "contacts": [{"email": e} for e in emails]})
    emulator.wait_for_jobs()


# The shapes of contact exports SendGrid may serve (see "Export files" in the API notes).
EXPORT_VARIANTS = {
    "gzip-json-contact_id": {},
    "gzip-json-upper-keys": {"json_keys": "upper"},
    "gzip-csv": {"file_type": "csv"},
    "plain-json": {"gzip": False},
    "plain-csv": {"gzip": False, "file_type": "csv"},
    "split-files": {"split_bytes": 700},
}


def meltano() -> str:
    """The meltano executable beside this Python; skips the test without it (fails it in CI)."""
    found = shutil.which("meltano", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("meltano is not installed; scripts/test installs it")
        pytest.skip("meltano is not installed (scripts/test installs it)")
    return found


# Where a record can end up: each record read is in exactly one of these (contacts merged into an
# earlier record of their email count as merged_duplicates).
RECORD_BUCKETS = (
    "exported",
    "unchanged",
    "merged_duplicates",
    "deleted_records",
    "filtered_by_segment",
    "filtered_by_stream_map",
    "not_sent",
    "stopped_run",
    "rejected",
)


def accounted(summary: dict[str, Any]) -> int:
    """The records a summary puts in a bucket (a dry run's would_export stands for exported)."""
    return sum(summary.get(b, 0) for b in RECORD_BUCKETS) + summary.get("would_export", 0)
