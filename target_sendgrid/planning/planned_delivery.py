"""Planning one batch instead of sending it: what SendGrid would do with each of its contacts.

Handed to the exporter as its ``delivery``, it runs in the workers in the place of
:class:`~target_sendgrid.delivery.sending.Delivery`, one batch a call, in the order the real run
would send them. Contacts in none of the target lists are looked up (``search/emails``, primary
emails only) to tell new contacts from existing ones; nothing is written.
"""

from __future__ import annotations

import logging

from target_sendgrid.delivery.request_batch import Batch
from target_sendgrid.planning.plan import Plan
from target_sendgrid.report import RunReport
from target_sendgrid.sendgrid.client import SendGridClient

logger = logging.getLogger(__name__)


class PlanDelivery:
    """Counts each batch into the plan, with the same tallies a real delivery keeps."""

    def __init__(self, client: SendGridClient, report: RunReport, plan: Plan) -> None:
        self.client = client
        self.report = report
        self.plan = plan

    def deliver(self, batch: Batch) -> None:
        """Plan an upsert, a removal from a list, or deletions from the account."""
        emails = list(batch.contacts)
        unlooked = self._look_up(batch, emails)
        if batch.kind == "remove":
            [list_id] = batch.list_ids
            # A real run asks SendGrid to take every contact it finds out of the list, and counts each
            # (removed_from_lists); the plan's list entry counts only the members that leave (remove).
            found = [email for email in emails if self.plan.exists(email)]
            for email in emails:
                self.plan.remove(email, list_id, batch.ref(email).number)
            self.report.count("removed", len(found))
            return
        if batch.kind == "delete":
            deleted = sum(self.plan.delete(email, batch.ref(email).number) for email in emails)
            counted = len(emails) - len(unlooked)  # as a real run counts: one gone already included
            self.report.count("deleted_contacts", counted)
            # The real run's line, in the conditional: the same numbers as the summary's deleted_contacts.
            logger.info(
                "Plan: %d contacts would be deleted from the account, every list with them, for records flagged "
                "deleted (%d are gone already; deleted_contacts counts both)",
                deleted,
                counted - deleted,
            )
            return
        for email in emails:
            self.plan.upsert(email, batch.list_ids, batch.ref(email).number)
        self.report.count("exported", len(emails))
        self.report.count_lists(batch.list_ids, len(emails))
        batch.settled = len(emails)

    def _look_up(self, batch: Batch, emails: list[str]) -> list[str]:
        """Tell which contacts the account has, of those SendGrid's copy of the lists does not show.

        Returns the addresses no search could take (a real run cannot act on them either).
        """
        unknown = self.plan.unknown(emails)
        if not unknown:
            return []
        found, unlooked = self.client.contact_ids(unknown)
        self.plan.found(unknown, set(found))
        if unlooked:
            logger.warning(
                "Plan: %d contacts could not be looked up (records %s: addresses no search takes); they are counted "
                "as new to the account",
                len(unlooked),
                batch.records(unlooked),
            )
        return unlooked
