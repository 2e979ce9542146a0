"""SendGrid's documented limits and reserved names, as the emulator enforces them.

The emulator's own copy, from SendGrid's OpenAPI spec and docs (the project's SendGrid API
notes), kept apart from the target's on purpose: a wrong limit in one is caught by the tests
that check both against the conformance schemas, instead of being wrong in both unseen.
"""

from __future__ import annotations

import re

MAX_CONTACTS_PER_UPSERT = 30_000
MAX_BODY_BYTES = 6_000_000
MAX_SEARCH_EMAILS = 100
MAX_SEARCH_EMAIL_LENGTH = 100  # characters of one search/emails item (upserts take 254)
MAX_QUERY_RESULTS = 50  # contacts one SGQL search returns
MAX_LISTS = 1_000
MAX_CUSTOM_FIELDS = 500
MAX_TEXT_VALUE = 1_000  # characters of a Text custom field
MAX_ALTERNATE_EMAILS = 5
MAX_EMAIL_LENGTH = 254  # email, and each alternate email
IDENTIFIERS = ("email", "phone_number_id", "external_id", "anonymous_id")

# Reserved contact fields written as strings, with their maximum lengths (None: none stated).
FIELD_LIMITS: dict[str, int | None] = {
    "email": MAX_EMAIL_LENGTH,
    "external_id": 254,
    "anonymous_id": 254,
    "phone_number_id": 254,
    "first_name": 50,
    "last_name": 50,
    "address_line_1": 100,
    "address_line_2": 100,
    "city": 60,
    "state_province_region": 50,
    "country": 50,
    "postal_code": None,
    "phone_number": None,
    "whatsapp": None,
    "line": None,
    "facebook": None,
    "unique_name": None,
}
RESERVED_NAMES = frozenset({*FIELD_LIMITS, "alternate_emails", "created_at", "updated_at", "contact_id", "list_ids"})
CUSTOM_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")  # unique case-insensitively, not reserved
# Bytes of any request body the emulator reads (CSV uploads included): a larger Content-Length is a
# 413 before a byte is read. SendGrid takes CSV imports up to 5 GB; the emulator is for tests.
MAX_FRAME_BYTES = 64_000_000
