"""`semblance calibrate`: fit a workspace's own calibration for its primary embedder, with measured error rates.

An examiner with their own CLIP file, or with a registry unlike the dev set, gets verdicts with error rates measured
on their own works. Two sources of labels:

* **synthetic** (no labels needed): seeded transformations of every registered work (detector.synthetic: crops,
  recompression, overlays, perspective, photos of prints, re-renderings, ...) are the positives, and the same
  queries compared with every *other* registered work are negatives (the hardest ones a registry has: its own
  siblings). Images of `--negatives DIR` (unrelated to the works) add negatives and, half of them, the background
  set that baselines are measured against.
* **a labelled manifest** (the `shared/eval` format: path, role, pair_id): derivatives of registered originals are
  positives, distractors negatives (half of them the background set).

The works are split in two halves by SHA-256: the model and thresholds are fitted on the queries of one, the rates
written beside them are measured on the other, with 95% Wilson intervals. The rules are the packaged calibrations'
(detector.calibration.fit), so both kinds of calibration mean the same thing.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from detector import __version__
from detector import synthetic as S
from detector.background import encode_background, load_background
from detector.calibration import Calibration, provisional_model
from detector.calibration import fit as F
from detector.calibration.labelled import ScoredQuery, false_alarm_tops, fit_model
from detector.calibration.metrics import false_alarm_row, wilson
from detector.calibration.writer import model_toml
from detector.fusion import FusionModel, has_proof
from detector.intake import IntakeError, decode_image
from index.audit import Action
from index.registry import WorkRecord
from service.engine import Engine, EngineError
from service.inputs import InputError, InputItem, expand
from service.labelled_set import constant, read_manifest, scan_labelled

MIN_WORKS = 4
"""Fewer works leave too few pairs to fit eight weights; the intervals in the file say how many were used."""
DEFAULT_PER_WORK = 6
"""Synthetic queries per registered work: with the families cycled, every family is met every few works."""
DEFAULT_SEED = 20261202
FAMILIES = tuple(S.SINGLE)
"""Every single-image family of detector.synthetic."""


@dataclass(frozen=True)
class LabelledQuery:
    name: str
    read: Callable[[], bytes]
    truth: frozenset[str]
    """Refs this query copies (empty: a negative)."""
    family: str
    half: str
    """'fit' or 'measure'."""


@dataclass(frozen=True)
class CalibrationOutcome:
    path: Path
    model: FusionModel
    rates: dict[str, dict[str, object]]
    works: int
    queries: int
    background_images: int


def half_of(key: str) -> str:
    return "fit" if int(hashlib.sha256(key.encode()).hexdigest(), 16) % 2 == 0 else "measure"


def _jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def synthetic_queries(engine: Engine, per_work: int, seed: int) -> list[LabelledQuery]:
    """`per_work` seeded transformations of every registered work, families cycled (made lazily on read)."""
    works = sorted(engine.works(), key=lambda w: w.sha256)
    out = []
    for i, w in enumerate(works):
        for k in range(per_work):
            family = FAMILIES[(i * per_work + k) % len(FAMILIES)]
            name = f"synthetic:{w.ref}:{family}:{k}"
            out.append(
                LabelledQuery(
                    name, _transformed(engine, w, family, seed, k), frozenset({w.ref}), family, half_of(w.sha256)
                )
            )
    return out


def _transformed(engine: Engine, work: WorkRecord, family: str, seed: int, k: int) -> Callable[[], bytes]:
    """Reader of one seeded transformation of a registered work, made from the vault's original when read."""

    def read() -> bytes:
        data = engine.workspace.vault.read(work.sha256)
        rgb = decode_image(data, work.original_name, engine.workspace.max_pixels).rgb
        rng = np.random.default_rng([seed, int(work.sha256[:8], 16), k])
        return _jpeg(S.SINGLE[family](rgb, rng).image)

    return read


