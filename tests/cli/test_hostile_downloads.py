"""Downloads and answers that are not what SendGrid gives: bounded, named in one line, never taken as whole.

Past a bound, skip_unchanged sends every contact (it only costs speed) and mirror mode removes
nothing and fails; a bad answer anywhere ends the run with one line naming the endpoint.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

from sendgrid_emulator import SendGridEmulator
from tests.conftest import run_cli
from tests.support import PREFILLED, Api, HostileSendGrid, prefill, respond, target_config


def config_for(hostile: HostileSendGrid, emulator: SendGridEmulator, **overrides: object) -> dict:
    return {**target_config(emulator, **overrides), "api_url": hostile.url}


def errors(stderr: str) -> list[str]:
    return [line.split(" | ")[-1] for line in stderr.splitlines() if "ERROR" in line]


def export_of(hostile: HostileSendGrid, files: list[bytes], contact_count: int | None = None) -> None:
    """Every contacts export ready at once, its files these bytes (served by the proxy)."""
    for n, data in enumerate(files):
        hostile.answer("GET", f"^/files/{n}$", respond(200, data, {"Content-Type": "application/octet-stream"}))
    ready: dict[str, Any] = {"id": "e", "status": "ready", "created_at": "", "updated_at": "", "expires_at": ""}
    ready["urls"] = [f"{hostile.url}/files/{n}" for n in range(len(files))]
    if contact_count is not None:
        ready["contact_count"] = contact_count
    hostile.answer("GET", "^/v3/marketing/contacts/exports/", respond(200, ready))


def mirror_run(hostile: HostileSendGrid, emulator: SendGridEmulator, api: Api, tmp_path: Path) -> Any:
    config = config_for(hostile, emulator, segments=["vip"], sync_mode="mirror", mirror_max_removal_fraction=0.9)
    prefill(emulator, api, config["list_id"], PREFILLED)
    return config, run_cli(config, "leavers.singer", tmp_path)


def assert_nothing_removed_by_mirror(emulator: SendGridEmulator, config: dict, run: Any) -> None:
    assert run.returncode == 1
    assert "dave@example.com" in emulator.list_emails(config["list_id"])  # the stale member stays
    assert "Traceback" not in run.stderr and "Aborted!" not in run.stderr
    assert run.states == []


def test_mirror_removes_nothing_from_an_export_that_names_no_files(
    hostile: HostileSendGrid, emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    export_of(hostile, [], contact_count=3)
    config, run = mirror_run(hostile, emulator, api, tmp_path)
    assert_nothing_removed_by_mirror(emulator, config, run)
    assert any("0 rows read where SendGrid counted 3" in e for e in errors(run.stderr))


def test_mirror_removes_nothing_from_a_cut_off_gzip_file(
    hostile: HostileSendGrid, emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    rows = b"".join(json.dumps({"contact_id": f"c{i}", "email": f"x{i}@e.io"}).encode() + b"\n" for i in range(500))
    export_of(hostile, [gzip.compress(rows)[:-40]])
    config, run = mirror_run(hostile, emulator, api, tmp_path)
    assert_nothing_removed_by_mirror(emulator, config, run)
    assert any("download of an export url: not a whole file (EOFError)" in e for e in errors(run.stderr))


def test_mirror_removes_nothing_when_a_row_has_no_contact_id(
    hostile: HostileSendGrid, emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    export_of(hostile, [b'{"contact_id": "c1", "email": "ann@example.com"}\n{"email": "dave@example.com"}\n'])
    config, run = mirror_run(hostile, emulator, api, tmp_path)
    assert_nothing_removed_by_mirror(emulator, config, run)
    assert any("came without a contact id: nothing was removed" in e for e in errors(run.stderr))


def test_a_file_that_inflates_to_one_huge_line_is_cut_short_and_skip_unchanged_sends_everything(
    hostile: HostileSendGrid, emulator: SendGridEmulator, tmp_path: Path
) -> None:
    export_of(hostile, [gzip.compress(b'{"email": "' + b"x" * 50_000_000)])  # 50 MB once inflated, no newline
    run = run_cli(config_for(hostile, emulator, skip_unchanged=True), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "a line longer than" in run.stderr and "every contact is sent" in run.stderr
    assert run.summary["exported"] == 4


def test_a_download_past_max_download_bytes_is_cut_short(
    hostile: HostileSendGrid, emulator: SendGridEmulator, tmp_path: Path
) -> None:
    tiny = b"{}\n" * 1_000_000  # a million rows of nothing: 3 MB
    export_of(hostile, [gzip.compress(tiny)])
    config = config_for(hostile, emulator, skip_unchanged=True, max_download_bytes=1_000_000)
    run = run_cli(config, "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "more than 1,000,000 bytes once inflated (max_download_bytes)" in run.stderr
    assert run.summary["exported"] == 4


def test_a_download_is_read_within_its_timeout_polling_included(
    hostile: HostileSendGrid, emulator: SendGridEmulator, tmp_path: Path
) -> None:
    export_of(hostile, [gzip.compress(b"{}\n" * 20_000_000)])  # 20 million tiny rows
    config = config_for(hostile, emulator, skip_unchanged=True, skip_unchanged_timeout_seconds=2)
    started = time.monotonic()
    run = run_cli(config, "profiles_mixed.singer", tmp_path)
    assert time.monotonic() - started < 30
    assert run.returncode == 0, run.stderr[-2000:]
    assert "not read within its time" in run.stderr and run.summary["exported"] == 4


def test_an_answer_that_is_not_json_is_one_line_naming_the_endpoint(
    hostile: HostileSendGrid, emulator: SendGridEmulator, tmp_path: Path
) -> None:
    hostile.answer(
        "GET",
        "^/v3/marketing/field_definitions",
        respond(200, b"<html>Maintenance</html>", {"Content-Type": "text/html"}),
    )
    run = run_cli(config_for(hostile, emulator), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 1
    assert errors(run.stderr) == ["GET /v3/marketing/field_definitions: SendGrid's answer is not JSON (text/html)"]


def test_a_cut_off_upsert_answer_fails_the_batch_and_claims_nothing(
    hostile: HostileSendGrid, emulator: SendGridEmulator, tmp_path: Path
) -> None:
    hostile.answer("PUT", "^/v3/marketing/contacts$", respond(202, b'{"job_id": "ab'))
    run = run_cli(config_for(hostile, emulator), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 1
    assert errors(run.stderr) == ["PUT /v3/marketing/contacts: SendGrid's answer is not JSON (application/json)"]
    assert run.states == [] and run.summary["not_sent"] == 4


def test_an_answer_of_the_wrong_shape_is_one_line(
    hostile: HostileSendGrid, emulator: SendGridEmulator, tmp_path: Path
) -> None:
    hostile.answer("PUT", "^/v3/marketing/contacts$", respond(202, [{"job_id": "x"}]))
    run = run_cli(config_for(hostile, emulator), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 1
    assert errors(run.stderr) == ["PUT /v3/marketing/contacts: SendGrid's answer is a JSON list, not an object"]


def reset_mid_answer(handler: Any) -> None:
    """A chunked answer whose connection drops before it ends."""
    handler.send_response(202)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    handler.wfile.write(b'20\r\n{"job_id": ')
    handler.wfile.flush()
    handler.close_connection = True
    handler.connection.shutdown(2)


def test_a_connection_reset_in_the_middle_of_an_answer_is_retried(
    hostile: HostileSendGrid, emulator: SendGridEmulator, tmp_path: Path
) -> None:
    hostile.answer("PUT", "^/v3/marketing/contacts$", reset_mid_answer, times=1)
    run = run_cli(config_for(hostile, emulator), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Retrying PUT /v3/marketing/contacts after ChunkedEncodingError (attempt 1" in run.stderr
    assert "Pool" not in run.stderr  # the request is named, never a connection pool's class
    assert run.summary["exported"] == 4
    assert sum(1 for method, path in hostile.requests if method == "PUT") == 2


def trickle(every: float, most: float = 60) -> Any:
    """A responder sending a whole HTTP answer, status line included, one byte every ``every`` seconds."""
    answer = (
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{"status": "' + b"p" * 400
    )

    def write(handler: Any) -> None:
        handler.close_connection = True
        ends = time.monotonic() + most
        for byte in answer:
            if time.monotonic() > ends:
                return
            try:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
            except OSError:  # the client gave up: good
                return
            time.sleep(every)

    return write


def test_a_trickling_job_status_ends_by_the_jobs_deadline(
    hostile: HostileSendGrid, emulator: SendGridEmulator, tmp_path: Path
) -> None:
    hostile.answer("GET", "^/v3/marketing/contacts/imports/", trickle(every=2))
    config = config_for(hostile, emulator, request_timeout_seconds=5, job_timeout_seconds=10)
    started = time.monotonic()
    run = run_cli(config, "profiles_mixed.singer", tmp_path, timeout=120)
    took = time.monotonic() - started
    assert run.returncode == 1
    assert took < 25, took  # the 10 s job timeout (and 5 s per request) held, with start-up and slack
    [line] = errors(run.stderr)
    assert line.startswith("import job ") and "not followed to its end within 10s" in line
    assert run.states == [] and run.summary["not_sent"] == 4


def test_a_trickling_download_ends_by_its_timeout_and_skip_unchanged_sends_everything(
    hostile: HostileSendGrid, emulator: SendGridEmulator, tmp_path: Path
) -> None:
    ready: dict[str, Any] = {"id": "e", "status": "ready", "created_at": "", "updated_at": "", "expires_at": ""}
    ready["urls"] = [f"{hostile.url}/files/0"]
    hostile.answer("GET", "^/v3/marketing/contacts/exports/", respond(200, ready))
    hostile.answer("GET", "^/files/0$", trickle(every=0.5))
    config = config_for(hostile, emulator, skip_unchanged=True, skip_unchanged_timeout_seconds=3)
    started = time.monotonic()
    run = run_cli(config, "profiles_mixed.singer", tmp_path, timeout=120)
    assert time.monotonic() - started < 20
    assert run.returncode == 0, run.stderr[-2000:]
    assert "download of an export url" in run.stderr and "not read within its time" in run.stderr
    assert run.summary["exported"] == 4


def test_mirror_removes_nothing_from_an_export_with_a_malformed_row(
    hostile: HostileSendGrid, emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    export_of(hostile, [b'{"contact_id": "c1", "email": "ann@example.com"}\n{"contact_id": "c2", "email": \n'])
    config, run = mirror_run(hostile, emulator, api, tmp_path)
    assert_nothing_removed_by_mirror(emulator, config, run)
    assert any("export file: line 2 is not a JSON row" in e for e in errors(run.stderr))
