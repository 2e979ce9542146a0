"""Finding contacts: by email (primary and alternate), by id, one contact, the sample, and SGQL search.

Follows "Finding contacts" in docs/sendgrid-api.md: ``search/emails`` takes at most 100 items of at most
100 characters, skips empty ones, searches primary and alternate emails and keys its answer by the
lower-cased address; 404 when nothing matched. SGQL is the subset in ``sgql`` (SearchContact).
"""

from __future__ import annotations

from sendgrid_emulator.account import Account, ApiError, Request, Response, Route, valid_email
from sendgrid_emulator.checks import body_object, string_list
from sendgrid_emulator.fields import RESERVED_FIELDS
from sendgrid_emulator.limits import IDENTIFIERS, MAX_QUERY_RESULTS, MAX_SEARCH_EMAIL_LENGTH, MAX_SEARCH_EMAILS
from sendgrid_emulator.sgql import SgqlError, matches, parse

ROUTES: tuple[Route, ...] = (
    ("POST", r"/v3/marketing/contacts/search/emails", "_search_emails", "contacts_search"),
    ("POST", r"/v3/marketing/contacts/search", "_search_query", "contacts_search"),
    ("POST", r"/v3/marketing/contacts/batch", "_get_batch", "contacts_search"),
    ("GET", r"/v3/marketing/contacts", "_sample", "contacts_read"),
    # Not the fixed paths beside it (count, exports, imports, search, batch), which other routes answer.
    (
        "GET",
        r"/v3/marketing/contacts/(?P<contact_id>(?!(?:count|exports|imports|search|batch)\Z)[^/]+)",
        "_get_contact",
        "contacts_read",
    ),
)

# Names an SGQL query may use besides custom fields: the reserved fields, identifiers and memberships.
SGQL_FIELDS = frozenset({*(f["name"] for f in RESERVED_FIELDS), *IDENTIFIERS, "list_ids", "segment_ids"})
SAMPLE_SIZE = 50  # ListContact: "up to 50 of the most recent contacts", sorted by email


class SearchEndpoints(Account):
    """The search and read endpoints."""

    def _get_contact(self, req: Request) -> Response:
        """GetContact: the contact with all its fields; 404 when no contact has that id."""
        with self._lock:
            contact = self.contacts.get(req.params["contact_id"])
            if contact is None:
                raise ApiError(404, "contact not found", "contact_id")
            return 200, self._public(contact)

    def _sample(self, req: Request) -> Response:
        """ListContact: the 50 most recently changed contacts, sorted by email, and the account's count.

        Pagination is deprecated (spec) and page_size/page_token are ignored (Nango's sync).
        """
        with self._lock:
            recent = sorted(self.contacts.values(), key=lambda c: c.get("updated_at") or "")[-SAMPLE_SIZE:]
            result = sorted((self._public(c) for c in recent), key=lambda c: c.get("email") or "")
            return 200, {
                "result": result,
                "contact_count": len(self.contacts),
                "_metadata": {"self": f"{self.url}{req.path}"},
            }

    def _get_batch(self, req: Request) -> Response:
        """ListBatchedContact: contacts by id (spec: up to 100 ids); 404 when none exists (as search/emails)."""
        ids = string_list(body_object(req), "ids", required=True, min_items=1, max_items=MAX_SEARCH_EMAILS)
        with self._lock:
            found = [self._public(self.contacts[i]) for i in ids if i in self.contacts]
        if not found:
            raise ApiError(404, "no contacts found", "ids")
        return 200, {"result": found}

    def _search_emails(self, req: Request) -> Response:
        """ListContactByEmail: primary and alternate emails, keyed by the lower-cased address."""
        body = body_object(req)
        emails = body.get("emails")
        if not isinstance(emails, list) or not 1 <= len(emails) <= MAX_SEARCH_EMAILS:
            raise ApiError(400, f"emails must hold 1 to {MAX_SEARCH_EMAILS} addresses", "emails")
        # Spec (ListContactByEmail): items of at most 100 characters, empty ones skipped; primary and
        # alternate emails searched; the answer keyed by the lower-cased address.
        emails = [e for e in emails if e != ""]
        for index, email in enumerate(emails):
            if isinstance(email, str) and len(email) > MAX_SEARCH_EMAIL_LENGTH:
                raise ApiError(400, f"must be at most {MAX_SEARCH_EMAIL_LENGTH} characters", f"emails[{index}]")
        bad = [e for e in emails if not valid_email(e)]
        if bad:
            raise ApiError(400, f"email '{bad[0]}' is not valid", "emails")
        result: dict[str, dict] = {}
        with self._lock:
            alternates = {
                a.lower(): c["id"] for c in self.contacts.values() for a in c.get("alternate_emails") or [] if a
            }
            for email in emails:
                key = email.lower()
                cid = self._by_identifier.get(("email", key)) or alternates.get(key)
                found = cid and self._public(self.contacts[cid])
                result[key] = {"contact": found} if found else {"error": "contact not found"}
        if not any("contact" in r for r in result.values()):
            raise ApiError(404, "no contacts found", "emails")
        return 200, {"result": result}

    def _search_query(self, req: Request) -> Response:
        """SearchContact: the SGQL subset of ``sgql``; at most 50 contacts answered, all of them counted."""
        body = body_object(req)
        query = body.get("query")
        if not isinstance(query, str):
            raise ApiError(400, "query must be a string of SGQL", "query")
        with self._lock:
            fields = SGQL_FIELDS | {f["name"] for f in self.custom_fields.values()}
            try:
                tree = parse(query, fields)
            except SgqlError as exc:
                raise ApiError(400, str(exc), "query") from None
            public = (self._public(c) for c in self.contacts.values())
            found = [c for c in public if matches(tree, {**c, "contact_id": c["id"]})]
        return 200, {
            "result": found[:MAX_QUERY_RESULTS],
            "contact_count": len(found),
            "_metadata": {"self": f"{self.url}{req.path}"},
        }
