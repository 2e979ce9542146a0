"""Lists: paged listing, creation, one list, its count, and removing members (a job).

Follows "Lists" in docs/sendgrid-api.md.
"""

from __future__ import annotations

import uuid

from sendgrid_emulator.account import Account, ApiError, Request, Response, Route
from sendgrid_emulator.limits import MAX_LISTS

ROUTES: tuple[Route, ...] = (
    ("GET", r"/v3/marketing/lists", "_get_lists", "lists"),
    ("POST", r"/v3/marketing/lists", "_create_list", "lists"),
    ("GET", r"/v3/marketing/lists/(?P<list_id>[^/]+)", "_get_list", "lists"),
    ("GET", r"/v3/marketing/lists/(?P<list_id>[^/]+)/contacts/count", "_get_list_count", "lists"),
    ("DELETE", r"/v3/marketing/lists/(?P<list_id>[^/]+)/contacts", "_remove_from_list", "lists"),
)


class ListsEndpoints(Account):
    """The list endpoints."""

    def _get_lists(self, req: Request) -> Response:
        try:
            size = int(req.query.get("page_size", ["100"])[0])
            start = int(req.query.get("page_token", ["0"])[0])
        except ValueError:
            raise ApiError(400, "page_size and page_token must be numbers", "page_size") from None
        if not 1 <= size <= 1000:
            raise ApiError(400, "page_size must be between 1 and 1000", "page_size")
        with self._lock:
            lists = list(self.lists.values())[start : start + size]
            counts = self._list_counts()
            meta = {"self": f"{self.url}{req.path}?page_size={size}&page_token={start}", "count": len(self.lists)}
            if start + size < len(self.lists):
                meta["next"] = f"{self.url}{req.path}?page_size={size}&page_token={start + size}"
            return 200, {
                "result": [{**lst, "contact_count": counts.get(lst["id"], 0)} for lst in lists],
                "_metadata": meta,
            }

    def _create_list(self, req: Request) -> Response:
        body = req.json()
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise ApiError(400, "name must be 1 to 100 characters", "name")
        with self._lock:
            if any(lst["name"] == name for lst in self.lists.values()):
                raise ApiError(400, "a list with this name already exists", "name")
            if len(self.lists) >= MAX_LISTS:
                raise ApiError(400, f"an account can have at most {MAX_LISTS} lists", "name")
            lst = {"id": str(uuid.uuid4()), "name": name}
            self.lists[lst["id"]] = lst
            self._save()
            return 201, {**lst, "contact_count": 0}

    def _get_list(self, req: Request) -> Response:
        with self._lock:
            lst = self._list_or_404(req.params["list_id"])
            list_id = lst["id"]  # one list's count: tallying every list took 60 ms at 100k contacts
            return 200, {**lst, "contact_count": sum(list_id in c["list_ids"] for c in self.contacts.values())}

    def _get_list_count(self, req: Request) -> Response:
        count = self._get_list(req)[1]["contact_count"]
        return 200, {"contact_count": count, "billable_count": count}

    def _remove_from_list(self, req: Request) -> Response:
        ids = [i for i in ",".join(req.query.get("contact_ids", [])).split(",") if i]
        with self._lock:
            self._list_or_404(req.params["list_id"])
            if not ids:
                raise ApiError(400, "contact_ids are required", "contact_ids")
            # Spec: 404 when the list does not exist or one or more of the contact ids do not exist.
            if any(i not in self.contacts for i in ids):
                raise ApiError(404, "one or more contact ids do not exist", "contact_ids")
            job = self._enqueue("remove_from_list", {"list_id": req.params["list_id"], "ids": ids})
        return 202, {"job_id": job.id}
