"""Signed webhook deliveries (an extension: the real GestãoClick has no webhooks).

Lets the team exercise a push-based inbound path against the sandbox. Deliveries run on one
background thread from a queue so the API never waits on the receiver; failures are retried
with exponential backoff, then dropped (and counted).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from crmsync.sandbox.formats import SandboxClock


def sign(secret: str, timestamp: str, raw_body: bytes, delivery_id: str = "") -> str:
    """``sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{delivery_id}.{raw_body}")>`` (the
    delivery id is signed too, so a captured delivery cannot be replayed under a new id)."""
    signed = timestamp.encode() + b"." + delivery_id.encode() + b"." + raw_body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class WebhookEmitter:
    def __init__(
        self,
        url: str,
        secret: str | None,
        clock: SandboxClock,
        *,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.secret = secret or ""
        self.clock = clock
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = backoff_seconds
        self.on_result = on_result
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    def __call__(self, evento: str, recurso: str, id_: str, record: dict[str, Any] | None, origem: str) -> None:
        """Store listener: build the payload now (ordering), deliver later."""
        delivery_id = str(uuid.uuid4())
        payload = {
            "delivery_id": delivery_id,
            "evento": evento,
            "recurso": recurso,
            "id": id_,
            "origem": origem,
            "ocorrido_em": self.clock.now_utc().isoformat().replace("+00:00", "Z"),
            "data": record,
        }
        self._queue.put((delivery_id, json.dumps(payload, ensure_ascii=False).encode()))

    def _report(self, outcome: str) -> None:
        if self.on_result:
            self.on_result(outcome)

    def _run(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while True:
                item = self._queue.get()
                if item is None:
                    self._queue.task_done()
                    return
                try:
                    self._deliver(client, *item)
                finally:
                    self._queue.task_done()

    def _deliver(self, client: httpx.Client, delivery_id: str, body: bytes) -> None:
        delay = self.backoff_seconds
        for attempt in range(1, self.max_attempts + 1):
            timestamp = str(int(self.clock.time()))
            headers = {
                "Content-Type": "application/json",
                "X-Sandbox-Delivery": delivery_id,
                "X-Sandbox-Timestamp": timestamp,
                "X-Sandbox-Signature": sign(self.secret, timestamp, body, delivery_id),
                "User-Agent": "crmsync-sandbox-webhooks/1",
            }
            try:
                response = client.post(self.url, content=body, headers=headers)
                if response.status_code < 300:
                    self._report("delivered")
                    return
            except httpx.HTTPError:
                pass
            self._report("failed_attempts")
            if attempt == self.max_attempts or self._stop.wait(delay):
                self._report("dropped")
                return
            delay *= 2

    def pending(self) -> int:
        return self._queue.qsize()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the queue is drained (tests); True when it is. Woken by the queue's own
        condition when its last task is done, not by polling."""
        drained = self._queue.all_tasks_done
        with drained:
            return drained.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout)

    def close(self) -> None:
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout=5)
