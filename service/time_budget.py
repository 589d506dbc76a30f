"""A time budget per input item, so that no single file on a seized disk can hang a batch.

The budget is a real-time interval timer (SIGALRM): when it runs out, `ItemTimeout` is raised in the item's own
code and becomes that item's error line. A decoder busy inside one C call is interrupted as soon as it returns to
Python, so the budget bounds every loop over rows, tiles, keypoints and candidates. Signals are only delivered to
the main thread: elsewhere (a server's worker threads) the budget is not enforced by a timer, and the caller
must bound the work itself (for example in a worker process).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

DEFAULT_ITEM_SECONDS = 120.0
"""Per-item budget: over 100x a typical scan of a real image on these 2 cores (0.6-1 s), and 30x a picture at the
80-megapixel cap (measured 1.1 s as JPEG, 2.5 s as TIFF, 3.8 s as PNG: docs/RELIABILITY.md), so only a stuck item
ever reaches it."""


class ItemTimeout(BaseException):
    """An item went past its time budget. An interruption like KeyboardInterrupt, not an Exception: decoders and
    signals turn every Exception of theirs into that item's error ("truncated or corrupt", "signal failed"), and
    must not swallow the timeout into one of those (a PNG would then be retried with no budget left)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"took longer than its time budget of {seconds:g} s; skipped")
        self.seconds = seconds


@contextmanager
def time_budget(seconds: float | None) -> Iterator[None]:
    """Raise `ItemTimeout` inside the block once `seconds` have passed (no budget when None, 0, or off the main
    thread). Budgets do not nest: the inner one replaces the outer one until it ends."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise ItemTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
