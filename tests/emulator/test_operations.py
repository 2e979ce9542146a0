"""The operations #33 added or corrected, over real HTTP, each as the spec operation named in its test says."""

from __future__ import annotations

import gzip

import pytest
import requests
import yaml

from sendgrid_emulator import SendGridEmulator
from tests.support import ROOT, Api

SPECS = ROOT.parent / "shared" / "oai"


@pytest.fixture(autouse=True)
def jobs_run_at_once(emulator: SendGridEmulator) -> None:
    """Jobs and exports due at once: the first poll finds them done, so no test waits on a clock."""
    emulator.job_delay = 0


def settled(api: Api, started: requests.Response | str) -> dict:
    """The job a 202 (or a list deletion's 200) started, or a job id: done by the first poll (jobs_run_at_once)."""
    job_id = started if isinstance(started, str) else started.json()["job_id"]
    job = api("GET", f"/v3/marketing/contacts/imports/{job_id}").json()
    assert job["status"] != "pending", job
    return job


def upsert(api: Api, contacts: list[dict], list_ids: tuple[str, ...] = ()) -> dict:
    return settled(api, api("PUT", "/v3/marketing/contacts", json={"list_ids": list(list_ids), "contacts": contacts}))


def search(api: Api, query: str) -> requests.Response:
    return api("POST", "/v3/marketing/contacts/search", json={"query": query})


def test_search_contact_follows_sgql_lower_case_semantics_and_the_50_cap(emulator: SendGridEmulator, api: Api) -> None:
    vip = emulator.create_list("vip")
    upsert(api, [{"email": "Alice@Example.com", "first_name": "Alice"}], (vip,))
    upsert(api, [{"email": f"user{i:02}@example.com"} for i in range(60)])
    assert search(api, "email = 'Alice@Example.com'").json()["contact_count"] == 0  # stored lower-case
    hit = search(api, "email = lower('Alice@Example.com')").json()
    assert [c["email"] for c in hit["result"]] == ["alice@example.com"]
    both = search(api, f"email LIKE 'alice%' AND CONTAINS(list_ids, '{vip}')").json()
    assert both["contact_count"] == 1
    many = search(api, "email LIKE 'user%' OR lower(first_name) = 'alice'").json()
    assert (len(many["result"]), many["contact_count"]) == (50, 61)  # at most 50 answered, all counted
    refused = search(api, "email != 'a@x.io'")
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {"field": "query", "message": "unsupported in the emulator's SGQL: '!=' at position 6"}
    ]


def test_custom_fields_are_searchable_by_name(emulator: SendGridEmulator, api: Api) -> None:
    ltv = emulator.create_custom_field("ltv", "Number")
    upsert(api, [{"email": "a@x.io", "custom_fields": {ltv: 12}}, {"email": "b@x.io", "custom_fields": {ltv: 3}}])
    assert [c["email"] for c in search(api, "ltv = 12").json()["result"]] == ["a@x.io"]
    assert "unknown field 'nope'" in search(api, "nope = 1").json()["errors"][0]["message"]


def test_lists_are_renamed_and_deleted_with_or_without_their_contacts(emulator: SendGridEmulator, api: Api) -> None:
    keep, drop = emulator.create_list("keep"), emulator.create_list("drop")
    upsert(api, [{"email": "a@x.io"}, {"email": "b@x.io"}], (keep, drop))
    renamed = api("PATCH", f"/v3/marketing/lists/{keep}", json={"name": "kept"})
    assert (renamed.status_code, renamed.json()["name"]) == (200, "kept")
    assert api("PATCH", f"/v3/marketing/lists/{keep}", json={"name": "drop"}).status_code == 400  # taken
    assert api("DELETE", f"/v3/marketing/lists/{drop}").status_code == 204
    assert all(drop not in c["list_ids"] for c in emulator.list_contacts())
    assert emulator.list_emails() == {"a@x.io", "b@x.io"}  # the contacts stay
    gone = api("DELETE", f"/v3/marketing/lists/{keep}", params={"delete_contacts": "true"})
    assert gone.status_code == 200
    assert settled(api, gone)["status"] == "completed"
    assert emulator.list_emails() == set()
    for method in ("GET", "PATCH", "DELETE"):
        missing = api(method, f"/v3/marketing/lists/{keep}", json={"name": "x"})
        assert (missing.status_code, missing.json()["errors"][0]["message"]) == (404, "list not found")


def test_field_definitions_list_the_spec_reserved_fields(api: Api) -> None:
    served = api("GET", "/v3/marketing/field_definitions").json()["reserved_fields"]
    spec_file = SPECS / "tsg_mc_custom_fields_v3.yaml"
    if not spec_file.exists():
        pytest.skip(f"SendGrid's spec file is not at {spec_file}")
    spec = yaml.safe_load(spec_file.read_text())
    example = spec["paths"]["/v3/marketing/field_definitions"]["get"]["responses"]["200"]["content"]
    documented = example["application/json"]["examples"]["response"]["value"]["reserved_fields"]
    by_id = {f["id"]: f for f in served}
    for field in documented:  # every one the spec shows, with its id, type and read-only flag
        assert by_id[field["id"]] == {"read_only": False, **field}


