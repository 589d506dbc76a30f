"""A labelled set on disk and through the engine: reading a labelled manifest (the shared/eval format: path, role,
pair_id, ...), the evaluation's queries built from it (detector.calibration.cases), registering its works in a
scratch workspace, scanning labelled queries with every candidate kept, and the records a re-analysis reads back.

`semblance calibrate` (service.calibrate) and scripts/evaluate.py both read manifests and scan through here, so
both fit on the same engine path and the same candidate model; what is measured from the scans is pure
(detector.calibration).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from detector import placements as P
from detector import scenes as SC
from detector import synthetic as S
from detector.calibration import Calibration
from detector.calibration.cases import Candidates, QueryCase
from detector.calibration.families import AI, SYNTH_FAMILY_GROUP, ai_group, relation_group
from detector.calibration.labelled import Candidate
from detector.calibration.splits import (
    Silhouette,
    generator_of,
    public_domain,
    shared_artwork,
    silhouette,
    split_of,
    stable_half,
)
from detector.geometry import Polygon, polygon_area
from detector.intake import decode_image
from detector.matching import excess_sum
from detector.signals.base import Signal
from service.engine import Engine
from service.inputs import InputItem
from service.results import EngineError, WorkMetadata

Row = dict[str, str]
"""One manifest row, by column."""
LABELLED_COLUMNS = frozenset({"path", "role", "pair_id"})
"""The columns every labelled manifest has: a file, whether it is an original, a derivative or a distractor, and
the original a derivative is of."""
EVERY_CANDIDATE = 10_000
"""`top_k` that keeps every candidate the index finds: a fit needs the wrong works as much as the right ones."""


# -- manifests ------------------------------------------------------------------------------------------------
def read_manifest(manifest: Path, root: Path | None = None) -> tuple[Path, list[Row]]:
    """(the folder its paths are relative to: `root`, else the manifest's own; its rows). A byte-order mark is
    skipped; a missing file, or one without the labelled columns, raises EngineError."""
    if not manifest.is_file():
        raise EngineError(f"manifest not found: {manifest}")
    with open(manifest, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    missing = LABELLED_COLUMNS - set(rows[0] if rows else {})
    if missing:
        raise EngineError(f"{manifest}: not a labelled manifest (missing columns: {', '.join(sorted(missing))})")
    return root or manifest.parent, rows


def filler_ref(row: Row) -> str:
    """The ref a distractor registered as a filler work has (by its SHA-1, so a re-run names it alike)."""
    return f"filler:{row['sha1'][:12]}"


def in_background(rows: Sequence[Row], root: Path, source_sha256: frozenset[str]) -> set[str]:
    """Paths of the rows whose file is in the background set (by SHA-256): they are never queries."""
    return {r["path"] for r in rows if hashlib.sha256((root / r["path"]).read_bytes()).hexdigest() in source_sha256}


def work_bytes(originals: Sequence[Row], fillers: Sequence[Row], refs: dict[str, str], root: Path) -> dict[str, bytes]:
    """Every registered original's file (and every filler's) by ref: what the peers compare brute force."""
    out = {r["pair_id"]: (root / r["path"]).read_bytes() for r in originals if r["pair_id"] in refs}
    return out | {filler_ref(r): (root / r["path"]).read_bytes() for r in fillers}


# -- the evaluation's queries ---------------------------------------------------------------------------------
def encode(a: np.ndarray, fmt: str = "JPEG") -> bytes:
    """A synthetic query's bytes as a suspect would arrive (JPEG at quality 92, or `fmt` losslessly)."""
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, fmt, quality=92) if fmt == "JPEG" else Image.fromarray(a).save(buf, fmt)
    return buf.getvalue()


