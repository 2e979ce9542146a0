"""The config schema the SDK validates against, generated from the settings' one declaration.

Every setting is declared once, as a field of :class:`~target_sendgrid.settings.model.Settings`
(see ``declaration``); this is the JSON schema those fields make, in their declaration order:
what ``--about`` shows, the README's settings table and the plugin files list.
"""

from __future__ import annotations

from typing import Any

from target_sendgrid.settings.declaration import schema_of
from target_sendgrid.settings.model import Settings

CONFIG_SCHEMA: dict[str, Any] = schema_of(Settings)
