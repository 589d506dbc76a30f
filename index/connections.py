"""One SQLite connection per thread, all closable at once: how the registry and the service store serve a server's
worker threads (a sqlite3 connection must not be used by two threads at a time)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

IN_CHUNK = 500
"""Keys per `IN (...)` lookup: well under SQLite's bound on a statement's parameters."""


def durable_connection(path: Path) -> sqlite3.Connection:
    """A writing connection as every Semblance database uses one: transactions opened explicitly (autocommit
    otherwise), WAL so readers never wait for the writer, every commit fsynced, foreign keys enforced.
    check_same_thread=False only so that `close_all` may close every thread's connection; each is used by its own."""
    db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def in_chunks(values: Sequence[Any]) -> Iterator[tuple[Sequence[Any], str]]:
    """`values` IN_CHUNK at a time, each with its placeholders ("?,?,?") for an `IN (...)` lookup."""
    for start in range(0, len(values), IN_CHUNK):
        part = values[start : start + IN_CHUNK]
        yield part, ",".join("?" * len(part))


def read_only_connection(path: Path, probe: str) -> sqlite3.Connection:
    """A connection that writes nothing to `path`'s folder: shared with live writers where SQLite can, immutable where
    the folder is read-only (a WAL database without its -shm file there fails `probe`, a query that reads it)."""
    last: sqlite3.Error | None = None
    for mode in ("mode=ro", "immutable=1"):
        db = sqlite3.connect(
            f"file:{quote(str(path))}?{mode}", uri=True, timeout=60, isolation_level=None, check_same_thread=False
        )
        try:
            db.execute(probe).fetchone()
            return db
        except sqlite3.OperationalError as exc:
            db.close()
            last = exc
    assert last is not None
    raise last


class ThreadConnections:
    """Connections made by `connect` on first use in each thread; `close_all` closes every one of them."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._guard = threading.Lock()

    def get(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "db", None)
        if conn is None:
            conn = self._connect()
            self._local.db = conn
            with self._guard:
                self._all.append(conn)
        return conn

    def close_all(self) -> None:
        with self._guard:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
