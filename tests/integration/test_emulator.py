"""The emulator against SendGrid's documented limits and errors, over real HTTP."""

from __future__ import annotations

import gzip
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from sendgrid_emulator import SendGridEmulator, fetch
from tests.support import API_KEY, Api


def wait_job(api: Api, job_id: str) -> dict:
    for _ in range(200):
        job = api("GET", f"/v3/marketing/contacts/imports/{job_id}").json()
        if job["status"] != "pending":
            return job
        time.sleep(0.01)
    raise AssertionError("job never finished")


def upsert_and_wait(api: Api, list_id: str, emails: list[str]) -> dict:
    body = {"list_ids": [list_id], "contacts": [{"email": e} for e in emails]}
    return wait_job(api, api("PUT", "/v3/marketing/contacts", json=body).json()["job_id"])


def test_auth_missing_wrong_and_forbidden_key(emulator: SendGridEmulator) -> None:
    path = "/v3/marketing/lists"
    missing = requests.get(emulator.url + path, timeout=5)
    assert missing.status_code == 401
    assert missing.json() == {"errors": [{"field": None, "message": "authorization required"}]}
    wrong = Api(emulator.url, "SG.wrong")("GET", path)
    assert wrong.status_code == 401
    assert "invalid, expired, or revoked" in wrong.json()["errors"][0]["message"]
    emulator.forbidden_keys.add("SG.no-scopes")
    assert Api(emulator.url, "SG.no-scopes")("GET", path).json()["errors"][0]["message"] == "access forbidden"


def test_upsert_is_applied_later_by_its_job(emulator: SendGridEmulator, api: Api) -> None:
    emulator.job_delay = 0.3
    list_id = emulator.create_list("vip")
    r = api("PUT", "/v3/marketing/contacts", json={"list_ids": [list_id], "contacts": [{"email": "Ann@Example.com"}]})
    assert r.status_code == 202
    job_id = r.json()["job_id"]
    assert api("GET", f"/v3/marketing/contacts/imports/{job_id}").json()["status"] == "pending"
    assert emulator.list_emails(list_id) == set()
    job = wait_job(api, job_id)
    assert job["status"] == "completed"
    assert job["results"]["created_count"] == 1
    assert emulator.list_emails(list_id) == {"ann@example.com"}  # stored lower-case
    # Matched case-insensitively: a second upsert updates, and list_ids only add.
    other = emulator.create_list("other")
    r = api(
        "PUT",
        "/v3/marketing/contacts",
        json={"list_ids": [other], "contacts": [{"email": "ANN@example.com", "first_name": "Ann"}]},
    )
    job = wait_job(api, r.json()["job_id"])
    assert job["results"]["updated_count"] == 1
    [contact] = emulator.list_contacts()
    assert contact["first_name"] == "Ann"
    assert set(contact["list_ids"]) == {list_id, other}


@pytest.mark.parametrize(
    ("contact", "field", "message"),
    [
        ({"email": "000"}, "contacts[1].email", "email '000' is not valid"),
        ({"first_name": "x"}, "contacts[1]", "contact must have one of"),
        ({"email": "a@b.co", "first_name": "x" * 51}, "contacts[1].first_name", "at most 50"),
        ({"email": "a@b.co", "city": "x" * 61}, "contacts[1].city", "at most 60"),
        ({"email": "a@b.co", "alternate_emails": ["c@d.co"] * 6}, "contacts[1].alternate_emails", "0-5"),
        (
            {"email": "a@b.co", "custom_fields": {"ltv": 1}},
            "contacts[1].custom_fields",
            "invalid custom field ids supplied - ltv",
        ),
    ],
)
def test_one_invalid_contact_fails_the_whole_request(
    emulator: SendGridEmulator, api: Api, contact: dict, field: str, message: str
) -> None:
    r = api("PUT", "/v3/marketing/contacts", json={"contacts": [{"email": "good@example.com"}, contact]})
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert error["field"] == field
    assert message in error["message"]
    emulator.wait_for_jobs()
    assert emulator.list_contacts() == []


