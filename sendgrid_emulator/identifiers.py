"""Identifiers (new-style contacts): search by one identifier type, and delete one identifier (a job).

Follows "Identifiers" in docs/sendgrid-api.md and GetContactByIdentifiers / DeleteContactIdentifier in
tsg_mc_contacts_v3.yaml: a search answers 200 when any value matched (the others with an error), 404 when
none did, 400 for an invalid email; a deletion is a job that fails when it would leave the contact with
no identifier ("All contacts are required to have at least one identifier").
"""

from __future__ import annotations

from typing_extensions import override

from sendgrid_emulator.account import Account, ApiError, Job, Request, Response, Route, valid_email
from sendgrid_emulator.checks import body_object, string, string_list
from sendgrid_emulator.limits import IDENTIFIERS, MAX_SEARCH_EMAILS

ROUTES: tuple[Route, ...] = (
    (
        "POST",
        r"/v3/marketing/contacts/search/identifiers/(?P<identifier_type>[^/]+)",
        "_search_identifiers",
        "contacts_search",
    ),
    ("DELETE", r"/v3/marketing/contacts/(?P<contact_id>[^/]+)/identifiers", "_delete_identifier", "contacts_delete"),
)

# IdentifierType (spec) -> the contact field it names.
IDENTIFIER_TYPES = {
    "EMAIL": "email",
    "PHONENUMBERID": "phone_number_id",
    "EXTERNALID": "external_id",
    "ANONYMOUSID": "anonymous_id",
}


class IdentifiersEndpoints(Account):
    """The identifier endpoints."""

    def _search_identifiers(self, req: Request) -> Response:
        kind = req.params["identifier_type"]
        if kind not in IDENTIFIERS:
            raise ApiError(400, f"identifier_type must be one of {', '.join(IDENTIFIERS)}", "identifier_type")
        values = string_list(body_object(req), "identifiers", required=True, min_items=1, max_items=MAX_SEARCH_EMAILS)
        if kind == "email":
            bad = [v for v in values if not valid_email(v)]
            if bad:
                raise ApiError(400, f"email '{bad[0]}' is not valid", "identifiers")
            values = [v.lower() for v in values]  # emails are stored in lower case
        result: dict[str, dict] = {}
        with self._lock:
            for value in values:
                contact_id = self._by_identifier.get((kind, value))
                if contact_id in self.contacts:
                    result[value] = {"contact": self._public(self.contacts[contact_id])}
                else:
                    result[value] = {"error": "contact not found"}
        if not any("contact" in r for r in result.values()):
            raise ApiError(404, "no contacts found", "identifiers")
        return 200, {"result": result}

    def _delete_identifier(self, req: Request) -> Response:
        body = body_object(req)
        kind = body.get("identifier_type")
        if not isinstance(kind, str) or kind not in IDENTIFIER_TYPES:
            raise ApiError(400, f"identifier_type must be one of {', '.join(IDENTIFIER_TYPES)}", "identifier_type")
        value = string(body, "identifier_value")
        with self._lock:
            if req.params["contact_id"] not in self.contacts:
                raise ApiError(404, "contact not found", "contact_id")
            payload = {"ids": [req.params["contact_id"]], "field": IDENTIFIER_TYPES[kind], "value": value}
            job = self._enqueue("delete_identifier", payload)
        return 202, {"job_id": job.id}

    @override
    def _apply_identifier_deletion(self, job: Job) -> None:
        [contact_id] = job.payload["ids"]
        field, value = job.payload["field"], job.payload["value"]
        contact = self.contacts.get(contact_id)
        stored = contact.get(field) if contact else None
        if field == "email" and isinstance(value, str):
            value = value.lower()
        if contact is None or stored != value:
            job.errors.append([value, "the contact has no such identifier"])
        elif sum(1 for k in IDENTIFIERS if contact.get(k)) == 1:
            job.errors.append([value, "a contact must keep at least one identifier"])
        else:
            del contact[field]
            self._by_identifier.pop((field, value), None)
        job.status = "failed" if job.errors else "completed"
        job.results = {"requested_count": 1, "deleted_count": 0 if job.errors else 1, "errored_count": len(job.errors)}
