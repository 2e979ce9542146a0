"""The Singer SDK's standard target tests, against the emulator.

Their streams mostly have no email property: the target must take them in its stride,
rejecting those records with a reason, relaying STATE and failing only where the SDK
expects a failure (a record before its schema, a record missing its key).
"""

from __future__ import annotations

import atexit

from singer_sdk.testing import get_target_test_class

from sendgrid_emulator import SendGridEmulator
from target_sendgrid.target import TargetSendGrid
from tests.support import API_KEY

# The test class is built at import, so its emulator is started here, once for the module.
_emulator = SendGridEmulator(API_KEY, job_delay=0.01).start()
atexit.register(_emulator.stop)

TestTargetSendGridStandard = get_target_test_class(
    TargetSendGrid,
    config={
        "api_key": API_KEY,
        "api_url": _emulator.url,
        "list_name": "SDK standard tests",
        "data_privacy_consent": True,
    },
)
