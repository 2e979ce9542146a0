"""The official ``sendgrid`` Python client (6.x) over all 26 operations of the three spec files.

Its users point it at the emulator with ``host=``; each operation either works as documented or (when
switched off) answers a 501 naming itself, never a genuine-looking 404. The 26 are listed in
``sendgrid_emulator.routing.OPERATIONS``; this test calls every one and checks the list is complete.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

sendgrid = pytest.importorskip("sendgrid")
from python_http_client.exceptions import HTTPError  # noqa: E402  (installed with sendgrid)

from sendgrid_emulator import SendGridEmulator  # noqa: E402
from sendgrid_emulator.routing import OPERATIONS  # noqa: E402
from tests.support import API_KEY  # noqa: E402


@pytest.fixture(autouse=True)
def jobs_run_at_once(emulator: SendGridEmulator) -> None:
    """Jobs and exports due at once: the first poll finds them done, so no test waits on a clock."""
    emulator.job_delay = 0


def answer(call: Callable[[], Any]) -> tuple[int, Any]:
    """(status, parsed body) of one client call, its HTTPError included."""
    try:
        response = call()
        status, body = response.status_code, response.body
    except HTTPError as exc:
        status, body = exc.status_code, exc.body
    return status, json.loads(body) if body else None


def until(check: Callable[[], tuple[int, Any]], done: Callable[[Any], bool]) -> Any:
    """A job's or an export's status, done by the first poll (jobs_run_at_once), as client code polls it."""
    status, body = check()
    assert status == 200 and done(body), body
    return body


def test_the_official_client_flow_covers_all_26_operations(emulator: SendGridEmulator) -> None:
    sg = sendgrid.SendGridAPIClient(API_KEY, host=emulator.url)
    mc = sg.client.marketing
    called: set[str] = set()

    def op(name: str, call: Callable[[], Any], expected: int) -> Any:
        status, body = answer(call)
        assert status == expected, (name, status, body)
        called.add(name)
        return body

    def job_done(job_id: str) -> dict:
        op("GetImportContact", lambda: mc.contacts.imports._(job_id).get(), 200)
        return until(lambda: answer(lambda: mc.contacts.imports._(job_id).get()), lambda b: b["status"] != "pending")

    # Lists and fields.
    vip = op("CreateMarketingList", lambda: mc.lists.post(request_body={"name": "vip"}), 201)["id"]
    op("ListMarketingList", lambda: mc.lists.get(query_params={"page_size": 10}), 200)
    renamed = op("UpdateMarketingList", lambda: mc.lists._(vip).patch(request_body={"name": "VIPs"}), 200)
    assert renamed["name"] == "VIPs"
    field = op(
        "CreateFieldDefinition",
        lambda: mc.field_definitions.post(request_body={"name": "ltv", "field_type": "Number"}),
        200,
    )
    fields = op("ListFieldDefinition", lambda: mc.field_definitions.get(), 200)
    reserved = {f["name"]: f for f in fields["reserved_fields"]}
    assert reserved["created_at"] == {"id": "_rf21_D", "name": "created_at", "field_type": "Date", "read_only": True}
    renamed_field = op(
        "UpdateFieldDefinition",
        lambda: mc.field_definitions._(field["id"]).patch(request_body={"name": "lifetime_value"}),
        200,
    )
    assert renamed_field["name"] == "lifetime_value"

    # Contacts in: an upsert and a CSV import.
    body = {
        "list_ids": [vip],
        "contacts": [
            {"email": "Ann@Example.com", "first_name": "Ann", "custom_fields": {field["id"]: 12}},
            {"email": "bo@example.com", "external_id": "crm-2"},
        ],
    }
    job = op("UpdateContact", lambda: mc.contacts.put(request_body=body), 202)
    assert job_done(job["job_id"])["status"] == "completed"
    mappings = ["_rf2_T", "_rf0_T"]
    imported = op(
        "ImportContact",
        lambda: mc.contacts.imports.put(request_body={"file_type": "csv", "field_mappings": mappings}),
        200,
    )
    upload = requests.put(
        imported["upload_uri"],
        data=b"email,first_name\ncy@example.com,Cy\n",
        headers={h["header"]: h["value"] for h in imported["upload_headers"]},
        timeout=10,
    )
    assert upload.status_code == 200
    assert job_done(imported["job_id"])["results"]["created_count"] == 1

    # Reads and searches.
    count = op("ListContactCount", lambda: mc.contacts.count.get(), 200)
    assert count["contact_count"] == 3
    sample = op("ListContact", lambda: mc.contacts.get(), 200)
    assert [c["email"] for c in sample["result"]] == ["ann@example.com", "bo@example.com", "cy@example.com"]
    ann = next(c for c in sample["result"] if c["email"] == "ann@example.com")
    got = op("GetContact", lambda: mc.contacts._(ann["id"]).get(), 200)
    assert got["custom_fields"] == {"lifetime_value": 12}
    assert answer(lambda: mc.contacts._("no-such-contact").get())[0] == 404
    batch = op("ListBatchedContact", lambda: mc.contacts.batch.post(request_body={"ids": [ann["id"]]}), 200)
    assert [c["email"] for c in batch["result"]] == ["ann@example.com"]
    by_email = op(
        "ListContactByEmail", lambda: mc.contacts.search.emails.post(request_body={"emails": ["ANN@example.com"]}), 200
    )
    assert by_email["result"]["ann@example.com"]["contact"]["id"] == ann["id"]
    by_id = op(
        "GetContactByIdentifiers",
        lambda: mc.contacts.search.identifiers._("external_id").post(request_body={"identifiers": ["crm-2"]}),
        200,
    )
    assert by_id["result"]["crm-2"]["contact"]["email"] == "bo@example.com"
    query = f"email LIKE 'a%' AND CONTAINS(list_ids, '{vip}')"
    found = op("SearchContact", lambda: mc.contacts.search.post(request_body={"query": query}), 200)
    assert [c["email"] for c in found["result"]] == ["ann@example.com"] and found["contact_count"] == 1
    one = op("GetMarketingList", lambda: mc.lists._(vip).get(query_params={"contact_sample": "true"}), 200)
    assert one["contact_count"] == 2 and len(one["contact_sample"]) == 2
    assert op("ListContactCount (lists)", lambda: mc.lists._(vip).contacts.count.get(), 200)["contact_count"] == 2

    # Exports.
    export = op("ExportContact", lambda: mc.contacts.exports.post(request_body={"list_ids": [vip]}), 202)
    ready = until(lambda: answer(lambda: mc.contacts.exports._(export["id"]).get()), lambda b: b["status"] == "ready")
    called.add("GetExportContact")
    assert ready["contact_count"] == 2
    listed = op("ListExportContact", lambda: mc.contacts.exports.get(), 200)
    assert [e["id"] for e in listed["result"]] == [export["id"]]
    segments = answer(lambda: mc.contacts.exports.post(request_body={"segment_ids": ["no-such-segment"]}))
    assert segments[0] == 400 and segments[1]["errors"][0]["field"] == "segment_ids"

    # Removals and deletions.
    bo = by_id["result"]["crm-2"]["contact"]
    removal = op(
        "DeleteContact (lists)", lambda: mc.lists._(vip).contacts.delete(query_params={"contact_ids": bo["id"]}), 202
    )
    assert job_done(removal["job_id"])["status"] == "completed"
    identifier = {"identifier_type": "EXTERNALID", "identifier_value": "crm-2"}
    dropped = op(
        "DeleteContactIdentifier", lambda: mc.contacts._(bo["id"]).identifiers.delete(request_body=identifier), 202
    )
    assert job_done(dropped["job_id"])["status"] == "completed"
    assert "external_id" not in answer(lambda: mc.contacts._(bo["id"]).get())[1]
    deleted = op("DeleteContact", lambda: mc.contacts.delete(query_params={"ids": ann["id"]}), 202)
    assert job_done(deleted["job_id"])["results"]["deleted_count"] == 1
    op("DeleteFieldDefinition", lambda: mc.field_definitions._(field["id"]).delete(), 204)
    op("DeleteMarketingList", lambda: mc.lists._(vip).delete(), 204)
    assert answer(lambda: mc.lists._(vip).get())[0] == 404
    assert emulator.list_emails() == {"bo@example.com", "cy@example.com"}

    documented = {v.split(" ", 1)[1] for v in OPERATIONS.values()}
    assert {c.split(" ")[0] for c in called} == documented
    assert len(called) == len(OPERATIONS) == 26


def test_an_operation_switched_off_answers_501_naming_itself(emulator: SendGridEmulator) -> None:
    sg = sendgrid.SendGridAPIClient(API_KEY, host=emulator.url)
    emulator.disabled_operations.add("ImportContact")
    status, body = answer(
        lambda: sg.client.marketing.contacts.imports.put(request_body={"file_type": "csv", "field_mappings": ["_rf2"]})
    )
    assert status == 501
    assert body["errors"][0]["message"] == "contacts ImportContact is not offered by this emulator"


def test_every_named_operation_is_a_route_and_every_route_a_named_operation() -> None:
    routed = {handler for _, _, handler, group in SendGridEmulator.ROUTES if group not in (None, "scopes")}
    assert routed == set(OPERATIONS)