def manifest_queries(
    engine: Engine, manifest: Path, root: Path | None = None
) -> tuple[list[LabelledQuery], list[InputItem]]:
    """Positives (derivatives of originals that are registered works) and distractors of a labelled manifest
    (service.labelled_set.read_manifest; its paths relative to `root`, else to its own folder)."""
    root, rows = read_manifest(manifest, root)
    by_sha = {w.sha256: w for w in engine.works()}
    ref_of: dict[str, str] = {}
    for r in rows:
        if r["role"] == "original":
            p = root / r["path"]
            if p.is_file() and (w := by_sha.get(hashlib.sha256(p.read_bytes()).hexdigest())) is not None:
                ref_of[r["pair_id"]] = w.ref
    if not ref_of:
        raise EngineError(f"{manifest}: none of its originals is a registered work of this workspace")
    queries, distractors = [], []
    for r in rows:
        p = root / r["path"]
        if r["role"] == "derivative" and r["pair_id"] in ref_of:
            read = p.read_bytes
            family = r.get("relation") or "derivative"
            queries.append(
                LabelledQuery(r["path"], read, frozenset({ref_of[r["pair_id"]]}), family, half_of(r["pair_id"]))
            )
        elif r["role"] == "distractor":
            distractors.append(InputItem(r["path"], reader=p.read_bytes, source_path=str(p)))
    return queries, distractors


def background_from(engine: Engine, items: Sequence[InputItem]) -> tuple[bytes | None, int, list[LabelledQuery]]:
    """Split unrelated images by SHA-256: half become the background set (its .npz bytes), half negative queries
    (as they are, and once transformed). Registered works and unreadable files are left out."""
    registered = {w.sha256 for w in engine.works()}
    descriptors: dict[str, list[bytes]] = {s.key: [] for s in engine.signals if s.background_features}
    hashes: list[str] = []
    negatives: list[LabelledQuery] = []
    for item in items:
        try:
            data = item.read()
            image = decode_image(data, item.name, engine.workspace.max_pixels)
        except (InputError, IntakeError, OSError):
            continue
        if image.sha256 in registered or image.sha256 in hashes or image.is_blank:
            continue
        if half_of("background:" + image.sha256) == "fit":
            for s in engine.signals:
                if s.key in descriptors:
                    descriptors[s.key].append(s.to_bytes(s.background_descriptor(image)))
            hashes.append(image.sha256)
            continue
        half = half_of(image.sha256)
        negatives.append(LabelledQuery(f"negative:{item.name}", constant(data), frozenset(), "negative", half))
        family = FAMILIES[len(negatives) % len(FAMILIES)]
        rng = np.random.default_rng(int(image.sha256[:8], 16))
        transformed = _jpeg(S.SINGLE[family](image.rgb, rng).image)
        negatives.append(
            LabelledQuery(f"negative:{item.name}:{family}", constant(transformed), frozenset(), "negative", half)
        )
    if not hashes or not descriptors:
        return None, 0, negatives
    description = f"{len(hashes)} unrelated images given to `semblance calibrate` (descriptors only)"
    return encode_background(engine.primary.id, descriptors, hashes, description), len(hashes), negatives


def calibrate(
    engine: Engine,
    manifest: Path | None = None,
    root: Path | None = None,
    negatives_dir: Path | None = None,
    per_work: int = DEFAULT_PER_WORK,
    seed: int = DEFAULT_SEED,
    progress: Callable[[int, int], None] | None = None,
) -> CalibrationOutcome:
    """Fit, measure and write the workspace's calibration for its primary embedder (see the module docstring)."""
    engine.workspace.require_writable("calibrate")
    if engine.workspace.registry.count() < MIN_WORKS:
        raise EngineError(f"calibrating needs at least {MIN_WORKS} registered works; register the works first")
    if manifest is not None:
        queries, unrelated = manifest_queries(engine, manifest, root)
        source = f"labelled manifest {manifest}"
    else:
        queries = synthetic_queries(engine, per_work, seed)
        unrelated = list(expand([str(negatives_dir)])) if negatives_dir is not None else []
        source = f"synthetic: {per_work} seeded transformations per work (seed {seed})"
    bg_bytes, bg_count, negatives = background_from(engine, unrelated)
    queries += negatives
    with tempfile.TemporaryDirectory() as tmp:
        bg_path = None
        if bg_bytes is not None:
            bg_path = Path(tmp) / "background.npz"
            bg_path.write_bytes(bg_bytes)
        background = load_background(engine.primary.id, bg_path) if bg_path else None
        e = engine.primary
        provisional = provisional_model(e.id, e.weights_sha256, background.digest if background else "")
        scorer = Engine(
            engine.workspace, engine.embedder_spec, calibration=Calibration(provisional, background, "given", bg_path)
        )
        scored = _scan(scorer, queries, progress)
    model, rates = fit_and_measure(provisional, scored, background is not None)
    model = replace(
        model,
        version=f"workspace-{hashlib.sha256(model_toml(model, rates, []).encode()).hexdigest()[:12]}",
        derivation=f"semblance calibrate ({source}); fitted on the works of one half, measured on the other",
    )
    header = [
        f"Written by `semblance calibrate` (semblance {__version__}) for embedder {e.id}.",
        f"Labels: {source}.",
        "Negatives: each query compared with every registered work it does not copy"
        + (f", and {len(negatives)} queries from unrelated images." if negatives else "."),
        f"Background set: {bg_count} unrelated images." if bg_count else "Background set: none (raw similarities).",
        "Fitted on the queries of half of the works (by SHA-256); rates measured on the other half.",
    ]
    path = engine.workspace.save_calibration(e.id, model_toml(model, rates, header), bg_bytes)
    engine.reload_calibration()
    engine.workspace.registry.record(
        Action.CALIBRATE,
        {"embedder": e.id, "version": model.version, "source": source, "queries": len(queries), "rates": rates},
    )
    return CalibrationOutcome(path, model, rates, engine.workspace.registry.count(), len(queries), bg_count)


