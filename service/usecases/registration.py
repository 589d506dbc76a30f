"""Registering original works: each picture read, checked, described by every signal and committed with its
metadata in one transaction, so a batch that stops half-way keeps what it reported as registered. Both doors and
the sweeps reach it through `Engine.register_each`."""

from __future__ import annotations

import re
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from detector.intake import IntakeError
from detector.matching import SignalFailed, describe
from index.registry import WORK_METADATA, DuplicateWork, WorkRecord
from index.workspace import WorkspaceError, is_disk_full
from service.inputs import InputError, InputItem
from service.prefetch import Fetched, prefetched
from service.results import METADATA_FIELDS, EngineError, RegisterOutcome, WorkMetadata
from service.session import AnySignal, Session
from service.supervision import categories
from service.time_budget import ItemTimeout, time_budget

BLANK_WORK = (
    "refused: the picture is blank (one flat colour), so nothing in it can be matched, "
    "and as a registered work it would match every other blank picture"
)


def metadata_from_row(row: dict[str, str]) -> WorkMetadata:
    """A work's metadata from its manifest row (works.csv, on disk or in an uploaded zip): the named columns, values
    stripped of surrounding spaces, and any other non-empty column kept as extra metadata; `path` is the file."""
    values = {k: (v or "").strip() for k, v in row.items() if k is not None}
    extra = {k: v for k, v in values.items() if k not in (*METADATA_FIELDS, "path") and v}
    return WorkMetadata(**{k: values.get(k, "") for k in METADATA_FIELDS}, extra=extra)


def register_each(session: Session, items: Iterable[tuple[InputItem, WorkMetadata]]) -> Iterator[RegisterOutcome]:
    """Register works one transaction each, yielding each outcome as soon as it is committed, so that a crash
    later in the batch never hides what was registered. A bad file is its own error outcome; only a workspace
    fault (a full disk) ends the batch, as an EngineError saying what was kept and what to do."""
    signals = session.all_signals()
    try:
        with session.workspace.lock(exclusive=True, purpose="register"):
            session.workspace.recover()
        try:
            pairs = iter(items)
            metas: deque[WorkMetadata] = deque()

            def inputs() -> Iterator[InputItem]:
                for item, meta in pairs:
                    metas.append(meta)
                    yield item

            for item, fetch in prefetched(inputs(), session.decode):
                yield _register_one(session, item, fetch, metas.popleft(), signals)
        finally:  # leave the index caches current (rebuilt if a crash left them stale), for the next process
            with session.workspace.lock(exclusive=True, purpose="register"):
                session.indexes(signals)
                session.workspace.save_indexes(session.index_rows(signals))
                session.store_missing_baselines()
    except WorkspaceError as exc:
        raise EngineError(str(exc)) from exc


def _register_one(
    session: Session, item: InputItem, fetch: Callable[[], Fetched], meta: WorkMetadata, signals: list[AnySignal]
) -> RegisterOutcome:
    raw_name = item.name_bytes_b64

    def outcome(status: str, ref: str = "", sha256: str = "", message: str = "") -> RegisterOutcome:
        return RegisterOutcome(item.name, status, ref, sha256, message, raw_name)

    try:  # reading, decoding and describing run under the budget; the commit below is never interrupted
        with time_budget(session.item_seconds):
            data, image = fetch().picture()  # read and decoded on the prefetch worker
    except (InputError, IntakeError) as exc:
        return outcome("error", meta.ref, message=exc.reason)
    except ItemTimeout as exc:
        return outcome("error", meta.ref, message=str(exc))
    if image.is_blank:
        return outcome("error", meta.ref, image.sha256, BLANK_WORK)
    ref = meta.ref or _default_ref(item.name)
    reg = session.workspace.registry
    dup = reg.find_duplicate(image.sha256, ref)  # before describing: a duplicate costs no descriptors
    if dup is not None and dup.existing.sha256 == image.sha256:
        return outcome("duplicate", dup.existing.ref, image.sha256, dup.reason)
    if dup is not None:
        if meta.ref:
            return outcome("error", ref, image.sha256, dup.reason)
        ref = f"{ref}-{image.sha256[:8]}"  # a derived ref collided: disambiguate by content
    try:
        with time_budget(session.item_seconds):
            descriptors, not_run = describe(signals, image, query=False)
    except (ItemTimeout, SignalFailed) as exc:
        return outcome("error", meta.ref, image.sha256, str(exc))
    extra = dict(meta.extra)
    if raw_name is not None:
        extra["original_name_bytes_b64"] = raw_name
    record = WorkRecord(
        ref=ref,
        sha256=image.sha256,
        size_bytes=image.size_bytes,
        width=image.width,
        height=image.height,
        format=image.format,
        original_name=Path(item.name.split("!")[-1]).name,
        metadata=extra,
        **{name: getattr(meta, name) for name in WORK_METADATA} | {"categories": categories.normalise(meta.categories)},
    )
    stored = [s for s in signals if s.key in descriptors]
    rows = [(s.key, s.version, s.to_bytes(descriptors[s.key])) for s in stored]
    baselines = session.baselines_as_stored({key: data for key, _, data in rows})
    added = {}
    for s in stored:
        entries = s.index_entries(descriptors[s.key])
        if entries is not None:
            added[s.key] = (entries.rows, entries.region_ids)
    # exclusive for this work's writes only: scans (and other writers) run between the works of a batch
    with session.workspace.lock(exclusive=True, purpose="register"):
        session.indexes(signals)  # brought up to date first, should another process have registered meanwhile
        try:
            session.workspace.vault.put(image.sha256, data)
            record = reg.add_work(record, rows, not_run, baselines)
        except DuplicateWork as exc:
            return outcome("duplicate", exc.existing.ref, image.sha256, exc.reason)
        except (OSError, sqlite3.OperationalError) as exc:
            raise EngineError(_write_failed(session, item.name, exc)) from exc
        session.workspace.note_added(added, record.id)
    note = "; ".join(f"{key.split(':', 1)[0]} not computed: {why}" for key, why in not_run.items())
    return outcome("registered", ref, image.sha256, note)


def _write_failed(session: Session, name: str, exc: BaseException) -> str:
    """What to tell the user when the workspace could not be written while registering `name`."""
    home = session.workspace.home
    what = "the disk holding the workspace is full" if is_disk_full(exc) else "the workspace could not be written"
    return (
        f"{what} while registering {name} ({exc}); works reported as registered are committed and safe, "
        f"{name} and those after it were not registered. Free space on the file system of {home} (or fix the "
        "fault) and run the same command again: what is already registered is reported as a duplicate"
    )


def _default_ref(name: str) -> str:
    stem = Path(name.split("!")[-1]).stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "work"
