"""Removing contacts from a list, and deleting them: chunked under the URL limits, each job followed to its end."""

from __future__ import annotations

import logging
from functools import partial

from target_sendgrid.sendgrid.api_errors import NotFound
from target_sendgrid.sendgrid.client import SendGridClient

logger = logging.getLogger(__name__)

REMOVE_CHUNK = 100  # contact ids per removal call, as other integrations use
MAX_QUERY_CHARS = 4_000  # of comma-separated ids in one removal URL: well under nginx's ~8 KB (a 414 past it)


def remove_from_list(client: SendGridClient, list_id: str, ids: list[str], timeout: float, attempts: int) -> None:
    """Remove contacts from a list, following each job to its end.

    SendGrid answers 404 for the whole call when one id no longer exists (a contact deleted
    since it was looked up): the ids that still exist are then removed, and the vanished
    ones are no longer in the list either, so they count as removed.
    """
    for chunk in _chunks(ids):
        try:
            _removal_job(client, list_id, chunk, timeout, attempts)
        except NotFound:
            existing = client.existing_contact_ids(chunk)
            if len(existing) == len(chunk):
                raise  # every contact exists: it is the list that is gone
            logger.info(
                "%d of %d contacts were deleted from SendGrid meanwhile; removing the other %d from list %s",
                len(chunk) - len(existing),
                len(chunk),
                len(existing),
                list_id,
            )
            if existing:
                _removal_job(client, list_id, existing, timeout, attempts)


def _removal_job(client: SendGridClient, list_id: str, ids: list[str], timeout: float, attempts: int) -> None:
    client.run_job(
        lambda: client.remove_from_list(list_id, ids),
        timeout,
        attempts,
        f"removal of {len(ids)} contacts from list {list_id}",
    )


def _chunks(ids: list[str]) -> list[list[str]]:
    """Ids in calls of at most REMOVE_CHUNK ids and MAX_QUERY_CHARS characters (nginx answers 414 past ~8 KB)."""
    chunks: list[list[str]] = []
    current: list[str] = []
    length = 0
    for contact_id in ids:
        if current and (len(current) >= REMOVE_CHUNK or length + 1 + len(contact_id) > MAX_QUERY_CHARS):
            chunks.append(current)
            current, length = [], 0
        current.append(contact_id)
        length += len(contact_id) + 1
    if current:
        chunks.append(current)
    return chunks


def delete_contacts(client: SendGridClient, ids: list[str], timeout: float, attempts: int) -> None:
    """Delete contacts from the account in calls under the URL limits (a 414 past ~8 KB), each job followed."""
    for chunk in _chunks(ids):
        client.run_job(partial(client.delete_contacts, chunk), timeout, attempts, f"deletion of {len(chunk)} contacts")
