"""Finding contacts: by email (primary and alternate), by id, and the SGQL search the target uses.

Follows "Finding contacts" in docs/sendgrid-api.md: ``search/emails`` takes at most 100 items of at most
100 characters, skips empty ones, searches primary and alternate emails and keys its answer by the
lower-cased address; 404 when nothing matched.
"""

from __future__ import annotations

import re

from sendgrid_emulator.account import Account, ApiError, Request, Response, Route, valid_email
from sendgrid_emulator.limits import MAX_QUERY_RESULTS, MAX_SEARCH_EMAIL_LENGTH, MAX_SEARCH_EMAILS

ROUTES: tuple[Route, ...] = (
    ("POST", r"/v3/marketing/contacts/search/emails", "_search_emails", "contacts_search"),
    ("POST", r"/v3/marketing/contacts/search", "_search_query", "contacts_search"),
    ("POST", r"/v3/marketing/contacts/batch", "_get_batch", "contacts_search"),
)


class SearchEndpoints(Account):
    """The search endpoints."""

    def _get_batch(self, req: Request) -> Response:
        """Contacts by id (spec: up to 100 ids); 404 when none exists (a guess, as search/emails does)."""
        body = req.json()
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_SEARCH_EMAILS:
            raise ApiError(400, f"ids must hold 1 to {MAX_SEARCH_EMAILS} contact ids", "ids")
        with self._lock:
            found = [self._public(self.contacts[i]) for i in ids if i in self.contacts]
        if not found:
            raise ApiError(404, "no contacts found", "ids")
        return 200, {"result": found}

    def _search_emails(self, req: Request) -> Response:
        body = req.json()
        emails = body.get("emails") if isinstance(body, dict) else None
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
        """SGQL search, the subset the emulator knows: ``email = '<address>'`` (at most 50 contacts answered)."""
        body = req.json()
        query = body.get("query") if isinstance(body, dict) else None
        match = re.fullmatch(r"\s*email\s*=\s*'([^']*)'\s*", query) if isinstance(query, str) else None
        if match is None:
            raise ApiError(400, "the emulator's SGQL knows only: email = '<address>'", "query")
        with self._lock:
            found = [self._public(c) for c in self.contacts.values() if c.get("email") == match.group(1).lower()]
        return 200, {"result": found[:MAX_QUERY_RESULTS], "contact_count": len(found), "_metadata": {}}
