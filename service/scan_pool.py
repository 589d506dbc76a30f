"""Scans in worker processes: each opens the workspace once with its own engine and scans one suspect at a time,
so a server uses every core (the engine serves one caller at a time, and Python threads share one core's worth of
the interpreter), and the web process itself only receives, authorises and answers.

A worker reads the registry (its search indexes follow new registrations by the registry's generation, as any
second process does) and writes nothing; the audit entry and the finding of each scan are written by the caller.
Work beyond `queue_bound` suspects in flight is refused at once (`PoolBusy`), so a flood of clients gets an answer
saying when to come back instead of a minute's wait.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from detector.embedders.base import THREADS_ENV
from detector.intake import sha256_hex
from service.inputs import InputItem
from service.results import EngineError, ScanResult


class PoolBusy(RuntimeError):
    """More suspects are in flight than the pool queues; `retry_after_s` is a fair guess of when to come back."""

    def __init__(self, in_flight: int, retry_after_s: int) -> None:
        super().__init__(f"{in_flight} scans are already waiting; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


_engine: Any = None
"""The worker process's engine (service.engine.Engine), opened by `_open`."""


def _open(home: str, embedder: str | None, item_seconds: float | None, threads: int) -> None:
    """Worker start-up: this worker's share of the cores, then the engine, once."""
    global _engine
    os.environ[THREADS_ENV] = str(threads)
    import torch

    torch.set_num_threads(threads)
    from service.engine import Engine

    _engine = Engine.open(home, embedder)
    _engine.item_seconds = item_seconds
    # calibration, background set and indexes loaded before the first suspect; without a calibration yet (a CLIP
    # workspace before `calibrate`) each scan says so, as it does in-process
    with contextlib.suppress(EngineError):
        _engine.ready()


def _scan(name: str, data: bytes, top_k: int) -> dict[str, object]:
    result: dict[str, object] = _engine.scan(InputItem(name, reader=lambda: data), top_k=top_k).to_json()
    return result


def usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _ping(_: int) -> int:
    return os.getpid()


class ScanPool:
    """`workers` processes scanning suspects of the workspace at `home`; one per core by default."""

    def __init__(
        self,
        home: Path,
        workers: int,
        embedder: str | None = None,
        item_seconds: float | None = None,
        queue_bound: int = 32,
    ) -> None:
        cores = usable_cores()
        self.workers = workers
        self.queue_bound = queue_bound
        context = multiprocessing.get_context("spawn")  # never fork a process holding threads and model sessions
        threads = max(1, cores // workers)
        self._start = lambda: ProcessPoolExecutor(workers, context, _open, (str(home), embedder, item_seconds, threads))
        self._pool = self._start()
        self._in_flight = 0
        self._lock = threading.Lock()
        try:  # the workers started, and a workspace they cannot open refused, before the server takes requests
            list(self._pool.map(_ping, range(workers)))
        except Exception as exc:
            self._pool.shutdown(cancel_futures=True)
            raise EngineError(f"the scan workers could not open {home} ({type(exc).__name__}: {exc})") from exc

    def admit(self) -> None:
        """PoolBusy now if a scan submitted now would be refused: checked before an upload is kept, so a refused
        upload leaves no custody record without a finding (a race may still let one more through)."""
        with self._lock:
            self._refuse_if_full()

    def _refuse_if_full(self) -> None:
        """PoolBusy past the queue bound; the caller holds the lock."""
        if self._in_flight >= self.queue_bound:
            raise PoolBusy(self._in_flight, max(1, self._in_flight // max(self.workers, 1)))

    def scan(self, name: str, data: bytes, top_k: int) -> dict[str, object]:
        """The scan's JSON (`semblance scan`'s line); PoolBusy past the queue bound."""
        with self._lock:
            self._refuse_if_full()
            self._in_flight += 1
        try:
            pool = self._pool
            return pool.submit(_scan, name, data, top_k).result()
        except BrokenProcessPool as exc:  # a worker died (out of memory, a decoder's crash): this suspect failed,
            with self._lock:  # and the next ones get fresh workers
                if self._pool is pool:
                    self._pool = self._start()
                    pool.shutdown(wait=False, cancel_futures=True)
            why = f"not compared: the scan process stopped while comparing it ({exc}); it can be scanned again"
            return ScanResult(name, sha256_hex(data), error=why).to_json()
        finally:
            with self._lock:
                self._in_flight -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