def test_custom_fields_are_renamed_and_deleted_with_their_values(emulator: SendGridEmulator, api: Api) -> None:
    ltv = emulator.create_custom_field("ltv", "Number")
    upsert(api, [{"email": "a@x.io", "custom_fields": {ltv: 5}}])
    path = f"/v3/marketing/field_definitions/{ltv}"
    assert api("PATCH", path, json={"name": "value"}).json()["name"] == "value"
    assert emulator.list_contacts()[0]["custom_fields"] == {"value": 5}
    assert api("PATCH", "/v3/marketing/field_definitions/_rf0_T", json={"name": "x"}).status_code == 400
    assert api("DELETE", path).status_code == 204
    assert emulator.list_contacts()[0]["custom_fields"] == {}
    assert api("DELETE", path).status_code == 404
    assert emulator.create_custom_field("other", "Text") == "e2_T"  # ids are not reused


def test_exports_refuse_segments_and_are_listed(emulator: SendGridEmulator, api: Api) -> None:
    upsert(api, [{"email": "a@x.io"}])
    refused = api("POST", "/v3/marketing/contacts/exports", json={"segment_ids": ["seg-1"]})
    assert refused.status_code == 400
    assert refused.json()["errors"] == [{"field": "segment_ids", "message": "segment ids do not exist: seg-1"}]
    started = api("POST", "/v3/marketing/contacts/exports", json={"file_type": "json"}).json()["id"]
    listed = api("GET", "/v3/marketing/contacts/exports").json()["result"]
    assert [e["id"] for e in listed] == [started]


def test_delete_all_contacts_and_its_refusals(emulator: SendGridEmulator, api: Api) -> None:
    upsert(api, [{"email": "a@x.io"}, {"email": "b@x.io"}])
    path = "/v3/marketing/contacts"
    assert api("DELETE", path).status_code == 400  # "You must set either ids or delete_all_contacts"
    assert api("DELETE", path, params={"delete_all_contacts": "yes"}).status_code == 400
    assert settled(api, api("DELETE", path, params={"delete_all_contacts": "true"}))["status"] == "completed"
    assert emulator.list_emails() == set()


def test_contacts_are_read_one_at_a_time_and_as_a_sample(emulator: SendGridEmulator, api: Api) -> None:
    upsert(api, [{"email": "b@x.io"}, {"email": "a@x.io"}])
    sample = api("GET", "/v3/marketing/contacts").json()
    assert [c["email"] for c in sample["result"]] == ["a@x.io", "b@x.io"] and sample["contact_count"] == 2
    one = sample["result"][0]
    assert api("GET", f"/v3/marketing/contacts/{one['id']}").json() == one
    missing = api("GET", "/v3/marketing/contacts/nobody")
    assert (missing.status_code, missing.headers["Content-Type"]) == (404, "application/json")


def test_an_identifier_is_deleted_unless_it_is_the_last(emulator: SendGridEmulator, api: Api) -> None:
    upsert(api, [{"email": "a@x.io", "external_id": "crm-1"}])
    [contact] = emulator.list_contacts()
    path = f"/v3/marketing/contacts/{contact['id']}/identifiers"
    found = api("POST", "/v3/marketing/contacts/search/identifiers/email", json={"identifiers": ["A@x.io", "z@x.io"]})
    assert found.json()["result"] == {"a@x.io": {"contact": contact}, "z@x.io": {"error": "contact not found"}}
    drop = {"identifier_type": "EMAIL", "identifier_value": "a@x.io"}
    assert settled(api, api("DELETE", path, json=drop))["status"] == "completed"
    last = {"identifier_type": "EXTERNALID", "identifier_value": "crm-1"}
    assert settled(api, api("DELETE", path, json=last))["status"] == "failed"  # every contact keeps one
    assert api("DELETE", path, json={"identifier_type": "NAME", "identifier_value": "x"}).status_code == 400
    none = api("POST", "/v3/marketing/contacts/search/identifiers/email", json={"identifiers": ["a@x.io"]})
    assert none.status_code == 404


def test_a_csv_import_goes_through_its_upload_link(emulator: SendGridEmulator, api: Api) -> None:
    vip = emulator.create_list("vip")
    ltv = emulator.create_custom_field("ltv", "Number")
    start = {"file_type": "csv", "field_mappings": ["_rf2", None, ltv], "list_ids": [vip]}
    assert api("PUT", "/v3/marketing/contacts/imports", json={**start, "list_ids": ["nope"]}).status_code == 404
    assert api("PUT", "/v3/marketing/contacts/imports", json={**start, "field_mappings": ["_rf0_T"]}).status_code == 400
    ticket = api("PUT", "/v3/marketing/contacts/imports", json=start).json()
    headers = {h["header"]: h["value"] for h in ticket["upload_headers"]}
    csv = b"EMAIL,SKIPPED,LTV\nAnn@X.io,x,7\nnot-an-email,x,1\n"
    assert requests.put(ticket["upload_uri"], data=csv, timeout=10).status_code == 403  # without its header
    keyed = requests.put(ticket["upload_uri"], data=csv, headers={**headers, **api.session.headers}, timeout=10)
    assert keyed.status_code == 400  # a pre-signed link takes no key
    assert requests.put(ticket["upload_uri"], data=gzip.compress(csv), headers=headers, timeout=10).status_code == 200
    job = settled(api, ticket["job_id"])
    assert (job["status"], job["results"]["created_count"], job["results"]["errored_count"]) == ("errored", 1, 1)
    [contact] = emulator.list_contacts(vip)
    assert (contact["email"], contact["custom_fields"]) == ("ann@x.io", {"ltv": 7})
