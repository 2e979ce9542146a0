"""Keeping lists in step with the source: mirror mode, table versions, and skip_unchanged's copy of SendGrid's lists."""
