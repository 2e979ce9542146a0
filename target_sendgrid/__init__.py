"""target-sendgrid: a Singer target that exports segments of customer profiles into SendGrid lists."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("target-sendgrid")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