def test_upsert_ignores_unknown_keys_and_keys_contacts_by_any_identifier(emulator: SendGridEmulator, api: Api) -> None:
    # The body check takes a fast path for well-formed bodies; these are the cases it hands on.
    put = "/v3/marketing/contacts"
    contacts = [
        {"email": "Ann@Example.com", "first_name": "Ann", "favourite_colour": "teal"},
        {"external_id": "crm-7", "last_name": "Seven"},
    ]
    job = wait_job(api, api("PUT", put, json={"contacts": contacts}).json()["job_id"])
    assert job["results"]["created_count"] == 2
    by_id = {c.get("external_id") or c["email"]: c for c in emulator.list_contacts()}
    assert by_id["ann@example.com"]["first_name"] == "Ann"
    assert "favourite_colour" not in by_id["ann@example.com"]
    assert by_id["crm-7"]["last_name"] == "Seven"
    # A contact with no identifier at all fails the request, named by its index, fast path or not.
    r = api("PUT", put, json={"contacts": [{"email": "bo@example.com"}, {"first_name": "Nobody"}]})
    assert (r.status_code, r.json()["errors"][0]["field"]) == (400, "contacts[1]")
    job = wait_job(api, api("PUT", put, json={"contacts": [{"external_id": "crm-7", "city": "Oslo"}]}).json()["job_id"])
    assert job["results"]["updated_count"] == 1
    assert [c["city"] for c in emulator.list_contacts() if c.get("external_id") == "crm-7"] == ["Oslo"]


def test_upsert_count_body_and_list_limits(emulator: SendGridEmulator, api: Api) -> None:
    put = "/v3/marketing/contacts"
    assert api("PUT", put, json={"contacts": []}).status_code == 400
    many = [{"email": f"u{i}@example.com"} for i in range(30_001)]
    assert api("PUT", put, json={"contacts": many}).json()["errors"][0]["field"] == "contacts"
    assert api("PUT", put, json={"contacts": many[:30_000]}).status_code == 202
    emulator.max_body_bytes = 1000
    big = api("PUT", put, json={"contacts": many[:100]})
    assert big.status_code == 413
    emulator.max_body_bytes = 6_000_000
    r = api("PUT", put, json={"list_ids": ["nope"], "contacts": many[:1]})
    assert (r.status_code, r.json()["errors"][0]["field"]) == (400, "list_ids")
    # Unknown top-level keys are ignored silently, as at SendGrid.
    assert api("PUT", put, json={"listIds": ["x"], "contacts": many[:1]}).status_code == 202


def test_duplicate_emails_in_one_request_are_recorded(emulator: SendGridEmulator, api: Api) -> None:
    api("PUT", "/v3/marketing/contacts", json={"contacts": [{"email": "a@x.io"}, {"email": "A@x.io"}]})
    assert fetch(emulator.url, "contacts")["duplicate_emails"] == ["a@x.io"]


def test_custom_field_definitions_and_job_time_type_checks(emulator: SendGridEmulator, api: Api) -> None:
    path = "/v3/marketing/field_definitions"
    r = api("POST", path, json={"name": "ltv", "field_type": "Number"})
    assert r.status_code == 200
    assert r.json() == {"id": "e1_N", "name": "ltv", "field_type": "Number"}
    assert api("POST", path, json={"name": "born", "field_type": "Date"}).json()["id"] == "e2_D"
    for bad in (
        {"name": "LTV", "field_type": "Text"},
        {"name": "1x", "field_type": "Text"},
        {"name": "email", "field_type": "Text"},
        {"name": "ok", "field_type": "Bool"},
    ):
        assert api("POST", path, json=bad).status_code == 400, bad
    assert [f["name"] for f in api("GET", path).json()["custom_fields"]] == ["ltv", "born"]
    contacts = [
        {"email": "good@x.io", "custom_fields": {"e1_N": 12.5, "e2_D": "2024-01-31"}},
        {"email": "bad@x.io", "custom_fields": {"e1_N": "n/a"}},
    ]
    job = wait_job(api, api("PUT", "/v3/marketing/contacts", json={"contacts": contacts}).json()["job_id"])
    assert job["status"] == "errored"
    assert job["results"]["errored_count"] == 1
    errors = requests.get(job["results"]["errors_url"], timeout=5).text
    assert "bad@x.io" in errors and "Number" in errors
    # Reads key custom fields by name.
    assert emulator.list_contacts()[0]["custom_fields"] == {"ltv": 12.5, "born": "2024-01-31"}


