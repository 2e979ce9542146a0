"""Lists: paged listing, creation, one list (with its contact sample), renaming, deletion, its count,
and removing members (a job).

Follows "Lists" in docs/sendgrid-api.md and tsg_mc_lists_v3.yaml (operation named on each handler).
"""

from __future__ import annotations

import uuid

from sendgrid_emulator.account import Account, ApiError, Request, Response, Route
from sendgrid_emulator.checks import body_object, id_list, query_flag, query_int
from sendgrid_emulator.limits import MAX_LISTS

CONTACT_SAMPLE = 50  # contacts in GetMarketingList's contact_sample (spec: "up to 50", as ListContact)

ROUTES: tuple[Route, ...] = (
    ("GET", r"/v3/marketing/lists", "_get_lists", "lists"),
    ("POST", r"/v3/marketing/lists", "_create_list", "lists"),
    ("GET", r"/v3/marketing/lists/(?P<list_id>[^/]+)", "_get_list", "lists"),
    ("PATCH", r"/v3/marketing/lists/(?P<list_id>[^/]+)", "_rename_list", "lists"),
    ("DELETE", r"/v3/marketing/lists/(?P<list_id>[^/]+)", "_delete_list", "lists"),
    ("GET", r"/v3/marketing/lists/(?P<list_id>[^/]+)/contacts/count", "_get_list_count", "lists"),
    ("DELETE", r"/v3/marketing/lists/(?P<list_id>[^/]+)/contacts", "_remove_from_list", "lists"),
)


class ListsEndpoints(Account):
    """The list endpoints."""

    def _get_lists(self, req: Request) -> Response:
        """ListMarketingList: page_size 1..1000; page_token is the emulator's own (an offset)."""
        size = query_int(req, "page_size", 100, 1, 1000)
        start = query_int(req, "page_token", 0, 0, 10**9)
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
        name = _list_name(body_object(req))
        with self._lock:
            self._check_list_unique(name, None)
            if len(self.lists) >= MAX_LISTS:
                raise ApiError(400, f"an account can have at most {MAX_LISTS} lists", "name")
            lst = {"id": str(uuid.uuid4()), "name": name}
            self.lists[lst["id"]] = lst
            self._save()
            return 201, {**lst, "contact_count": 0}

    def _get_list(self, req: Request) -> Response:
        """GetMarketingList: with ``contact_sample=true``, up to 50 of its contacts as well."""
        sample = query_flag(req, "contact_sample")
        with self._lock:
            lst = self._list_or_404(req.params["list_id"])
            list_id = lst["id"]  # one list's count: tallying every list took 60 ms at 100k contacts
            members = [c for c in self.contacts.values() if list_id in c["list_ids"]]
            answer = {**lst, "contact_count": len(members), "_metadata": {"self": f"{self.url}{req.path}"}}
            if sample:
                answer["contact_sample"] = [self._public(c) for c in members[-CONTACT_SAMPLE:]]
            return 200, answer

    def _rename_list(self, req: Request) -> Response:
        """UpdateMarketingList: a new name, unique as at creation; 404 for an unknown list."""
        body = body_object(req)
        with self._lock:
            lst = self._list_or_404(req.params["list_id"])
            name = _list_name(body)
            self._check_list_unique(name, lst["id"])
            lst["name"] = name
            self._save()
            return self._get_list(Request("GET", req.path, {}, b"", req.params))

    def _delete_list(self, req: Request) -> Response:
        """DeleteMarketingList: 204 at once; with ``delete_contacts=true`` its contacts go too, by a job (200)."""
        delete_contacts = query_flag(req, "delete_contacts")
        with self._lock:
            lst = self._list_or_404(req.params["list_id"])
            members = [c["id"] for c in self.contacts.values() if lst["id"] in c["list_ids"]]
            del self.lists[lst["id"]]
            for contact in self.contacts.values():
                if lst["id"] in contact["list_ids"]:
                    contact["list_ids"].remove(lst["id"])
            self._save()
            if delete_contacts:
                return 200, {"job_id": self._enqueue("delete", {"ids": members}).id}
        return 204, None

    def _check_list_unique(self, name: str, own_id: str | None) -> None:
        if any(lst["name"] == name for lst in self.lists.values() if lst["id"] != own_id):
            raise ApiError(400, "a list with this name already exists", "name")

    def _get_list_count(self, req: Request) -> Response:
        count = self._get_list(req)[1]["contact_count"]
        return 200, {"contact_count": count, "billable_count": count}

    def _remove_from_list(self, req: Request) -> Response:
        ids = id_list(req, "contact_ids")
        with self._lock:
            self._list_or_404(req.params["list_id"])
            if not ids:
                raise ApiError(400, "contact_ids are required", "contact_ids")
            # Spec: 404 when the list does not exist or one or more of the contact ids do not exist.
            if any(i not in self.contacts for i in ids):
                raise ApiError(404, "one or more contact ids do not exist", "contact_ids")
            job = self._enqueue("remove_from_list", {"list_id": req.params["list_id"], "ids": ids})
        return 202, {"job_id": job.id}


def _list_name(body: dict) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise ApiError(400, "name must be 1 to 100 characters", "name")
    return name
