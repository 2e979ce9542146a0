"""Requests being built: both caps, each email once, and bodies sent in slices that join to the batch."""

from __future__ import annotations

import json

import pytest

from target_sendgrid.delivery.request_batch import Batch, Body, encode
from target_sendgrid.report import RecordRef


@pytest.mark.parametrize("count", [1, Body.SLICE - 1, Body.SLICE, Body.SLICE + 1, 2 * Body.SLICE + 7])
def test_a_body_sent_in_slices_is_the_batch_joined(count: int) -> None:
    batch = Batch(("list-1",), 1, 30_000, 6_000_000)
    contacts = [{"email": f"p{i}@example.com", "first_name": "A" * (i % 7)} for i in range(count)]
    for number, contact in enumerate(contacts, 1):
        assert batch.add(contact["email"], encode(contact), RecordRef("profiles", number))
    body = batch.body()
    sent = b"".join(body)
    assert len(body) == len(sent) == batch.size  # the Content-Length, and the byte cap's count
    assert json.loads(sent) == {"list_ids": ["list-1"], "contacts": contacts}
    assert b"".join(body) == sent  # a retry sends it whole again
