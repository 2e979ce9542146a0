"""The key check at start (GET /v3/scopes): skipped only where the endpoint may not answer, else one clear failure."""

from __future__ import annotations

import pytest

from sendgrid_emulator import SendGridEmulator
from target_sendgrid.sendgrid.api_errors import SendGridError
from tests.support import HostileSendGrid, Responder, respond, run_target, target_config

REFUSAL = {"errors": [{"field": None, "message": "not for this key"}]}


@pytest.mark.parametrize("status", [403, 404])
def test_the_check_is_skipped_where_scopes_may_not_answer(
    emulator: SendGridEmulator, hostile: HostileSendGrid, status: int
) -> None:
    """No such endpoint, or a key that may not list its scopes: the field definitions request checks the key."""
    hostile.answer("GET", "^/v3/scopes", respond(status, REFUSAL))
    run = run_target({**target_config(emulator), "api_url": hostile.url}, "profiles_mixed.singer")
    assert run.summary["exported"] == 4
    assert ("GET", "/v3/marketing/field_definitions") in hostile.requests


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (respond(500, REFUSAL), "GET /v3/scopes: HTTP 500 after retries: not for this key"),
        (respond(400, REFUSAL), "GET /v3/scopes: HTTP 400: not for this key"),
        (respond(200, {"scopes": "marketing.read"}), "GET /v3/scopes: scopes is not a list of scope names"),
        (
            respond(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}),
            "GET /v3/scopes: SendGrid's answer is not JSON",
        ),
    ],
    ids=["server-error", "bad-request", "scopes-not-a-list", "not-json"],
)
def test_any_other_answer_fails_at_start_in_one_line(
    emulator: SendGridEmulator, hostile: HostileSendGrid, answer: Responder, said: str
) -> None:
    hostile.answer("GET", "^/v3/scopes", answer)
    config = {**target_config(emulator), "api_url": hostile.url, "max_retries": 1}
    with pytest.raises(SendGridError) as info:
        run_target(config, "profiles_mixed.singer")
    assert str(info.value).startswith(said) and "\n" not in str(info.value)
    assert {path for _, path in hostile.requests} == {"/v3/scopes"}  # nothing else asked, nothing sent
