"""Read and decode the next inputs on a worker thread while the engine describes and matches the current one.

Decoding (Pillow, OpenCV, libheif) releases the GIL, so on two cores it overlaps the network and the matching of
the item before it. The item's time budget (service.time_budget) still bounds it: the main thread waits for the
worker inside the budget, and a worker stuck on a hostile file is left behind (a fresh worker takes the items
after it), so one file can never hold up the rest of the batch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from detector.intake import DecodedImage, IntakeError
from service.inputs import InputError, InputItem

AHEAD = 2
"""Items read and decoded ahead of the one being judged: one keeps the worker busy while the main thread works,
a second absorbs an uneven pair; more only holds more decoded pixels in memory (up to 240 MB an 80 MP picture)."""


@dataclass
class Fetched:
    """An input's bytes and decoded picture, or why it could not be read or decoded (with the bytes read so far,
    so that an error line still carries their SHA-256)."""

    data: bytes = b""
    image: DecodedImage | None = None
    error: InputError | IntakeError | None = None

    def picture(self) -> tuple[bytes, DecodedImage]:
        """(bytes, image), or raise the read or decode error."""
        if self.error is not None:
            raise self.error
        assert self.image is not None
        return self.data, self.image


def _fetch(item: InputItem, decode: Callable[[bytes, str], DecodedImage]) -> Fetched:
    out = Fetched()
    try:
        out.data = item.read()
        out.image = decode(out.data, item.name)
    except (InputError, IntakeError) as exc:
        out.error = exc
    return out


def _resubmitted(
    future: Future[Fetched], pool: ThreadPoolExecutor, item: InputItem, decode: Callable[[bytes, str], DecodedImage]
) -> Future[Fetched]:
    """`future` if it finished, else the same work submitted to `pool` (the old worker's queue was cancelled)."""
    return future if future.done() and not future.cancelled() else pool.submit(_fetch, item, decode)


def prefetched(
    items: Iterable[InputItem], decode: Callable[[bytes, str], DecodedImage], ahead: int = AHEAD
) -> Iterator[tuple[InputItem, Callable[[], Fetched]]]:
    """Each item with a function that waits for its bytes and picture (call it inside the item's time budget).
    If the caller gave up waiting for one (its budget ran out), the worker still busy with it is abandoned and the
    items queued behind it are decoded by a new worker."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="semblance-decode")
    queue: deque[tuple[InputItem, Future[Fetched]]] = deque()
    source = iter(items)
    try:
        while True:
            while len(queue) <= ahead:
                item = next(source, None)
                if item is None:
                    break
                queue.append((item, pool.submit(_fetch, item, decode)))
            if not queue:
                return
            item, future = queue.popleft()
            yield item, future.result
            if not future.done():  # abandoned by its caller: that worker may be stuck on this file
                pool.shutdown(wait=False, cancel_futures=True)
                pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="semblance-decode")
                queue = deque((i, _resubmitted(f, pool, i, decode)) for i, f in queue)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