def build_cases(
    rows: list[Row],
    root: Path,
    refs: dict[str, str],
    rng: np.random.Generator,
    synth_per_family: int,
    synth_negatives: int,
    max_distractors: int | None,
) -> list[QueryCase]:
    """The evaluation's queries from a manifest's rows, `refs` the registered works: every derivative of one, every
    distractor (the first `max_distractors` by SHA-1), and seeded synthetic families of both (positives from every
    registered original, collages, placements, transformed distractors as hard negatives). The same rows, refs and
    seed give the same queries, byte for byte."""
    cases: list[QueryCase] = []
    originals = {r["pair_id"]: r for r in rows if r["role"] == "original" and r["pair_id"] in refs}
    for r in rows:
        if r["role"] != "derivative":
            continue
        rel = r["relation"]
        if r["pair_id"] not in originals:
            continue  # no registered original (e.g. jigsaw tiles of paintings not shipped): not scorable
        group = relation_group(rel)
        ignore = frozenset(p for p in r.get("also_derived_from", "").split(";") if p)
        cases.append(
            QueryCase(
                id=f"dev:{r['path']}",
                name=r["path"],
                data=(root / r["path"]).read_bytes(),
                split=split_of(r["source"]),
                group=group,
                family=f"dev:{group}",
                relation=rel,
                origin="dev",
                truth=frozenset() if group == "related" else frozenset({r["pair_id"]}),
                ignore=ignore,
            )
        )
    distractors = [r for r in rows if r["role"] == "distractor"]
    if max_distractors is not None:
        distractors = sorted(distractors, key=lambda r: r["sha1"])[:max_distractors]
    for r in distractors:
        cases.append(
            QueryCase(
                id=f"dev:{r['path']}",
                name=r["path"],
                data=(root / r["path"]).read_bytes(),
                split=stable_half(r["sha1"]),
                group="negative",
                family="dev:distractor",
                relation="distractor",
                origin="dev",
                source=r["path"],
            )
        )

    # backgrounds for product photos and collages, clip art for collages: unregistered distractors only
    def loader(r: Row) -> Callable[[], np.ndarray]:
        return lambda: decode_image((root / r["path"]).read_bytes(), r["path"]).rgb

    by_sha = sorted(distractors, key=lambda r: r["sha1"])
    scenes = [loader(r) for r in by_sha if r["source"] != "deb_openclipart"] or [loader(r) for r in by_sha]
    clips = [loader(r) for r in by_sha if r["source"] == "deb_openclipart"] or scenes
    # synthetic positives from every registered original
    decoded = {pid: decode_image((root / o["path"]).read_bytes(), o["path"]).rgb for pid, o in originals.items()}
    pids = sorted(decoded)
    for pid in pids:
        a = decoded[pid]
        split = split_of(originals[pid]["source"])
        for fam, fn in S.SINGLE.items():
            for k in range(synth_per_family):
                s = fn(a, rng)
                cases.append(
                    _synthetic_case(
                        f"syn:{pid}:{fam}:{k}", fam, s, split, pid, public_domain(originals[pid]["licence"])
                    )
                )
        listed = [str(p) for p in rng.choice(pids, 3, replace=False) if p != pid]
        s = S.screenshot(a, rng, [decoded[p] for p in listed])
        # the page's other listings are real (small) copies of registered works: neither right nor wrong
        case = _synthetic_case(f"syn:{pid}:screenshot", "screenshot", s, split, pid)
        cases.append(replace(case, ignore=frozenset(listed)))
        scene = scenes[int(rng.integers(len(scenes)))]
        cases.append(_synthetic_case(f"syn:{pid}:mockup", "mockup", SC.mockup(a, rng, scene()), split, pid))
        # a listing whose picture is itself a mock-up or a re-rendering
        shown = SC.mockup(a, rng, scene()) if rng.random() < 0.5 else S.restyle(a, rng)
        s = S.screenshot(shown.image, rng, [decoded[p] for p in listed])
        s = replace(s, relation=f"marketplace_page_of_{shown.relation}")
        case = _synthetic_case(f"syn:{pid}:screenshot_of_{shown.family}", "screenshot", s, split, pid)
        cases.append(replace(case, ignore=frozenset(listed), regions_in_suspect={}))
    # collages: panels from originals of one split, 2-9 panels, with and without gutters
    for split in ("tune", "report"):
        pool = [p for p in pids if split_of(originals[p]["source"]) == split]
        n_collages = max(4, len(pool) // 2)
        for c in range(n_collages):
            n = int(rng.integers(2, 10))
            chosen = [str(p) for p in rng.choice(pool, min(n, len(pool)), replace=False)]
            gutter = bool(c % 2)
            canvas, regions = S.collage([decoded[p] for p in chosen], rng, gutter)
            family = f"syn:collage_{'gutter' if gutter else 'tight'}"
            where = dict(zip(chosen, regions, strict=True))
            cases.append(collage_case("collage", "collage", split, c, canvas, where, family=family))
    # AI-rendered collages: re-renderings of 2-4 works of one split, rotated, on a photo or a texture, with a
    # caption and unrelated clip art (distractors that are not registered)
    for split in ("tune", "report"):
        pool = [p for p in pids if split_of(originals[p]["source"]) == split]
        for c in range(max(4, len(pool) // 3)):
            chosen = [str(p) for p in rng.choice(pool, min(int(rng.integers(2, 5)), len(pool)), replace=False)]
            art = [clips[int(i)]() for i in rng.choice(len(clips), 2, replace=False)]
            canvas, regions = SC.ai_collage([decoded[p] for p in chosen], rng, scenes[c % len(scenes)](), art)
            cases.append(
                collage_case("ai_collage", "ai_collage", split, c, canvas, dict(zip(chosen, regions, strict=True)))
            )
    cases += placement_cases(originals, decoded, scenes, clips, split_of, rng.spawn(1)[0])
    # synthetic negatives: transformed distractors (hard negatives: same transformations as positives)
    for i, r in enumerate(sorted(distractors, key=lambda r: r["sha1"])[:synth_negatives]):
        a = decode_image((root / r["path"]).read_bytes(), r["path"]).rgb
        fam = list(S.SINGLE)[i % len(S.SINGLE)]
        s = S.SINGLE[fam](a, rng)
        cases.append(
            QueryCase(
                id=f"syn:neg:{i}",
                name=f"neg_{i}_{fam}.jpg",
                data=encode(s.image),
                split=stable_half(r["sha1"]),
                group="negative",
                family="syn:distractor",
                relation=f"distractor_{fam}",
                origin="synthetic",
                source=r["path"],
            )
        )
    return cases


def collage_case(
    kind: str,
    group: str,
    split: str,
    n: int,
    canvas: np.ndarray,
    regions: dict[str, Polygon],
    family: str = "",
    fitted: bool = True,
) -> QueryCase:
    """One synthetic collage query (panels of several works, plain or AI-rendered): each work's truth is where its
    panel lies; `family` defaults to `syn:<kind>`."""
    return QueryCase(
        id=f"syn:{kind}:{split}:{n}",
        name=f"{kind}_{split}_{n}.jpg",
        data=encode(canvas),
        split=split,
        group=group,
        family=family or f"syn:{kind}",
        relation=f"{kind}_{len(regions)}_panels",
        origin="synthetic",
        truth=frozenset(regions),
        area_fraction=min(polygon_area(r) for r in regions.values()) / (canvas.shape[0] * canvas.shape[1]),
        regions_in_suspect=regions,
        fitted=fitted,
    )


def placement_cases(
    originals: dict[str, Row],
    decoded: dict[str, np.ndarray],
    scenes: list[Callable[[], np.ndarray]],
    clips: list[Callable[[], np.ndarray]],
    split_of: Callable[[str], str],
    rng: np.random.Generator,
) -> list[QueryCase]:
    """The second generator's families (detector.placements: other products, page layouts and AI collages), drawn
    from a child of the run's generator (`Generator.spawn` leaves the parent's draws as they were, so the frozen
    families' images stay exactly the same); reported beside them and never fitted on, in either split."""
    pids = sorted(decoded)
    cases: list[QueryCase] = []
    for pid in pids:
        a, split = decoded[pid], split_of(originals[pid]["source"])
        scene = scenes[int(rng.integers(len(scenes)))]
        placed = _synthetic_case(f"syn:{pid}:placed_product", "placed_product", P.product(a, rng, scene()), split, pid)
        cases.append(replace(placed, fitted=False))
        listed = [str(p) for p in rng.choice(pids, 4, replace=False) if p != pid][:3]
        shown = P.page(a, rng, [decoded[p] for p in listed])
        case = _synthetic_case(f"syn:{pid}:placed_page", "placed_page", shown, split, pid)
        cases.append(replace(case, ignore=frozenset(listed), fitted=False))  # its other works: neither right nor wrong
    for split in ("tune", "report"):
        pool = [p for p in pids if split_of(originals[p]["source"]) == split]
        for c in range(max(4, len(pool) // 3)):
            chosen = [str(p) for p in rng.choice(pool, min(int(rng.integers(3, 7)), len(pool)), replace=False)]
            art = [clips[int(i)]() for i in rng.choice(len(clips), 2, replace=False)]
            canvas, regions = P.collage([decoded[p] for p in chosen], rng, art)
            where = dict(zip(chosen, regions, strict=True))
            cases.append(collage_case("placed_collage", "ai_collage_2", split, c, canvas, where, fitted=False))
    return cases


def _synthetic_case(qid: str, fam: str, s: S.Synthetic, split: str, pid: str, publishable: bool = False) -> QueryCase:
    """One synthetic query of a single work `pid`, grouped as its family is (SYNTH_FAMILY_GROUP)."""
    group = SYNTH_FAMILY_GROUP[s.family]
    return QueryCase(
        id=qid,
        name=qid.replace(":", "_") + ".jpg",
        data=encode(s.image),
        split=split,
        group=group,
        family=f"syn:{fam}",
        relation=s.relation,
        origin="synthetic",
        truth=frozenset({pid}),
        area_fraction=s.area_fraction,
        regions_in_suspect={pid: s.region_in_suspect} if s.region_in_suspect else {},
        region_in_original=s.region_in_original,
        publishable=publishable,
    )


def ai_pair_cases(rows: list[Row], root: Path, refs: dict[str, str]) -> list[QueryCase]:
    """shared/eval/ai_pairs' derivatives as fitting queries (split `tune`): real AI outputs of generators the main
    manifest lacks. Every real AI row of the main manifest is in its report split, so these are the only real AI
    pairs anything may be fitted on; each carries its generator for the leave-one-generator-out figures."""
    out = []
    for r in rows:
        if r["role"] != "derivative" or r["pair_id"] not in refs:
            continue
        rel = r["relation"]
        out.append(
            QueryCase(
                id=f"ai_pairs:{r['path']}",
                name=r["path"],
                data=(root / r["path"]).read_bytes(),
                split="tune",
                group=ai_group(rel) if rel in AI else "other",
                family="ai_pairs",
                relation=rel,
                origin="ai_pairs",
                truth=frozenset({r["pair_id"]}),
                ignore=frozenset(p for p in r.get("also_derived_from", "").split(";") if p),
                generator=generator_of(r["origin"]),
            )
        )
    return out


def label_shared_artwork(cases: list[QueryCase], fillers: list[Row], root: Path) -> int:
    """Negatives whose source shares its artwork with a registered filler (detector.calibration.splits
    `shared_artwork`) count such a match as neither right nor wrong, as the issue asks of siblings that share real
    artwork; a sibling that only shares a style stays a negative. Returns how many negative queries got such a
    label."""
    found: list[Silhouette] = []
    refs: list[str] = []
    for r in fillers:
        m = silhouette(decode_image((root / r["path"]).read_bytes(), r["path"]).rgb)
        if m is not None:
            found.append(m)
            refs.append(filler_ref(r))
    shared: dict[str, frozenset[str]] = {}
    labelled = 0
    for i, c in enumerate(cases):
        if c.group != "negative" or not c.source:
            continue
        if c.source not in shared:
            m = silhouette(decode_image((root / c.source).read_bytes(), c.source).rgb)
            shared[c.source] = frozenset(refs[j] for j in shared_artwork(m, found)) if m is not None else frozenset()
        if shared[c.source]:
            cases[i] = replace(c, ignore=c.ignore | shared[c.source])
            labelled += 1
    return labelled


# -- registering and scanning ---------------------------------------------------------------------------------
@contextmanager
def scratch_engine(embedder: str, calibration: Calibration) -> Iterator[Engine]:
    """An engine on a fresh workspace in a temporary folder, scoring under `calibration`; gone afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        Engine.init(os.path.join(tmp, "ws"), [embedder]).close()
        engine = Engine.open(os.path.join(tmp, "ws"), calibration=calibration)
        try:
            yield engine
        finally:
            engine.close()


@dataclass(frozen=True)
class Registered:
    refs: dict[str, str]
    """Path of every registered work, by ref."""
    failed: int
    per_second: float


def register_rows(engine: Engine, originals: Sequence[Row], fillers: Sequence[Row], root: Path) -> Registered:
    """Register the originals (ref: their pair_id) and the filler works (`filler_ref`)."""
    items = [
        (InputItem(r["path"], reader=(root / r["path"]).read_bytes), WorkMetadata(ref=r["pair_id"])) for r in originals
    ]
    items += [
        (InputItem(r["path"], reader=(root / r["path"]).read_bytes), WorkMetadata(ref=filler_ref(r))) for r in fillers
    ]
    t0 = time.perf_counter()
    outcomes = engine.register_many(items)
    rate = len(items) / (time.perf_counter() - t0)
    failed = sum(o.status == "error" for o in outcomes)
    return Registered({o.ref: o.path for o in outcomes if o.status == "registered"}, failed, rate)


def constant(data: bytes) -> Callable[[], bytes]:
    """A reader of bytes already in memory, for a query made rather than read from a file."""
    return lambda: data


@dataclass(frozen=True)
class LabelledScan:
    """Candidates per query id (absent: the query could not be compared, with its reason in `errors`)."""

    candidates: dict[str, list[Candidate]]
    errors: dict[str, str]
    ms_per_query: float


def scan_labelled(
    engine: Engine,
    queries: Sequence[tuple[str, Callable[[], bytes]]],
    progress: Callable[[int, int], None] | None = None,
) -> LabelledScan:
    """Scan (id, reader) pairs with every near miss kept; a collage suspect's candidates carry every view."""
    items = [InputItem(qid, reader=read) for qid, read in queries]
    out: dict[str, list[Candidate]] = {}
    errors: dict[str, str] = {}
    started = time.perf_counter()
    for i, res in enumerate(engine.scan_many(items, top_k=EVERY_CANDIDATE, near_misses=True)):
        if progress:
            progress(i + 1, len(items))
        if res.error is not None:
            errors[res.path] = res.error
            continue
        out[res.path] = [
            Candidate(
                m.ref,
                dict(m.features),
                [dict(v) for v in m.views] if len(m.views) > 1 else [],
                [list(p) for p in m.region] if m.region else None,
                [list(p) for p in m.reference_region] if m.reference_region else None,
            )
            for m in res.matches
        ]
        res.image = None  # a long scan must not hold every decoded picture
    elapsed = (time.perf_counter() - started) * 1000 / max(1, len(items))
    return LabelledScan(out, errors, elapsed)


def scan_cases(
    engine: Engine, cases: Sequence[QueryCase], progress: Callable[[int, int], None] | None = None
) -> LabelledScan:
    """Scan every case (`scan_labelled`, as `semblance calibrate` does); a case that could not be compared has no
    candidates here, and its reason is in `errors`."""
    scan = scan_labelled(engine, [(c.id, constant(c.data)) for c in cases], progress)
    return replace(scan, candidates={c.id: scan.candidates.get(c.id, []) for c in cases})


# -- records --------------------------------------------------------------------------------------------------
def write_records(path: Path, cases: Sequence[QueryCase], cands: Candidates) -> None:
    """Every query with its ground truth and every candidate's raw signal values: the numbers behind the tables."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for c in cases:
            f.write(
                json.dumps(
                    {
                        "id": c.id,
                        "split": c.split,
                        "group": c.group,
                        "family": c.family,
                        "relation": c.relation,
                        "truth": sorted(c.truth),
                        "ignore": sorted(c.ignore),
                        "area_fraction": c.area_fraction,
                        "sha256": hashlib.sha256(c.data).hexdigest(),
                        "candidates": [
                            {
                                "ref": k.ref,
                                "features": k.features,
                                **({"views": k.views} if k.views else {}),
                                "region": k.region,
                                "reference_region": k.reference_region,
                            }
                            for k in cands.get(c.id, [])
                        ],
                    }
                )
                + "\n"
            )


def read_records(path: Path, cases: Sequence[QueryCase]) -> Candidates:
    """The candidates of an earlier run's records, checked query by query against the cases built again (same
    seed: the same images, by SHA-256), so a re-analysis can never pair scans with the wrong queries. A record of
    another query, or a query with no record, raises EngineError."""
    by_id = {c.id: c for c in cases}
    out: Candidates = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            c = by_id.get(r["id"])
            if c is None or hashlib.sha256(c.data).hexdigest() != r["sha256"]:
                raise EngineError(f"{path}: query {r['id']} is not the one this run builds; scan again instead")
            out[c.id] = [
                Candidate(k["ref"], k["features"], k.get("views", []), k.get("region"), k.get("reference_region"))
                for k in r["candidates"]
            ]
    missing = set(by_id) - set(out)
    if missing:
        raise EngineError(f"{path}: {len(missing)} queries have no record (e.g. {sorted(missing)[0]}); scan again")
    return out


def refresh_verifier(
    signal: Signal[Any],
    cands: Candidates,
    cases: Sequence[QueryCase],
    refs: dict[str, str],
    root: Path,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Compare again, with `signal`'s current code, the recorded candidates it runs on, as the engine would: the
    work's descriptor through its stored bytes, the suspect's taken from its file. A verifier with its own
    `verify_top` runs on that many candidates by background-normalised similarity (detector.pipeline, computed
    from the recorded cheap features, so a change of `verify_top` needs no new scan either); another one on the
    candidates the scan ran it on. A view shares the whole suspect's features of the verifier
    (detector.matching.suspect_views) unless the verifier compared that view alone (`Signal.verify_views`): those
    are kept as scanned (this compares the whole suspect only)."""
    works: dict[str, Any] = {}
    names = set(signal.feature_names)
    for i, case in enumerate(cases):
        if progress:
            progress(i, len(cases))
        recorded = cands.get(case.id, [])
        if signal.verify_top is None:
            todo = [c for c in recorded if names & set(c.features)]
        else:
            todo = sorted(recorded, key=_normalised_similarity, reverse=True)[: signal.verify_top]
            chosen = {id(c) for c in todo}
            for cand in recorded:  # a candidate it no longer runs on keeps no features of it
                if id(cand) not in chosen:
                    for features in (cand.features, *cand.views):
                        for name in names:
                            features.pop(name, None)
        image = decode_image(case.data, case.name) if todo else None
        if image is None or signal.cannot_describe(image) is not None:
            continue
        query = signal.compute_query(image)
        for cand in todo:
            if cand.ref not in works:
                work = decode_image((root / refs[cand.ref]).read_bytes(), refs[cand.ref])
                works[cand.ref] = (
                    None if signal.cannot_describe(work) else signal.from_bytes(signal.to_bytes(signal.compute(work)))
                )
            if works[cand.ref] is None:
                continue
            found = signal.compare(query, works[cand.ref]).features
            whole = cand.views[0] if cand.views else cand.features
            shared = {name: whole.get(name) for name in names}
            for features in (cand.features, *cand.views):
                if all(features.get(name) == value for name, value in shared.items()):  # not the view's own
                    features.update(found)


def _normalised_similarity(cand: Candidate) -> float:
    """detector.matching.normalised_prescore from a record, whose features already hold the excess (on the
    evaluation's records it picks exactly the candidates the scans verified)."""
    return excess_sum(cand.views[0] if cand.views else cand.features)
