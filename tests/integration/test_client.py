"""The client's endpoints over real HTTP (the emulator, or the hostile proxy in front of it): what each returns,
and what it does with an answer that is not what SendGrid documents.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sendgrid_emulator import SendGridEmulator
from target_sendgrid.sendgrid.api_errors import AuthError, SendGridError
from target_sendgrid.sendgrid.client import SendGridClient
from tests.support import API_KEY, Api, HostileSendGrid, prefill, respond


def client(url: str, **options: Any) -> SendGridClient:
    """A client with no retries to wait through (an error answer is final)."""
    return SendGridClient(API_KEY, url, max_retries=0, **options)


def ready_export(hostile: HostileSendGrid, **answer: Any) -> None:
    """Every contacts export answers ready at once, with these fields."""
    ready = {"id": "e", "status": "ready", "created_at": "", "updated_at": "", "expires_at": "", **answer}
    hostile.answer("GET", "^/v3/marketing/contacts/exports/", respond(200, ready))


# --- the key and the account --------------------------------------------------------------


def test_scopes_are_the_keys_scope_names(emulator: SendGridEmulator) -> None:
    scopes = client(emulator.url).scopes()
    assert scopes is not None and "marketing.read" in scopes


@pytest.mark.parametrize(("status", "body"), [(403, {"errors": [{"message": "forbidden"}]}), (404, {})])
def test_scopes_are_unknown_where_the_endpoint_may_not_answer(
    hostile: HostileSendGrid, status: int, body: dict[str, Any]
) -> None:
    """Where GET /v3/scopes may not answer (403, 404), the key's scopes are not known (None); any other failure
    ends the run at start (tests/integration/test_key_check.py)."""
    hostile.answer("GET", "^/v3/scopes", respond(status, body))
    assert client(hostile.url).scopes() is None


def test_a_refused_key_is_raised_by_the_scopes_check(hostile: HostileSendGrid) -> None:
    hostile.answer("GET", "^/v3/scopes", respond(401, {"errors": [{"message": "authorization required"}]}))
    with pytest.raises(AuthError) as refused:
        client(hostile.url).scopes()
    assert refused.value.status == 401


def test_field_definitions_that_are_not_definitions_are_refused(hostile: HostileSendGrid) -> None:
    hostile.answer("GET", "^/v3/marketing/field_definitions", respond(200, {"custom_fields": [{"name": "x"}]}))
    with pytest.raises(SendGridError, match="not a list of definitions"):
        client(hostile.url).field_definitions()


# --- lists ------------------------------------------------------------------------------------


def test_lists_follow_every_page(emulator: SendGridEmulator) -> None:
    made = {emulator.create_list(f"list {n}") for n in range(3)}
    sendgrid = client(emulator.url)
    assert {x["id"] for x in sendgrid.lists()} == made
    assert sendgrid.get_list(sorted(made)[0])["id"] == sorted(made)[0]


def test_a_next_page_outside_api_url_is_not_followed(hostile: HostileSendGrid) -> None:
    """The key goes only to api_url: a page naming another host ends the listing with an error."""
    page = {"result": [{"id": "1", "name": "a"}], "_metadata": {"next": "https://elsewhere.example/v3/marketing/lists"}}
    hostile.answer("GET", "^/v3/marketing/lists", respond(200, page))
    with pytest.raises(SendGridError, match="outside api_url"):
        list(client(hostile.url).lists())
    assert [path for _, path in hostile.requests] == ["/v3/marketing/lists?page_size=1000"]


def test_a_page_of_lists_without_ids_is_refused(hostile: HostileSendGrid) -> None:
    hostile.answer("GET", "^/v3/marketing/lists", respond(200, {"result": [{"name": "no id"}]}))
    with pytest.raises(SendGridError, match="not a list of lists"):
        list(client(hostile.url).lists())


def test_a_created_list_is_there(emulator: SendGridEmulator) -> None:
    list_id = client(emulator.url).create_list("newcomers")
    assert emulator.lists[list_id]["name"] == "newcomers"


# --- finding contacts ---------------------------------------------------------------------------


def test_contact_ids_of_primary_emails_long_ones_by_sgql_and_none_guessed(emulator: SendGridEmulator, api: Api) -> None:
    """Short addresses by search/emails, ones over 100 characters by SGQL; one with a quote is never looked up."""
    long = "l" * 95 + "@example.com"
    quoted = "o'" + "q" * 95 + "@example.com"
    list_id = emulator.create_list("l")
    prefill(emulator, api, list_id, ["ann@example.com", long])
    found, unlooked = client(emulator.url).contact_ids(["ANN@example.com", long, "nobody@example.com", quoted])
    ids = {c["email"]: c["id"] for c in emulator.list_contacts(list_id)}
    assert found == {"ann@example.com": ids["ann@example.com"], long: ids[long]}
    assert unlooked == [quoted]


def test_a_search_answer_that_is_not_an_object_is_refused(hostile: HostileSendGrid) -> None:
    hostile.answer("POST", "^/v3/marketing/contacts/search/emails", respond(200, {"result": ["x"]}))
    with pytest.raises(SendGridError, match="result is not an object"):
        client(hostile.url).contact_ids(["ann@example.com"])


def test_existing_contact_ids_are_those_not_deleted(emulator: SendGridEmulator, api: Api) -> None:
    list_id = emulator.create_list("l")
    prefill(emulator, api, list_id, ["ann@example.com", "bo@example.com"])
    ids = [c["id"] for c in emulator.list_contacts(list_id)]
    sendgrid = client(emulator.url)
    assert sendgrid.existing_contact_ids([*ids, "no-such-id"]) == ids
    assert sendgrid.existing_contact_ids(["no-such-id"]) == []  # a 404: none found


# --- exports of a list's members -----------------------------------------------------------------


def test_list_members_are_read_through_an_export(emulator: SendGridEmulator, api: Api) -> None:
    list_id = emulator.create_list("l")
    prefill(emulator, api, list_id, ["ann@example.com", "bo@example.com"])
    rows = list(client(emulator.url).list_members(list_id, timeout=30))
    assert sorted(r["email"] for r in rows) == ["ann@example.com", "bo@example.com"]


def test_an_export_that_failed_is_an_error_with_sendgrids_message(emulator: SendGridEmulator) -> None:
    emulator.export_variants.fail = True
    with pytest.raises(SendGridError, match="ended failure: export failed"):
        list(client(emulator.url).list_members(emulator.create_list("l"), timeout=30))


@pytest.mark.parametrize(
    ("answer", "error"),
    [({"urls": "one"}, "names no files"), ({"urls": [], "contact_count": 2}, "0 rows read where SendGrid counted 2")],
)
def test_an_export_read_short_is_an_error(
    hostile: HostileSendGrid, emulator: SendGridEmulator, answer: dict[str, Any], error: str
) -> None:
    """Members are known only from a whole export: no files named, or fewer rows than counted, is an error."""
    ready_export(hostile, **answer)
    with pytest.raises(SendGridError, match=error):
        list(client(hostile.url).list_members(emulator.create_list("l"), timeout=30))


# --- import jobs --------------------------------------------------------------------------------------


def test_job_errors_are_read_from_the_errors_file(emulator: SendGridEmulator) -> None:
    """An errored job's errors file names each refused contact (lower-cased) with SendGrid's message."""
    sendgrid = client(emulator.url)
    ltv = emulator.create_custom_field("ltv", "Number")
    body = b'{"contacts":[{"email":"Good@x.io"},{"email":"Bad@x.io","custom_fields":{"%s":"n/a"}}]}' % ltv.encode()
    job, submissions = sendgrid.run_job(lambda: sendgrid.upsert(body), 30, 1, "two contacts")
    assert (job["status"], submissions) == ("errored", 1)
    [(email, message)] = sendgrid.job_errors(job)
    assert email == "bad@x.io" and message


@pytest.mark.parametrize("link", ["not-a-link", 12, "/_missing/errors.csv"])
def test_an_unreadable_errors_file_is_no_errors_and_a_warning(
    hostile: HostileSendGrid, caplog: pytest.LogCaptureFixture, link: object
) -> None:
    """The errors file is best effort: a link that is none, or leads nowhere, costs a warning, never the run."""
    url = hostile.url + link if isinstance(link, str) and link.startswith("/") else link
    job = {"id": "j1", "status": "errored", "results": {"errored_count": 1, "errors_url": url}}
    with caplog.at_level(logging.WARNING, "target_sendgrid.sendgrid.client"):
        assert client(hostile.url).job_errors(job) == []
    assert any("Could not read the errors of import job j1" in r.getMessage() for r in caplog.records)
    assert client(hostile.url).job_errors({"id": "j2", "results": {}}) == []


def test_a_failed_jobs_reason_comes_from_its_errors_file_when_it_has_no_message(hostile: HostileSendGrid) -> None:
    csv_file = b"email,error\nann@example.com,Contact limit exceeded for ann@example.com\n"
    hostile.answer("GET", "^/errors.csv", respond(200, csv_file, {"Content-Type": "text/csv"}))
    job = {"id": "j1", "status": "failed", "results": {"errors_url": hostile.url + "/errors.csv"}}
    reason = client(hostile.url).failure_reason(job)
    assert reason.startswith("Contact limit exceeded") and "ann@example.com" not in reason
