"""The emulator answers as SendGrid's published definitions say, for every endpoint the target calls."""

from __future__ import annotations

import json
import time

import fastjsonschema
import pytest
import requests

from sendgrid_emulator import SendGridEmulator
from tests.support import ROOT, Api

SCHEMAS = json.loads((ROOT / "tests" / "schemas" / "marketing.json").read_text())


def check(key: str, response: requests.Response, seen: set[str]) -> dict:
    """Validate one answer against its schema (status included) and note that it was checked."""
    status = key.rsplit(" ", 1)[1]
    assert response.status_code == int(status), (key, response.status_code, response.text[:300])
    validate = fastjsonschema.compile({"definitions": SCHEMAS["definitions"], **SCHEMAS["answers"][key]})
    body = response.json()
    validate(body)
    seen.add(key)
    return body


def poll(api: Api, path: str, key: str, seen: set[str]) -> dict:
    for _ in range(300):
        body = check(key, api("GET", path), seen)
        if body["status"] != "pending":
            return body
        time.sleep(0.01)
    raise AssertionError(f"{path} never finished")


@pytest.mark.parametrize("json_keys", ["lower", "upper"])
def test_every_success_answer_matches_the_published_shape(emulator: SendGridEmulator, api: Api, json_keys: str) -> None:
    emulator.export_variants.json_keys = json_keys
    emulator.job_delay = 0.2  # so that pending answers are seen too
    seen: set[str] = set()
    fields = "/v3/marketing/field_definitions"
    field = check(f"POST {fields} 200", api("POST", fields, json={"name": "ltv", "field_type": "Number"}), seen)
    check(f"GET {fields} 200", api("GET", fields), seen)
    made = check("POST /v3/marketing/lists 201", api("POST", "/v3/marketing/lists", json={"name": "c"}), seen)
    list_id = made["id"]
    check("GET /v3/marketing/lists 200", api("GET", "/v3/marketing/lists?page_size=1000"), seen)
    check("GET /v3/marketing/lists/{id} 200", api("GET", f"/v3/marketing/lists/{list_id}"), seen)
    contacts = [{"email": "a@x.io", "custom_fields": {field["id"]: 3}}, {"email": "b@x.io", "external_id": "b1"}]
    put = api("PUT", "/v3/marketing/contacts", json={"list_ids": [list_id], "contacts": contacts})
    job_id = check("PUT /v3/marketing/contacts 202", put, seen)["job_id"]
    job_path = f"/v3/marketing/contacts/imports/{job_id}"
    pending = check("GET /v3/marketing/contacts/imports/{id} 200", api("GET", job_path), seen)
    assert pending["status"] == "pending" and "finished_at" not in pending and pending["results"]  # as recorded
    finished = poll(api, job_path, "GET /v3/marketing/contacts/imports/{id} 200", seen)
    assert finished["status"] == "completed" and finished["finished_at"]
    search = "/v3/marketing/contacts/search/emails"
    found = check(f"POST {search} 200", api("POST", search, json={"emails": ["a@x.io", "zz@x.io"]}), seen)
    ids = [found["result"]["a@x.io"]["contact"]["id"]]
    check("POST /v3/marketing/contacts/batch 200", api("POST", "/v3/marketing/contacts/batch", json={"ids": ids}), seen)
    body = {"list_ids": [list_id], "file_type": "json"}
    export = check(
        "POST /v3/marketing/contacts/exports 202", api("POST", "/v3/marketing/contacts/exports", json=body), seen
    )
    ready = poll(
        api, f"/v3/marketing/contacts/exports/{export['id']}", "GET /v3/marketing/contacts/exports/{id} 200", seen
    )
    assert ready["status"] == "ready" and ready["urls"]
    removal = api("DELETE", f"/v3/marketing/lists/{list_id}/contacts", params={"contact_ids": ids[0]})
    check("DELETE /v3/marketing/lists/{id}/contacts 202", removal, seen)
    check("GET /v3/scopes 200", api("GET", "/v3/scopes"), seen)
    assert seen == set(SCHEMAS["answers"]), set(SCHEMAS["answers"]) - seen


def test_the_schemas_catch_an_answer_sendgrid_never_gives() -> None:
    """The schemas have teeth: the answers the emulator used to give fail them."""
    export = fastjsonschema.compile(
        {"definitions": SCHEMAS["definitions"], **SCHEMAS["answers"]["GET /v3/marketing/contacts/exports/{id} 200"]}
    )
    with pytest.raises(fastjsonschema.JsonSchemaValueException):
        export({"id": "x", "status": "ready", "urls": []})  # no created_at, updated_at, expires_at
    contact = fastjsonschema.compile(SCHEMAS["definitions"]["contact"])
    with pytest.raises(fastjsonschema.JsonSchemaValueException):
        contact({"id": "x", "list_ids": [], "created_at": "t", "updated_at": "t"})  # no segment_ids
    job = fastjsonschema.compile(SCHEMAS["definitions"]["import_job"])
    with pytest.raises(fastjsonschema.JsonSchemaValueException):
        job({"id": "x", "status": "pending", "finished_at": None})  # null, where production omits it