def test_lists_pagination_duplicates_and_counts(emulator: SendGridEmulator, api: Api) -> None:
    for i in range(5):
        assert api("POST", "/v3/marketing/lists", json={"name": f"list {i}"}).status_code == 201
    assert api("POST", "/v3/marketing/lists", json={"name": "list 0"}).status_code == 400
    assert api("POST", "/v3/marketing/lists", json={"name": "x" * 101}).status_code == 400
    names, url = [], emulator.url + "/v3/marketing/lists?page_size=2"
    while url:
        page = api.session.get(url, timeout=5).json()
        names += [lst["name"] for lst in page["result"]]
        url = page["_metadata"].get("next")
    assert names == [f"list {i}" for i in range(5)]
    assert api("GET", "/v3/marketing/lists?page_size=1001").status_code == 400
    assert api("GET", "/v3/marketing/lists/nope").status_code == 404
    list_id = emulator.create_list("members")
    upsert_and_wait(api, list_id, ["a@x.io", "b@x.io"])
    assert api("GET", f"/v3/marketing/lists/{list_id}").json()["contact_count"] == 2
    a_id = next(c["id"] for c in emulator.list_contacts() if c["email"] == "a@x.io")
    r = api("DELETE", f"/v3/marketing/lists/{list_id}/contacts", params={"contact_ids": a_id})
    assert r.status_code == 202
    wait_job(api, r.json()["job_id"])
    assert emulator.list_emails(list_id) == {"b@x.io"}
    assert emulator.list_emails() == {"a@x.io", "b@x.io"}  # removal keeps the contact


def test_search_export_count_and_delete(emulator: SendGridEmulator, api: Api) -> None:
    list_id = emulator.create_list("l")
    upsert_and_wait(api, list_id, ["a@x.io", "b@x.io"])
    search = "/v3/marketing/contacts/search/emails"
    found = api("POST", search, json={"emails": ["a@x.io", "zz@x.io"]})
    assert found.status_code == 200
    assert found.json()["result"]["zz@x.io"] == {"error": "contact not found"}
    assert api("POST", search, json={"emails": ["zz@x.io"]}).status_code == 404
    assert api("POST", search, json={"emails": ["nope"]}).status_code == 400
    assert api("POST", search, json={"emails": [f"u{i}@x.io" for i in range(101)]}).status_code == 400
    export_id = api("POST", "/v3/marketing/contacts/exports", json={"list_ids": [list_id], "file_type": "json"}).json()[
        "id"
    ]
    for _ in range(100):
        export = api("GET", f"/v3/marketing/contacts/exports/{export_id}").json()
        if export["status"] == "ready":
            break
        time.sleep(0.01)
    # As production serves it: gzip-compressed JSON lines with contact_id, at a link that takes no key.
    raw = requests.get(export["urls"][0], timeout=5).content
    rows = [json.loads(line) for line in gzip.decompress(raw).splitlines()]
    assert {r["email"] for r in rows} == {"a@x.io", "b@x.io"}
    assert "id" not in rows[0] and rows[0]["contact_id"]
    assert api.session.get(export["urls"][0], timeout=5).status_code == 400  # a key is refused there
    assert api("GET", "/v3/marketing/contacts/count").json()["contact_count"] == 2
    r = api("DELETE", "/v3/marketing/contacts", params={"ids": rows[0]["contact_id"]})
    assert r.status_code == 202
    wait_job(api, r.json()["job_id"])
    assert api("GET", "/v3/marketing/contacts/count").json()["contact_count"] == 1


