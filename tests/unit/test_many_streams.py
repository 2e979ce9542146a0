"""Many streams cost linear time: each stream's record path is judged once, not once per stream per schema."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from target_sendgrid.singer.sink_base import SingerSink
from target_sendgrid.singer.target_base import SingerTarget
from target_sendgrid.target import TargetSendGrid

DRY_RUN = {
    "api_key": "SG.unused",
    "data_privacy_consent": True,
    "list_id": "3f1c2a9e-5b7d-4c1e-9a2b-7d8e6f5a4b3c",
    "dry_run": True,
    "max_contacts": 0,
}


def singer(streams: int, records: int) -> str:
    lines = []
    for i in range(streams):
        schema = {"properties": {"email": {"type": "string"}}}
        lines.append({"type": "SCHEMA", "stream": f"s{i}", "schema": schema, "key_properties": []})
        lines += [{"type": "RECORD", "stream": f"s{i}", "record": {"email": f"u{i}.{n}@x.io"}} for n in range(records)]
    again = {"type": "SCHEMA", "stream": "s0", "schema": {"properties": {"email": {"type": "string"}, "x": {}}}}
    lines += [again, {"type": "RECORD", "stream": "s0", "record": {"email": "late@x.io"}}]
    return "".join(json.dumps(line) + "\n" for line in lines)


def test_each_stream_is_judged_once_and_again_only_after_its_own_new_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    judged: list[str] = []
    original = SingerTarget._direct_sink

    def counting(self: SingerTarget, stream: str) -> SingerSink | None:
        judged.append(stream)
        return original(self, stream)

    monkeypatch.setattr(SingerTarget, "_direct_sink", counting)
    target = TargetSendGrid(config=DRY_RUN)
    with contextlib.redirect_stdout(io.StringIO()):
        target.listen(io.StringIO(singer(streams=300, records=3)))
    assert len(judged) == 301 and judged.count("s0") == 2  # once each, and s0 again after its new schema
    assert target.run.report.counts["exported"] == 300 * 3 + 1
