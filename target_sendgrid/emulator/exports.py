"""Contact exports: start one, poll it, and download its file.

Follows "Finding contacts" and "Export files" in the API notes.
"""

from __future__ import annotations

import json
import time
import uuid

from target_sendgrid.emulator.account import Account, ApiError, Request, Response, Route

ROUTES: tuple[Route, ...] = (
    ("POST", r"/v3/marketing/contacts/exports", "_create_export", "exports"),
    ("GET", r"/v3/marketing/contacts/exports/(?P<export_id>[^/]+)", "_get_export", "exports"),
    ("GET", r"/_emulator/downloads/(?P<export_id>[^/]+)", "_admin_download", None),
)


class ExportsEndpoints(Account):
    """The export endpoints, and the download links they hand out."""

    def _create_export(self, req: Request) -> Response:
        body = req.json() or {}
        list_ids = body.get("list_ids") or []
        with self._lock:
            if any(i not in self.lists for i in list_ids):
                raise ApiError(400, "list ids do not exist", "list_ids")
            export_id = str(uuid.uuid4())
            self.exports[export_id] = {"id": export_id, "list_ids": list_ids, "due": time.monotonic() + self.job_delay}
        return 202, {"id": export_id}

    def _get_export(self, req: Request) -> Response:
        with self._lock:
            export = self.exports.get(req.params["export_id"])
            if export is None:
                raise ApiError(404, "export not found", "id")
            if export["due"] > time.monotonic():
                return 200, {"id": export["id"], "status": "pending"}
            if "rows" not in export:  # the file is made once, when the export is ready
                wanted = set(export["list_ids"])
                export["rows"] = [
                    self._public(c) for c in self.contacts.values() if not wanted or wanted & set(c["list_ids"])
                ]
            return 200, {
                "id": export["id"],
                "status": "ready",
                "contact_count": len(export["rows"]),
                "urls": [f"{self.url}/_emulator/downloads/{export['id']}"],
            }

    def _admin_download(self, req: Request) -> Response:
        export = self.exports.get(req.params["export_id"])
        if export is None or "rows" not in export:
            raise ApiError(404, "export not ready")
        return 200, "".join(json.dumps(row) + "\n" for row in export["rows"]).encode()
