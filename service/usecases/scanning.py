"""Scanning suspect pictures: each one read, described, its candidate works searched, re-scored, verified and judged
under the calibration, returned as a ScanResult whatever befalls it (an unreadable file is a result with `error`).
Both doors and the sweeps reach it through `Engine.scan_many` and `Engine.match`."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from detector.intake import DecodedImage, IntakeError, sha256_hex
from detector.matching import Match, SignalFailed, describe, overall_verdict
from detector.pipeline import score
from index.retrieval import NEIGHBOURS_PER_ROW, nearest_works
from service.inputs import InputError, InputItem
from service.prefetch import Fetched, prefetched
from service.results import EngineError, MatchResult, ScanResult
from service.session import Session
from service.time_budget import ItemTimeout, time_budget

BLANK_SUSPECT = "not compared: the picture is blank (one flat colour), so no signal can tell what it copies"


def scan_many(
    session: Session, items: Iterable[InputItem], top_k: int = 5, near_misses: bool = False
) -> Iterator[ScanResult]:
    """Scan each suspect; unreadable ones, and any one whose comparison fails, yield a result with `error` set.
    Without a calibration for the primary embedder nothing is scanned (EngineError naming `calibrate`)."""
    indexes = session.ready()
    for item, fetch in prefetched(items, session.decode):
        yield _scan_one(session, item, fetch, indexes, top_k, near_misses)


def _scan_one(
    session: Session,
    item: InputItem,
    fetch: Callable[[], Fetched],
    indexes: dict[str, Any],
    top_k: int,
    near_misses: bool,
) -> ScanResult:
    started = time.perf_counter()
    data = b""

    def failed(reason: str, sha256: str = "") -> ScanResult:  # the bytes' hash is kept when they could be read
        digest = sha256 or (sha256_hex(data) if data else "")
        return ScanResult(item.name, digest, error=reason, path_bytes_b64=item.name_bytes_b64)

    try:
        with time_budget(session.item_seconds):
            fetched = fetch()  # read and decoded on the prefetch worker, waited for inside the budget
            data = fetched.data  # kept for the error line's SHA-256 should decoding have failed
            image = fetched.picture()[1]
            if image.is_blank:
                return failed(BLANK_SUSPECT, image.sha256)
            query, not_run = describe(session.signals, image, query=True)
            matches = judge(session, image, query, not_run, indexes, top_k, near_misses)
    except (InputError, IntakeError) as exc:
        return failed(exc.reason)
    except (ItemTimeout, SignalFailed) as exc:
        return failed(str(exc))
    except MemoryError:
        return failed("not compared: it needed more memory than this machine has")
    except (sqlite3.Error, OSError) as exc:
        home = session.workspace.home
        raise EngineError(f"the workspace {home} could not be read while scanning {item.name} ({exc})") from exc
    except Exception as exc:  # a fault of Semblance on this one picture: report it, and go on with the batch
        return failed(f"not compared: internal error ({type(exc).__name__}: {exc}); please report this file")
    return ScanResult(
        path=item.name,
        sha256=image.sha256,
        verdict=overall_verdict(m.verdict for m in matches),
        matches=matches,
        width=image.width,
        height=image.height,
        format=image.format,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        image=image,
        signals_not_run={key.split(":", 1)[0]: why for key, why in not_run.items()},
        path_bytes_b64=item.name_bytes_b64,
        intake_notes=image.notes,
    )


def judge(
    session: Session,
    image: DecodedImage,
    query: dict[str, object],
    not_run: dict[str, str],
    indexes: dict[str, Any],
    top_k: int,
    near_misses: bool,
) -> list[MatchResult]:
    candidates: set[int] = set()
    for s in session.signals:
        if s.key not in query:
            continue
        entries = s.query_entries(query[s.key])
        if entries is None or s.key not in indexes:
            continue
        candidates |= nearest_works(indexes[s.key].search(entries.rows, NEIGHBOURS_PER_ROW), entries.views)
    if not candidates:
        return []
    reg = session.workspace.registry
    stored = {s.key: reg.descriptors(candidates, s.key) for s in session.signals}
    refs: dict[int, dict[str, object]] = {
        w: {s.key: s.from_bytes(stored[s.key][w]) for s in session.signals if w in stored[s.key]} for w in candidates
    }
    digest = session.background_digest()
    known = reg.baselines(candidates, digest) if digest is not None else {}
    assessed = score(
        session.model,
        session.signals,
        query,
        refs,
        lambda w, descriptors: known[w] if w in known else session.baselines.of(descriptors, cache_key=w),
        [v.kind for v in image.views],
        skip_hopeless=not near_misses,  # only `no_match` candidates are skipped, and they are not returned
    )
    kept = [m for m in assessed if near_misses or m.verdict != "no_match"][:top_k]
    works = reg.works_by_ids(m.work_id for m in kept)
    gaps = reg.gaps(m.work_id for m in kept)

    def not_compared(m: Match) -> dict[str, dict[str, object]]:
        """Signals that would have compared this pair but could not run on one side, with the reason."""
        wanted = [s for s in session.signals if s.role == "candidate" or s.name in m.verified_by]
        out: dict[str, dict[str, object]] = {}
        for s in wanted:
            if s.key in not_run:
                out[s.name] = {"not_run": f"on the suspect: {not_run[s.key]}"}
            elif s.key not in refs[m.work_id]:
                why = gaps.get(m.work_id, {}).get(s.key, "no reason was recorded")
                out[s.name] = {"not_run": f"the registered work has no descriptor of this signal: {why}"}
        return out

    return [
        MatchResult(
            ref=works[m.work_id].ref,
            title=works[m.work_id].title,
            score=m.score,
            verdict=m.verdict,
            signals={**not_compared(m), **m.signal_evidence()},
            region=m.query_region,
            reference_region=m.reference_region,
            region_source=m.region_source,
            agreeing_signals=m.agreeing,
            work_sha256=works[m.work_id].sha256,
            score_basis=m.score_basis,
            view=m.view_name,
            features=dict(m.features),
            views=[dict(v) for v in m.views],
            geometry=m.geometry(),
            verified_by=sorted(m.verified_by),
            view_verified_by={name: sorted(vs) for name, vs in m.view_verified_by.items()},
        )
        for m in kept
    ]
