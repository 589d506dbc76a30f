"""Inputs are read and decoded ahead on a worker thread, in order, and a file that hangs its decoder is left
behind by the batch: the items after it are still decoded and judged within their own budgets."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from detector.intake import DecodedImage, IntakeError, decode_image
from service.inputs import InputItem, expand
from service.prefetch import prefetched
from service.time_budget import ItemTimeout, time_budget

DEMO = Path(__file__).resolve().parents[1] / "samples" / "demo"


def test_prefetched_pictures_come_in_order_and_equal_a_plain_decode() -> None:
    items = list(expand([str(DEMO / "originals"), str(DEMO / "suspects")]))
    got = [(item.name, fetch().picture()) for item, fetch in prefetched(items, decode_image)]
    assert [name for name, _ in got] == [i.name for i in items]
    for (_, (data, image)), item in zip(got, items, strict=True):
        assert data == item.read() and image.sha256 == decode_image(item.read(), item.name).sha256


def test_a_read_or_decode_error_is_that_items_error() -> None:
    good = next(expand([str(DEMO / "originals")]))
    broken = InputItem("broken.jpg", reader=lambda: b"\xff\xd8\xff not a jpeg")
    missing = InputItem("gone.jpg", error="no such file")
    fetched = [fetch() for _, fetch in prefetched([good, broken, missing, good], decode_image)]
    assert fetched[0].error is None and fetched[3].error is None
    assert isinstance(fetched[1].error, IntakeError) and fetched[1].data.startswith(b"\xff\xd8")
    with pytest.raises(Exception, match="no such file"):
        fetched[2].picture()


def test_a_decoder_stuck_on_one_file_does_not_hold_up_the_rest() -> None:
    items = list(expand([str(DEMO / "originals")]))
    release = threading.Event()

    def decode(data: bytes, name: str) -> DecodedImage:
        if name == items[1].name:
            release.wait(30)  # a hostile file: the decoder does not come back
        return decode_image(data, name)

    outcomes: list[str] = []
    started = time.perf_counter()
    for _item, fetch in prefetched(items, decode):
        try:
            with time_budget(0.5):
                fetch().picture()
            outcomes.append("ok")
        except ItemTimeout:
            outcomes.append("timeout")
    release.set()
    assert outcomes == ["ok", "timeout"] + ["ok"] * (len(items) - 2)
    assert time.perf_counter() - started < 10
