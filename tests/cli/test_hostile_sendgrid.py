"""A hostile SendGrid: answers that are not what SendGrid gives never pass for success, and never leak.

The emulator sits behind a loopback proxy (tests.support.HostileSendGrid) that answers some
requests as each test scripts: redirects, unknown statuses, addresses echoed in errors,
implausible rate-limit resets.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sendgrid_emulator import SendGridEmulator
from tests.conftest import run_cli
from tests.support import API_KEY, PREFILLED, Api, HostileSendGrid, prefill, respond, target_config


@pytest.fixture
def elsewhere(emulator: SendGridEmulator) -> Iterator[HostileSendGrid]:
    """Where a redirect points: a server that must never hear from the target."""
    proxy = HostileSendGrid(emulator)
    proxy.answer("PUT", ".", respond(202, {"job_id": "stolen"}))
    proxy.answer("GET", ".", respond(200, b"{}"))
    yield proxy
    proxy.stop()


def config_for(hostile: HostileSendGrid, emulator: SendGridEmulator, **overrides: object) -> dict:
    return {**target_config(emulator, **overrides), "api_url": hostile.url}


def errors(stderr: str) -> list[str]:
    return [line.split(" | ")[-1] for line in stderr.splitlines() if "ERROR" in line]


def test_a_redirected_upsert_is_not_followed_and_the_contacts_go_nowhere(
    hostile: HostileSendGrid, elsewhere: HostileSendGrid, emulator: SendGridEmulator, tmp_path: Path
) -> None:
    hostile.answer("PUT", "^/v3/marketing/contacts$", respond(307, b"", {"Location": elsewhere.url + "/steal?sig=x"}))
    run = run_cli(config_for(hostile, emulator), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 1
    assert errors(run.stderr) == [
        "PUT /v3/marketing/contacts: SendGrid answered a redirect (HTTP 307), which is not followed"
    ]
    assert elsewhere.requests == []  # no connection was attempted where the redirect pointed
    assert "sig=x" not in run.stderr and run.states == []
    assert run.summary["exported"] == 0 and run.summary["not_sent"] == 4


def test_a_redirected_export_download_is_not_followed_and_mirror_removes_nothing(
    hostile: HostileSendGrid, elsewhere: HostileSendGrid, emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    config = config_for(hostile, emulator, segments=["vip"], sync_mode="mirror", mirror_max_removal_fraction=0.9)
    prefill(emulator, api, config["list_id"], PREFILLED)
    hostile.answer(
        "GET", "^/_emulator/downloads/", respond(302, b"", {"Location": elsewhere.url + "/x?X-Amz-Signature=s"})
    )
    run = run_cli(config, "leavers.singer", tmp_path)
    assert run.returncode == 1
    assert any("download of an export url was redirected (HTTP 302): not followed" in e for e in errors(run.stderr))
    assert elsewhere.requests == [] and "X-Amz-Signature" not in run.stderr
    # Mirror removed no stale member (dave is in no record); carl left by his own deleted record.
    assert "dave@example.com" in emulator.list_emails(config["list_id"])
    assert run.summary["removed_from_lists"] == 1


def test_an_unknown_job_status_is_not_success(
    hostile: HostileSendGrid, emulator: SendGridEmulator, tmp_path: Path
) -> None:
    hostile.answer("GET", "^/v3/marketing/contacts/imports/", respond(200, {"id": "j", "status": "processing"}))
    run = run_cli(config_for(hostile, emulator, job_timeout_seconds=2), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 1
    assert any("still 'processing' (not a finished status) after 2s" in e for e in errors(run.stderr))
    assert run.states == []  # SendGrid confirmed nothing: no STATE past the job
    assert run.summary["exported"] == 0 and run.summary["not_sent"] == 4


def test_an_address_sendgrid_echoes_never_reaches_a_log_or_the_rejected_records_file(
    hostile: HostileSendGrid, emulator: SendGridEmulator, tmp_path: Path
) -> None:
    echoed = {"errors": [{"field": "contacts[0].email", "message": "email 'ann@example.com' is not valid"}]}
    hostile.answer("PUT", "^/v3/marketing/contacts$", respond(400, echoed), times=1)
    rejected = tmp_path / "rejected.jsonl"
    run = run_cli(config_for(hostile, emulator, rejected_records_path=str(rejected)), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    [line] = [json.loads(x) for x in rejected.read_text().splitlines() if "rejected by SendGrid" in x]
    assert line["detail"] == "email <email> is not valid"
    assert "ann@example.com" not in rejected.read_text() + run.stderr
    assert run.summary["rejected_by_reason"]["rejected by SendGrid"] == 1


def test_a_rate_limit_reset_that_is_no_number_waits_a_bounded_time_and_says_so(
    hostile: HostileSendGrid, emulator: SendGridEmulator, tmp_path: Path
) -> None:
    hostile.answer(
        "PUT", "^/v3/marketing/contacts$", respond(429, {"errors": []}, {"x-ratelimit-reset": "nan"}), times=1
    )
    started = time.monotonic()
    run = run_cli(config_for(hostile, emulator), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert 4 < time.monotonic() - started < 60
    assert "Rate limited, with a reset SendGrid gave as 'nan': waiting 5s" in run.stderr
    assert run.summary["exported"] == 4
    assert API_KEY not in run.stderr


def test_no_log_line_at_debug_carries_a_download_links_query(
    hostile: HostileSendGrid, emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    config = config_for(hostile, emulator, skip_unchanged=True)
    prefill(emulator, api, config["list_id"], PREFILLED)

    def signed_export(handler: Any) -> None:
        """The export as the emulator answers it, its links pre-signed like an object store's."""
        answer = requests.get(emulator.url + handler.path, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
        body = answer.json()
        body["urls"] = [u.replace(emulator.url, hostile.url) + "?X-Amz-Signature=s3cr3t" for u in body.get("urls", [])]
        respond(200, body)(handler)

    hostile.answer("GET", "^/v3/marketing/contacts/exports/", signed_export)
    run = run_cli(config, "profiles_mixed.singer", tmp_path, env={"TARGET_SENDGRID_LOGLEVEL": "DEBUG"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert any("/_emulator/downloads/" in path and "s3cr3t" in path for _, path in hostile.requests)  # it was used
    assert "/_emulator/downloads/" in run.stderr  # urllib3 logged the download, without its query
    assert "s3cr3t" not in run.stderr


BOMB = gzip.compress(b" " * (80 * 1024 * 1024))  # 80 MB of blanks, about 80 KB on the wire


@pytest.mark.parametrize(
    ("body", "said"),
    [(BOMB, "answer is longer than 67108864 bytes"), (b"not gzip at all", "answer could not be read")],
    ids=["inflates-past-the-cap", "encoding-that-lies"],
)
def test_an_api_answer_is_read_within_a_bound_and_a_bad_encoding_is_named(
    hostile: HostileSendGrid, emulator: SendGridEmulator, tmp_path: Path, body: bytes, said: str
) -> None:
    encoded = respond(200, body, {"Content-Encoding": "gzip"})
    hostile.answer("GET", "^/v3/marketing/contacts/imports/", encoded)
    run = run_cli(config_for(hostile, emulator), "profiles_mixed.singer", tmp_path)
    assert run.returncode != 0
    [error] = errors(run.stderr)[-1:]
    assert said in error and "GET /v3/marketing/contacts/imports/" in error
    assert "Traceback" not in run.stderr
    assert run.states == []  # nothing confirmed, so no STATE claims it