def _scan(
    engine: Engine, queries: Sequence[LabelledQuery], progress: Callable[[int, int], None] | None
) -> list[tuple[LabelledQuery, ScoredQuery]]:
    """Every query with its candidates; one too small to compare (a 1-px strip) has no pair to learn from."""
    scan = scan_labelled(engine, [(q.name, q.read) for q in queries], progress)
    return [
        (q, ScoredQuery(q.name, q.truth, frozenset(), scan.candidates[q.name]))
        for q in queries
        if q.name in scan.candidates
    ]


def fit_and_measure(
    base: FusionModel, scored: Sequence[tuple[LabelledQuery, ScoredQuery]], has_background: bool
) -> tuple[FusionModel, dict[str, dict[str, object]]]:
    """Fit on the 'fit' half, choose thresholds there, and measure rates on the 'measure' half."""
    fit = [s for q, s in scored if q.half == "fit"]
    measure = [(q, s) for q, s in scored if q.half == "measure"]
    if not any(c.ref in s.truth for s in fit for c in s.candidates):
        raise EngineError("no synthetic copy found its own work: nothing to fit (are the works too small?)")
    observed = {k.removesuffix(".excess") for _, s in scored for c in s.candidates for k in c.features}
    model = fit_model(fit, fit, base, F.features_for(observed, has_background))
    return model, {name: _rates(model, measure, name) for name in ("measure.derivative", "measure.copy")}


def _rates(model: FusionModel, part: Sequence[tuple[LabelledQuery, ScoredQuery]], name: str) -> dict[str, object]:
    """False-alarm rate over every query of `part` (its best score on works it does not copy), and the true-positive
    rate per family, at the derivative or the copy threshold, with 95% Wilson intervals."""
    copy = name.endswith("copy")
    t = model.copy_threshold if copy else model.derivative_threshold
    row = false_alarm_row(t, false_alarm_tops(model, [s for _, s in part], proof=copy))
    found: dict[str, list[bool]] = defaultdict(list)
    for q, s in part:
        if not s.truth:
            continue
        hit = False
        for cand in s.candidates:
            if cand.ref in s.truth:
                score, feats = cand.scored(model)
                hit = score >= t and (not copy or has_proof(model, feats))
        found[q.family].append(hit)
    everything = [h for hits in found.values() for h in hits]
    row["tpr_all"] = sum(everything) / max(1, len(everything))
    row["tpr_all_ci95"] = list(wilson(sum(everything), len(everything)))
    row["n_all"] = len(everything)
    for family, hits in sorted(found.items()):
        row[f"tpr_{family}"] = sum(hits) / len(hits)
        row[f"tpr_{family}_ci95"] = list(wilson(sum(hits), len(hits)))
        row[f"n_{family}"] = len(hits)
    return row


def describe_rates(rates: dict[str, dict[str, object]]) -> Iterator[str]:
    """Plain-language lines for the terminal."""
    for name, row in rates.items():
        lo, hi = _pair(row["false_alarm_ci95"])
        tlo, thi = _pair(row["tpr_all_ci95"])
        yield (
            f"{name.split('.')[-1]} >= {row['threshold']}: false alarms {row['false_alarm_rate']:.3%} "
            f"[{lo:.3%}, {hi:.3%}] of {row['negatives']} queries; found {row['tpr_all']:.1%} [{tlo:.1%}, {thi:.1%}] "
            f"of {row['n_all']} copies"
        )


def _pair(v: object) -> tuple[float, float]:
    assert isinstance(v, list | tuple) and len(v) == 2
    return float(v[0]), float(v[1])
