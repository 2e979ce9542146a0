"""Shared fixtures: a fresh SendGrid emulator per test, and helpers to talk to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from target_sendgrid.emulator import SendGridEmulator

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
