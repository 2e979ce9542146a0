"""The yardstick: a singer-sdk target on SDK defaults whose batches go nowhere."""

from __future__ import annotations

from singer_sdk import typing as th
from singer_sdk.sinks import BatchSink
from singer_sdk.target_base import Target


class NullSink(BatchSink):
    """Validates and batches like any SDK sink, then drops the batch."""

    def process_batch(self, context: dict) -> None:
        """Do nothing."""


class NullTarget(Target):
    """A do-nothing target."""

    name = "target-null"
    config_jsonschema = th.PropertiesList().to_dict()
    default_sink_class = NullSink


if __name__ == "__main__":
    NullTarget.cli()
