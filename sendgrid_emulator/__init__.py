"""A stateful emulator of SendGrid's Marketing Contacts API.

It is the test bed of this project and the default destination of a first run: a real
HTTP server on loopback that is at least as strict as SendGrid where SendGrid is strict
(see the facts it follows in docs/sendgrid-api.md). Upserts answer 202 and
are applied later, when their import job runs, just as at SendGrid.

Layout: ``account`` (the state), one module per resource family (``contacts`` with import
jobs, ``identifiers``, ``imports``, ``search`` with the ``sgql`` parser, ``lists``, ``fields``,
``exports``), ``checks`` (request bodies), ``faults`` (rate limits and injected faults), ``framing``
(reading a request within bounds), ``routing`` (authentication, routes, the 26 spec operations) and
``server`` (the emulator as a whole, inspection, the ``sendgrid-emulator`` command).
Users' guide: docs/emulator.md.
"""

from sendgrid_emulator.account import Faults, valid_email
from sendgrid_emulator.server import DEFAULT_API_KEY, SendGridEmulator, fetch, main

__all__ = ["DEFAULT_API_KEY", "Faults", "SendGridEmulator", "fetch", "main", "valid_email"]