def test_rate_limit_headers_and_429(emulator: SendGridEmulator, api: Api) -> None:
    emulator.rate_limit, emulator.rate_window = 3, 30
    answers = [api("GET", "/v3/marketing/lists") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["x-ratelimit-limit"] == "3"
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert 1 <= int(answers[3].headers["x-ratelimit-reset"]) <= 30
    assert answers[3].json()["errors"][0]["message"] == "too many requests"
    # Counters are per endpoint.
    assert api("GET", "/v3/marketing/field_definitions").status_code == 200


def test_trailing_slash_is_an_empty_404(api: Api) -> None:
    r = api("GET", "/v3/marketing/lists/")
    assert (r.status_code, r.content) == (404, b"")


def test_fault_injection_over_http(emulator: SendGridEmulator, api: Api) -> None:
    requests.post(emulator.url + "/_emulator/faults", json={"error_rate": 1.0}, timeout=5)
    assert api("GET", "/v3/marketing/lists").status_code in (500, 503)
    emulator.set_faults(error_rate=0.0, reset_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        api("GET", "/v3/marketing/lists")
    emulator.set_faults(reset_rate=0.0, job_failure_rate=1.0)
    job = wait_job(api, api("PUT", "/v3/marketing/contacts", json={"contacts": [{"email": "a@x.io"}]}).json()["job_id"])
    assert job["status"] == "failed"
    assert emulator.list_contacts() == []
    emulator.set_faults(job_failure_rate=0.0, latency=0.2)
    start = time.monotonic()
    api("GET", "/v3/marketing/lists")
    assert time.monotonic() - start >= 0.2


def test_serves_concurrent_requests(emulator: SendGridEmulator) -> None:
    emulator.set_faults(latency=0.3)
    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: Api(emulator.url)("GET", "/v3/marketing/lists").status_code, range(8)))
    assert codes == [200] * 8
    assert time.monotonic() - start < 8 * 0.3 / 2  # overlapped, not one at a time


def test_request_log_over_http(emulator: SendGridEmulator, api: Api) -> None:
    api("PUT", "/v3/marketing/contacts", json={"contacts": [{"email": "a@x.io"}, {"email": "b@x.io"}]})
    [entry] = fetch(emulator.url, "requests")["requests"]
    assert (entry["method"], entry["path"], entry["status"], entry["contacts"]) == (
        "PUT",
        "/v3/marketing/contacts",
        202,
        2,
    )
    assert entry["bytes"] > 0


def test_state_is_kept_in_data_file(tmp_path) -> None:
    data = tmp_path / "state.json"
    with SendGridEmulator(API_KEY, data_path=data, job_delay=0) as first:
        list_id = first.create_list("kept")
        Api(first.url)("PUT", "/v3/marketing/contacts", json={"list_ids": [list_id], "contacts": [{"email": "a@x.io"}]})
        first.wait_for_jobs()
    with SendGridEmulator(API_KEY, data_path=data) as second:
        assert second.list_emails(list_id) == {"a@x.io"}


def test_search_by_email_follows_the_definitions(emulator: SendGridEmulator, api: Api) -> None:
    """Spec (ListContactByEmail): alternate emails searched, keys lower-cased, items of at most 100 characters."""
    api("PUT", "/v3/marketing/contacts", json={"contacts": [{"email": "ann@x.io", "alternate_emails": ["old@x.io"]}]})
    emulator.wait_for_jobs()
    found = api("POST", "/v3/marketing/contacts/search/emails", json={"emails": ["OLD@x.io", "ANN@x.io", ""]}).json()
    assert set(found["result"]) == {"old@x.io", "ann@x.io"}  # lower-cased; the empty item skipped
    assert found["result"]["old@x.io"]["contact"]["email"] == "ann@x.io"  # another contact's alternate
    long = api("POST", "/v3/marketing/contacts/search/emails", json={"emails": ["b@x.io", "c" * 96 + "@x.io"]})
    assert long.status_code == 400 and long.json()["errors"][0]["field"] == "emails[1]"
    query = api("POST", "/v3/marketing/contacts/search", json={"query": "email = 'ann@x.io'"}).json()
    assert [c["email"] for c in query["result"]] == ["ann@x.io"] and query["contact_count"] == 1
