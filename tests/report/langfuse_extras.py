"""The Langfuse fake plus the dataset and annotation-queue routes (server behaviour per the
reference: dataset items upsert by id; queue names unique; queue items NOT deduplicated)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from tests.support.langfuse_fake import PROJECT_ID, LangfuseFake, _bad


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _one(query: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = query.get(name)
    return values[0] if values else default


class InteropFake(LangfuseFake):
    """:class:`LangfuseFake` with ``/v2/datasets``, ``/dataset-items`` and ``/annotation-queues``."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.datasets: dict[str, dict[str, Any]] = {}
        self.dataset_items: dict[str, dict[str, Any]] = {}
        self.queues: dict[str, dict[str, Any]] = {}
        self.queue_items: dict[str, dict[str, Any]] = {}
        self._extra_lock = threading.Lock()

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        p = path.rstrip("/")
        with self._extra_lock:
            if p.startswith("/api/public/v2/datasets"):
                return self._datasets(method, p, body)
            if p == "/api/public/dataset-items" and method == "POST":
                return self._post_dataset_item(body)
            if p.startswith("/api/public/annotation-queues"):
                return self._queues(method, p, query, body)
            if p == "/api/public/projects" and method == "GET":
                project = {
                    "id": PROJECT_ID,
                    "name": "fake",
                    "organization": {"id": "org", "name": "Org"},
                    "metadata": {},
                }
                return 200, {"data": [project]}
        return super().handle(method, path, query, body)

    # -- datasets -------------------------------------------------------------------------------

    def _datasets(self, method: str, p: str, body: Any) -> tuple[int, Any]:
        if p == "/api/public/v2/datasets" and method == "POST":
            name = body["name"]
            ds = self.datasets.get(name)
            if ds is None:  # the server upserts by name
                stamp = _now()
                ds = {"id": uuid.uuid4().hex, "name": name, "projectId": PROJECT_ID, "createdAt": stamp}
                self.datasets[name] = ds
            ds.update(description=body.get("description"), metadata=body.get("metadata"), updatedAt=_now())
            return 200, ds
        if method == "GET" and p.startswith("/api/public/v2/datasets/"):
            name = unquote(p.rsplit("/", 1)[1])
            if name not in self.datasets:
                raise _bad(f"Dataset {name} not found", 404)
            return 200, self.datasets[name]
        raise _bad("unsupported dataset route", 404)

    def _post_dataset_item(self, body: Any) -> tuple[int, Any]:
        name = body.get("datasetName")
        if name not in self.datasets:
            raise _bad(f"Dataset {name} not found", 404)
        item_id = body.get("id") or uuid.uuid4().hex
        stamp = _now()
        item = self.dataset_items.get(item_id) or {"id": item_id, "createdAt": stamp}
        item.update(
            datasetId=self.datasets[name]["id"],
            datasetName=name,
            status=body.get("status") or "ACTIVE",
            input=body.get("input"),
            expectedOutput=body.get("expectedOutput"),
            metadata=body.get("metadata"),
            sourceTraceId=body.get("sourceTraceId"),
            sourceObservationId=body.get("sourceObservationId"),
            mediaReferences=[],
            updatedAt=stamp,
        )
        self.dataset_items[item_id] = item
        return 200, item

    # -- annotation queues ----------------------------------------------------------------------

    def _queues(self, method: str, p: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        parts = p.split("/")[4:]  # after /api/public/annotation-queues
        page = int(_one(query, "page", "1") or 1)
        limit = min(int(_one(query, "limit", "50") or 50), 100)

        def paginate(rows: list[dict[str, Any]]) -> dict[str, Any]:
            start = (page - 1) * limit
            total = len(rows)
            meta = {
                "page": page,
                "limit": limit,
                "totalItems": total,
                "totalPages": max(1, -(-total // limit)),
            }
            return {"data": rows[start : start + limit], "meta": meta}

        if not parts:
            if method == "GET":
                return 200, paginate(sorted(self.queues.values(), key=lambda q: q["createdAt"]))
            if method == "POST":
                if any(q["name"] == body["name"] for q in self.queues.values()):
                    raise _bad("A queue with this name already exists.")
                if not body.get("scoreConfigIds"):
                    raise _bad("scoreConfigIds: at least one score config is required")
                stamp = _now()
                q = {
                    "id": uuid.uuid4().hex,
                    "name": body["name"],
                    "description": body.get("description"),
                    "scoreConfigIds": list(body["scoreConfigIds"]),
                    "createdAt": stamp,
                    "updatedAt": stamp,
                }
                self.queues[q["id"]] = q
                return 200, q
        queue_id = unquote(parts[0])
        if queue_id not in self.queues:
            raise _bad(f"Annotation queue {queue_id} not found", 404)
        if len(parts) == 1 and method == "GET":
            return 200, self.queues[queue_id]
        if len(parts) == 2 and parts[1] == "items":
            if method == "GET":
                status = _one(query, "status")
                rows = [
                    i
                    for i in self.queue_items.values()
                    if i["queueId"] == queue_id and (not status or i["status"] == status)
                ]
                return 200, paginate(sorted(rows, key=lambda i: (i["createdAt"], i["id"])))
            if method == "POST":  # no deduplication, as on the real server
                stamp = _now()
                item = {
                    "id": uuid.uuid4().hex,
                    "queueId": queue_id,
                    "objectId": body["objectId"],
                    "objectType": body["objectType"],
                    "status": body.get("status") or "PENDING",
                    "completedAt": None,
                    "createdAt": stamp,
                    "updatedAt": stamp,
                }
                self.queue_items[item["id"]] = item
                return 200, item
        if len(parts) == 3 and parts[1] == "items" and method == "PATCH":
            item = self.queue_items.get(unquote(parts[2]))
            if item is None or item["queueId"] != queue_id:
                raise _bad("Annotation queue item not found", 404)
            if body.get("status"):
                item["status"] = body["status"]
                item["completedAt"] = _now() if body["status"] == "COMPLETED" else None
            item["updatedAt"] = _now()
            return 200, item
        raise _bad("unsupported annotation queue route", 404)
