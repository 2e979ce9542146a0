"""The Singer SDK's standard target tests, against the emulator.

Their streams mostly have no email property: the target must take them in its stride,
rejecting those records with a reason, relaying STATE and failing only where the SDK
expects a failure (a record before its schema, a record missing its key).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner

from sendgrid_emulator import SendGridEmulator
from target_sendgrid.target import TargetSendGrid
from tests.support import API_KEY

# The SDK builds the class at import, with its tests as methods; its runner (and so its configuration)
# is a fixture, replaced below: the emulator starts when the first of these tests runs, not at import.
_SdkStandardTests = get_target_test_class(TargetSendGrid)


@pytest.fixture(scope="module")
def standard_emulator() -> Iterator[SendGridEmulator]:
    """One emulator for the module's tests (each makes a list of the same name: the first creates it)."""
    with SendGridEmulator(API_KEY, job_delay=0.01) as emulator:
        yield emulator


class TestTargetSendGridStandard(_SdkStandardTests):  # type: ignore[misc,valid-type]
    """The SDK's standard target tests, against the module's emulator."""

    @pytest.fixture
    def runner(self, standard_emulator: SendGridEmulator) -> TargetTestRunner:
        """The SDK's runner, configured for the module's emulator."""
        config = {
            "api_key": API_KEY,
            "api_url": standard_emulator.url,
            "list_name": "SDK standard tests",
            "data_privacy_consent": True,
        }
        return TargetTestRunner(target_class=TargetSendGrid, config=config, parse_env_config=True)
