"""The one engine a server's request threads share, used one at a time, each use attributed to its caller.

The engine's models and caches are built for one caller at a time (and two scans at once on two cores would only
take turns anyway), so scans, registrations and reports queue here; audit entries need no queue (the registry
writes each in its own transaction) and go through `record`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from index.audit import Action, Actor, acting_as
from service.engine import Engine


class EngineGate:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()

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
        with self._lock:
            self.engine.close()
