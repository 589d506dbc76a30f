"""The one engine a server's request threads share, used one at a time, each use attributed to its caller; and,
when the server runs scan workers, the pool that scans suspects beside it.

The engine's models and caches are built for one caller at a time, so registrations, reports and (without a pool)
scans queue here; with a pool (service.scan_pool) scans run in its worker processes, one per core, and only wait
for a worker. Audit entries need no queue (the registry writes each in its own transaction) and go through `record`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from index.audit import Action, Actor, acting_as
from service.engine import Engine
from service.inputs import InputItem
from service.scan_pool import ScanPool


class EngineGate:
    def __init__(self, engine: Engine, pool: ScanPool | None = None) -> None:
        self.engine = engine
        self.pool = pool
        self._lock = threading.Lock()

    def scan(self, actor: Actor, name: str, data: bytes, top_k: int = 5) -> dict[str, object]:
        """One suspect's scan JSON: in a worker when there is a pool (scan_pool.PoolBusy when it is full), else on
        the shared engine in turn. The caller writes its audit entry."""
        if self.pool is not None:
            return self.pool.scan(name, data, top_k)
        with self.use(actor) as engine:
            result: dict[str, object] = engine.scan(InputItem(name, reader=lambda: data), top_k=top_k).to_json()
            return result

    @contextmanager
    def use(self, actor: Actor) -> Iterator[Engine]:
        """The engine, alone, with every audit entry written inside attributed to `actor`."""
        with self._lock, acting_as(actor):
            yield self.engine

    def record(self, actor: Actor, action: Action, details: dict[str, object], ref: str = "", sha256: str = "") -> None:
        """An audit entry by `actor` (sign-ins, shares, downloads, key changes: anything that is not a scan)."""
        with acting_as(actor):
            self.engine.record(action, details, ref, sha256)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        with self._lock:
            self.engine.close()
