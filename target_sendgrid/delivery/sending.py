"""Delivering one batch: the upsert (or removal), its import job followed to the end, refusals isolated."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from target_sendgrid.delivery.request_batch import Batch
from target_sendgrid.lifecycle.failures import ExportError
from target_sendgrid.report import RecordRef, RunReport
from target_sendgrid.sendgrid.api_errors import BadRequest, scrub
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.sendgrid.removals import delete_contacts, remove_from_list

logger = logging.getLogger(__name__)

# A 400 names a refused contact as contacts[N].<field>; the suffix varies (see docs/sendgrid-api.md).
_CONTACT_FIELD = re.compile(r"^contacts\[(\d+)\]")


class Delivery:
    """Sends batches to SendGrid and accounts for every contact in them.

    Runs in the exporter's worker threads, one batch a call. A dry run (no client) only counts.
    """

    def __init__(
        self,
        client: SendGridClient | None,
        report: RunReport,
        *,
        job_timeout: float,
        max_job_attempts: int,
        describe: Callable[[tuple[str, ...]], str] = lambda ids: str(list(ids)),
    ) -> None:
        self.client = client
        self.report = report
        self.describe = describe  # list ids as messages name them
        self.job_timeout = job_timeout
        self.max_job_attempts = max_job_attempts

    def deliver(self, batch: Batch) -> None:
        """Upsert a batch (or remove it from its list); isolate contacts SendGrid refuses."""
        if batch.kind == "remove":
            self._remove(batch)
            return
        if batch.kind == "delete":
            self._delete(batch)
            return
        if self.client is None:
            self.report.count("exported", len(batch.contacts))
            self.report.count_lists(batch.list_ids, len(batch.contacts))
            batch.settled = len(batch.contacts)
            return
        chunks: list[list[str]] = [list(batch.contacts)]
        while chunks:
            emails = chunks.pop()
            try:
                self._upsert(batch, emails)
            except BadRequest as err:
                chunks += self._isolate(batch, emails, err)

    def _remove(self, batch: Batch) -> None:
        """Find the contacts' ids, remove them from the list, and follow each job to its end."""
        emails = list(batch.contacts)
        [list_id] = batch.list_ids
        if self.client is None:
            self.report.count("removed", len(emails))
            return
        found, unlooked = self.client.contact_ids(emails)
        ids = list(found.values())
        remove_from_list(self.client, list_id, ids, self.job_timeout, self.max_job_attempts)
        self.report.count("removed", len(ids))
        missing = len(emails) - len(ids) - len(unlooked)
        logger.info("Removed %d contacts from list %s (%d not in SendGrid)", len(ids), list_id, missing)
        self._not_looked_up(batch, unlooked, f"leave list {self.describe((list_id,))}", "they stay in the list")

    def _delete(self, batch: Batch) -> None:
        """Find the contacts' ids and delete them from the account; a contact already gone counts as deleted."""
        emails = list(batch.contacts)
        if self.client is None:
            self.report.count("deleted_contacts", len(emails))
            return
        found, unlooked = self.client.contact_ids(emails)
        delete_contacts(self.client, list(found.values()), self.job_timeout, self.max_job_attempts)
        self.report.count("deleted_contacts", len(emails) - len(unlooked))
        logger.info(
            "Deleted %d contacts from the account, every list with them, for records flagged deleted (%d were gone "
            "already)",
            len(found),
            len(emails) - len(unlooked) - len(found),
        )
        self._not_looked_up(batch, unlooked, "be deleted", "they stay in the account")

    def _not_looked_up(self, batch: Batch, unlooked: list[str], to: str, so: str) -> None:
        """Count and name by record number the addresses no search could take (never the addresses)."""
        if not unlooked:
            return
        self.report.count("removals_not_looked_up", len(unlooked))
        logger.warning(
            "%d contacts could not be looked up to %s (records %s): their addresses are longer than search/emails "
            "takes and hold characters SGQL's quoting leaves undocumented; %s",
            len(unlooked),
            to,
            batch.records(unlooked),
            so,
        )

    def _isolate(self, batch: Batch, emails: list[str], err: BadRequest) -> list[list[str]]:
        """Reject the contacts a 400 names and return what is left to send (bisect if none is named)."""
        named: dict[int, str] = {}
        for error in err.errors:
            match = _CONTACT_FIELD.match(str(error.get("field") or ""))
            if match and int(match.group(1)) < len(emails):
                named.setdefault(int(match.group(1)), str(error.get("message")))
            elif error.get("field") == "list_ids":
                raise ExportError(f"SendGrid refused the list ids {list(batch.list_ids)}: {err}")
        if named:
            for index, message in named.items():
                self.report.reject(batch.ref(emails[index]), "rejected by SendGrid", message)
                batch.settled += 1
            rest = [e for i, e in enumerate(emails) if i not in named]
            return [rest] if rest else []
        if len(emails) == 1:
            self.report.reject(batch.ref(emails[0]), "rejected by SendGrid", scrub(str(err)))
            batch.settled += 1
            return []
        half = len(emails) // 2
        return [emails[half:], emails[:half]]

    def _upsert(self, batch: Batch, emails: list[str]) -> None:
        """Upsert these contacts of a batch, follow the job to its end, and account for it."""
        client = self.client
        assert client is not None
        logger.info("Sending %d contacts to %s", len(emails), self.describe(batch.list_ids))
        self.report.count("sent", len(emails))
        job, submissions = client.run_job(
            # The body is made for each submission, not kept: held while the job ran, it was 6 MB
            # per batch in flight, a quarter of the run's peak memory.
            lambda: client.upsert(batch.body(emails)),
            self.job_timeout,
            self.max_job_attempts,
            f"{len(emails)} contacts to {self.describe(batch.list_ids)}",
        )
        results = job.get("results") or {}
        errored = int(results.get("errored_count") or 0)
        self.report.count("upserts", submissions)
        self.report.count("jobs", submissions)
        self.report.count("jobs_resubmitted", submissions - 1)
        self.report.count("created", int(results.get("created_count") or 0))
        self.report.count("updated", int(results.get("updated_count") or 0))
        self.report.count("exported", len(emails) - errored)
        self.report.count_lists(batch.list_ids, len(emails) - errored)
        batch.settled += len(emails)  # the errored ones are rejected below
        if errored:
            self._report_job_errors(batch, emails, job, errored)

    def _report_job_errors(self, batch: Batch, emails: list[str], job: dict[str, Any], errored: int) -> None:
        assert self.client is not None
        listed = 0
        for email, message in self.client.job_errors(job):
            if email in batch.contacts and listed < errored:
                self.report.reject(batch.ref(email), "import job error", scrub(message)[:500])
                listed += 1
        for _ in range(errored - listed):  # errors SendGrid did not itemise are still counted
            self.report.reject(RecordRef(batch.ref(emails[0]).stream, -1), "import job error", job.get("id"))
