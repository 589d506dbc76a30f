"""The evidence bundle: a folder holding the inputs, figures, evidence.json, report.html and report.pdf,
with a manifest of SHA-256 hashes signed by the workspace's Ed25519 key.

    build_bundle(engine, item, case, out)  -> a new folder `<name>-bundle` (`-bundle-2`, ... : never replaced)
    verify_bundle(folder, trusted)         -> every hash and the signature checked; extra files refused; which key
                                              signed it, and whether that key is one of `trusted`
    reproduce_bundle(folder)               -> the comparison recomputed from the bundle's own inputs
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import shutil
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature

from detector import __version__
from detector.background import Baselines, load_background
from detector.embedders import load_embedder
from detector.fusion import load_model
from detector.intake import DecodedImage, IntakeError, decode_image
from detector.matching import describe
from detector.pipeline import score, verifier_names
from detector.provenance import ai_indicators, read_metadata
from detector.signals import build_signals
from detector.views import describe as describe_views
from detector.views import views_of
from index.audit import Action
from index.keys import fingerprint, load_or_create, load_public, public_pem
from index.registry import utc_now
from index.workspace import is_disk_full
from service.engine import Engine, EngineError, MatchResult
from service.i18n import LANGUAGES
from service.inputs import InputItem
from service.reports import figures
from service.reports.wording import ABSENCE_NOTE, LEGAL_NOTE, LIMITATIONS, PRESENCE_NOTE, basis, reading, verbal

FORMAT = "semblance-evidence/1"
MANIFEST, SIGNATURE, PUBLIC_KEY = "manifest.json", "manifest.sig", "public_key.pem"
TOLERANCE = 1e-6


@dataclass
class CaseInfo:
    case_number: str = ""
    examiner: str = ""
    authority: str = ""
    obtained: str = ""
    """How the suspect file was obtained: upload, seized path, listing URL."""
    notes: str = ""


@dataclass(frozen=True)
class RecordedScan:
    """A suspect's scan as it was recorded when it was made (a case's finding): the report states it beside the
    comparison made for the report, so later changes to the registry never silently rewrite what was found."""

    scanned_at: str
    result: dict[str, Any]
    """The scan's JSON as stored (`semblance scan`'s line)."""


@dataclass
class CheckResult:
    ok: bool
    problems: list[str] = field(default_factory=list)
    details: dict[str, object] = field(default_factory=dict)


def build_bundle(
    engine: Engine,
    item: InputItem,
    case: CaseInfo,
    out: Path,
    top_k: int = 5,
    language: str = "en",
    provenance: dict[str, object] | None = None,
    recorded: RecordedScan | None = None,
) -> Path:
    """Scan `item` and write its signed evidence bundle in a new folder under `out`, recorded in the audit trail;
    returns that folder. `language` (en or zh) is the language of report.html and report.pdf; evidence.json is the
    same in both. `provenance` (how the file was obtained: URL, every redirect, time, status, headers, SHA-256 as
    received) goes into evidence.json and inputs/provenance.json, under the signature. `recorded` (the finding as
    it was stored) is stated in the report with every work it cites that was removed since, and that work's file."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown report language {language!r}: one of {', '.join(LANGUAGES)}")
    data = item.read()
    image = decode_image(data, item.name, engine.workspace.max_pixels)
    result = engine.scan(InputItem(item.name, reader=lambda: data), top_k=min(top_k, 8))
    if result.error is not None:  # e.g. a blank picture: there is nothing to report on
        raise IntakeError(item.name, result.error)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(item.name.split("!")[-1]).stem).strip("-") or "suspect"
    try:
        bundle = _new_folder(out, f"{stem}-bundle")
    except OSError as exc:
        raise EngineError(f"{out}: the evidence bundle's folder cannot be made ({_why(exc)})") from exc
    try:
        found = (result.matches, result.verdict)
        _write_bundle(engine, bundle, item, data, image, found, case, language, provenance, recorded)
    except BaseException as exc:
        shutil.rmtree(bundle, ignore_errors=True)  # only the folder this call created: never an earlier bundle
        if isinstance(exc, OSError):  # a full disk, a quota, a folder unwritable: said, not a traceback
            raise EngineError(
                f"{bundle}: the evidence bundle could not be written ({_why(exc)}); what was written of it is "
                "removed, nothing was recorded, and the report can be made again"
            ) from exc
        raise
    engine.record(
        Action.REPORT,
        {"bundle": str(bundle), "case_number": case.case_number, "suspect": item.name, "language": language},
        sha256=image.sha256,
    )
    return bundle


def _why(exc: OSError) -> str:
    """The OS's reason, in words: a full disk named as such."""
    return "the disk is full" if is_disk_full(exc) else (exc.strerror or str(exc))


def _new_folder(parent: Path, name: str) -> Path:
    """Create and return `parent/name`, or `name-2`, `name-3`, ... when taken: a signed bundle is never replaced."""
    parent.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        folder = parent / (name if n == 1 else f"{name}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def _write_bundle(
    engine: Engine,
    bundle: Path,
    item: InputItem,
    data: bytes,
    image: DecodedImage,
    scanned: tuple[list[MatchResult], str],
    case: CaseInfo,
    language: str = "en",
    provenance: dict[str, object] | None = None,
    recorded: RecordedScan | None = None,
) -> None:
    found, overall = scanned
    from service.reports.html import render_html
    from service.reports.pdf import render_pdf

    (bundle / "inputs" / "originals").mkdir(parents=True)
    (bundle / "figures").mkdir()
    (bundle / "method").mkdir()
    suffix = Path(item.name).suffix.lower() or ".img"
    (bundle / "inputs" / f"suspect{suffix}").write_bytes(data)
    if provenance is not None:
        (bundle / "inputs" / "provenance.json").write_text(json.dumps(provenance, indent=2, ensure_ascii=False))
    shutil.copyfile(engine.model.source, bundle / "method" / "thresholds.toml")
    cal = engine.calibration
    if cal.origin != "packaged" and cal.background_path is not None:  # a packaged set is found again by its id
        shutil.copyfile(cal.background_path, bundle / "method" / "background.npz")

    metadata = read_metadata(data)
    indicators = [i.to_json() for i in ai_indicators(data, metadata)]
    matches = []
    images: dict[str, bytes] = {}
    for rank, m in enumerate(found, start=1):
        work = engine.work(m.ref)
        assert work is not None
        original_bytes = engine.workspace.vault.read(work.sha256)
        original = decode_image(original_bytes, work.original_name)
        orig_name = f"inputs/originals/{rank}-{work.sha256[:16]}{Path(work.original_name).suffix.lower() or '.img'}"
        (bundle / orig_name).write_bytes(original_bytes)
        figs = _figures(image, original, m, rank, bundle)
        images.update(figs)
        matches.append(_match_record(engine, m, rank, work.to_json(), orig_name, sorted(figs)))
    info = engine.info()
    evidence = {
        "format": FORMAT,
        "generated_at": utc_now(),
        "case": asdict(case),
        "suspect": {
            "name": item.name,
            "file": f"inputs/suspect{suffix}",
            "size_bytes": len(data),
            "sha256": image.sha256,
            "md5": hashlib.md5(data).hexdigest(),
            "format": image.format,
            "width": image.width,
            "height": image.height,
            "transparency_flattened_on": image.flattened_on or None,
            "obtained": case.obtained,
            **({"provenance": provenance} if provenance is not None else {}),
            "metadata": metadata,
        },
        "ai_indicators": indicators,
        "ai_indicators_note": PRESENCE_NOTE if indicators else ABSENCE_NOTE,
        "method": _method(engine, info),
        "matches": matches,
        "overall_verdict": overall,
        "conclusion": _conclusion(matches),
        "legal_note": LEGAL_NOTE,
        "language": language,
    }
    if recorded is not None:
        evidence["recorded_finding"] = _recorded_finding(engine, bundle, recorded, found)
    (bundle / "evidence.json").write_text(json.dumps(evidence, indent=2, ensure_ascii=False, default=str))
    try:
        key = load_or_create(engine.workspace.home)
    except OSError as exc:  # a read-only workspace that has never signed a report has no key to sign with
        raise EngineError(
            f"{engine.workspace.home}: the workspace's signing key cannot be made ({exc.strerror}); a report is "
            "signed with it, so make the first report where the workspace is writable"
        ) from exc
    evidence["signing_key_fingerprint"] = fingerprint(key.public_key())
    (bundle / "report.html").write_text(render_html(evidence, images), encoding="utf-8")
    (bundle / "report.pdf").write_bytes(render_pdf(evidence, images))
    _sign(bundle, key)


def _recorded_finding(
    engine: Engine, bundle: Path, recorded: RecordedScan, found: list[MatchResult]
) -> dict[str, object]:
    """The finding as it was recorded, each work it cites with whether this report compared it again and, for a work
    removed from the registry since, when, by whom and why, with its record and its file (the vault keeps it)."""
    compared = {(m.ref, m.work_sha256) for m in found}
    cited = []
    for m in recorded.result.get("matches") or []:
        entry: dict[str, object] = {k: m.get(k) for k in ("ref", "title", "verdict", "score", "work_sha256")}
        entry["compared_in_this_report"] = (m.get("ref"), m.get("work_sha256")) in compared
        sha256 = str(m.get("work_sha256", ""))
        removal = _removal(engine, str(m.get("ref", "")), recorded.scanned_at, sha256)
        if removal is not None:
            suffix = Path(str(removal["work"].get("original_name", ""))).suffix.lower() or ".img"
            name = f"inputs/originals/removed-{sha256[:16]}{suffix}"
            if engine.workspace.vault.has(sha256):
                (bundle / name).write_bytes(engine.workspace.vault.read(sha256))
                removal["original_file"] = name
            entry["removed"] = removal
        cited.append(entry)
    return {"scanned_at": recorded.scanned_at, "verdict": recorded.result.get("verdict"), "matches": cited}


def _removal(engine: Engine, ref: str, since: str, sha256: str) -> dict[str, Any] | None:
    """The removal after `since` of the work `ref` with that file (from the audit trail, which keeps the removed
    record), or None; a ref registered again for another file is another work."""
    removals = [
        e for e in engine.audit(ref) if e["action"] == Action.REMOVE and str(e["at"]) >= since and e["sha256"] == sha256
    ]
    if not removals:
        return None
    last = removals[-1]
    details = last["details"] if isinstance(last["details"], dict) else {}
    work = details.get("work") or {"ref": ref, "title": details.get("title", ""), "sha256": last["sha256"]}
    return {"at": last["at"], "by": last["who"], "reason": details.get("reason", ""), "work": work}


def _match_record(
    engine: Engine, m: MatchResult, rank: int, work: dict[str, object], original_file: str, figure_files: list[str]
) -> dict[str, object]:
    """One match as evidence.json records it: the work, the score and verdict with their readings, every signal's
    evidence, the regions and the figures drawn for it."""
    return {
        "rank": rank,
        "ref": m.ref,
        "work": work,
        "original_file": original_file,
        "score": m.score,
        "verdict": m.verdict,
        "verbal": verbal(m.verdict, m.score),
        "score_basis": m.score_basis,
        "score_basis_reading": basis(m.score_basis, m.view),
        "view": m.view,
        "features": m.features,
        "signals": m.signals,
        "readings": {k: reading(k, v, engine.model) for k, v in m.signals.items()},
        "agreeing_signals": m.agreeing_signals,
        "region": m.to_json()["region"],
        "reference_region": m.to_json()["reference_region"],
        "region_source": m.region_source,
        "verified_by": m.verified_by,
        "view_verified_by": m.view_verified_by,
        "figures": figure_files,
    }


def _method(engine: Engine, info: dict[str, object]) -> dict[str, object]:
    """How the numbers were made: software and commit, embedder, signals, views, index, thresholds, calibration,
    background set and the method's stated limitations."""
    return {
        "software": f"semblance {__version__}",
        "git_commit": _git_commit(),
        "embedder": engine.primary.describe(),
        "signals": [s.describe() for s in engine.signals],
        "views": describe_views(),
        "index": engine.workspace.index_description(),
        "workspace_generation": info["generation"],
        "rescoring": "Candidates found by approximate (FAISS) search were re-scored exactly from the stored "
        "descriptors of each registered work; every number below is an exact comparison.",
        "thresholds": engine.model.describe() | {"source": "method/thresholds.toml"},
        "calibration": engine.calibration.describe(),
        "background": engine.baselines.describe(),
        "limitations": list(LIMITATIONS),
    }


def _figures(image: DecodedImage, original: DecodedImage, m: MatchResult, rank: int, bundle: Path) -> dict[str, bytes]:
    pairs = m.geometry.inlier_pairs if m.geometry else None
    side = figures.side_by_side(image, original, m.region, m.reference_region, pairs)
    out = {f"figures/match-{rank}-side-by-side.jpg": side}
    h = m.geometry.homography if m.geometry else None
    overlay = figures.aligned_overlay(image, original, h, m.region, m.reference_region)
    if overlay is not None:
        out[f"figures/match-{rank}-overlay.jpg"] = overlay
    for name, data in out.items():
        (bundle / name).write_bytes(data)
    return out


def _conclusion(matches: list[dict[str, object]]) -> str:
    flagged = [m for m in matches if m["verdict"] != "no_match"]
    if not flagged:
        return (
            "The comparison found no registered work with technical similarity above the method's thresholds. "
            "This is not proof that no copying happened (see the limitations)."
        )
    parts = [
        f"For registered work '{m['ref']}': {m['verbal']} (score {float(m['score']):.3f}, verdict "  # type: ignore[arg-type]
        f"{m['verdict']})."
        for m in flagged
    ]
    return " ".join(parts)


def _git_commit() -> str:
    here = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if out.returncode == 0:
            dirty = subprocess.run(
                ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
            return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown (not installed from a git checkout)"


# -- signing and verification ---------------------------------------------------------------------------------
def _files(bundle: Path) -> dict[str, str]:
    """The bundle's regular files (links and special files are never followed or read) and their SHA-256."""
    skip = {MANIFEST, SIGNATURE, PUBLIC_KEY}
    return {
        p.relative_to(bundle).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(bundle.rglob("*"))
        if stat.S_ISREG(p.lstat().st_mode) and p.relative_to(bundle).as_posix() not in skip
    }


def _irregular(bundle: Path) -> list[str]:
    """What in the bundle is neither a regular file nor a folder (a link, a FIFO, a socket, a device): a signed
    bundle holds none, and a reader opening one could be misled or made to hang."""
    kinds = {stat.S_IFLNK: "a symbolic link", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket"}
    out = []
    for p in sorted(bundle.rglob("*")):
        mode = p.lstat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            kind = kinds.get(stat.S_IFMT(mode), "a device or special file")
            out.append(f"not a regular file: {p.relative_to(bundle).as_posix()} is {kind}")
    return out


def _sign(bundle: Path, key: object) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    assert isinstance(key, Ed25519PrivateKey)
    pub = key.public_key()
    manifest = {
        "format": FORMAT,
        "created_at": utc_now(),
        "algorithm": "Ed25519 over the bytes of manifest.json",
        "public_key_fingerprint_sha256": fingerprint(pub),
        "files": _files(bundle),
    }
    body = json.dumps(manifest, indent=2, sort_keys=True).encode()
    (bundle / MANIFEST).write_bytes(body)
    (bundle / SIGNATURE).write_text(base64.b64encode(key.sign(body)).decode() + "\n")
    (bundle / PUBLIC_KEY).write_bytes(public_pem(pub))


def verify_bundle(bundle: Path, trusted: Mapping[str, str] | None = None) -> CheckResult:
    """Check the signature over the manifest and every file's hash; any change, addition or removal fails.

    `ok` says the bundle is intact and signed by the key it carries. Whether that key is anyone's in particular is
    a separate question: `details["trusted_by"]` names the entry of `trusted` (fingerprint -> who vouches for it)
    that matches the signing key, or is None, since anyone can re-sign an edited bundle with a key of their own."""
    problems = _irregular(bundle)
    if any(
        p.startswith(f"not a regular file: {name} ") for p in problems for name in (MANIFEST, SIGNATURE, PUBLIC_KEY)
    ):
        return CheckResult(False, problems)  # never opened: a FIFO in their place would hang the reader
    try:
        body = (bundle / MANIFEST).read_bytes()
        signature = base64.b64decode((bundle / SIGNATURE).read_text().strip(), validate=True)
        pub = load_public((bundle / PUBLIC_KEY).read_bytes())
        manifest = json.loads(body)
    except (OSError, ValueError) as exc:
        return CheckResult(False, [f"cannot read the bundle's manifest, signature or key: {exc}"])
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(listed, dict) or not all(isinstance(v, str) for v in listed.values()):
        return CheckResult(False, ["manifest.json is not a Semblance manifest (no table of files and their SHA-256)"])
    try:
        pub.verify(signature, body)
    except InvalidSignature:
        problems.append("the signature does not match manifest.json (manifest or signature altered)")
    fp = fingerprint(pub)
    if manifest.get("public_key_fingerprint_sha256") != fp:
        problems.append("the manifest names a different signing key than public_key.pem")
    actual = _files(bundle)
    for name, digest in listed.items():
        if name not in actual:
            problems.append(f"missing file: {name}")
        elif actual[name] != digest:
            problems.append(f"altered file: {name} (sha256 {actual[name][:16]}…, manifest says {digest[:16]}…)")
    problems += [f"file not in the manifest: {name}" for name in actual if name not in listed]
    trusted_by = (trusted or {}).get(fp)
    return CheckResult(not problems, problems, {"files": len(listed), "key_fingerprint": fp, "trusted_by": trusted_by})


def reproduce_bundle(bundle: Path) -> CheckResult:
    """Recompute every match from the bundle's suspect and original files with the recorded method."""
    ev = json.loads((bundle / "evidence.json").read_text())
    method = ev["method"]
    model = load_model(bundle / "method" / "thresholds.toml")
    embedder = load_embedder(method["embedder"]["id"])
    problems: list[str] = []
    if embedder.weights_sha256 != method["embedder"]["weights_sha256"]:
        problems.append(f"embedder weights differ: {embedder.weights_sha256} vs {method['embedder']['weights_sha256']}")
    signals = build_signals(embedder)
    own = bundle / "method" / "background.npz"  # a workspace's own calibration travels with the bundle
    background = load_background(embedder.id, own if own.is_file() else None)
    recorded_bg = method.get("background") or {}
    found_bg = background.digest if background else None
    if recorded_bg.get("sha256") != found_bg:
        problems.append(f"background set differs: {found_bg} vs {recorded_bg.get('sha256')} recorded")
    baselines = Baselines(background if recorded_bg else None, signals)
    suspect_bytes = (bundle / ev["suspect"]["file"]).read_bytes()
    if hashlib.sha256(suspect_bytes).hexdigest() != ev["suspect"]["sha256"]:
        problems.append("the suspect file's SHA-256 differs from the one recorded")
    suspect = decode_image(suspect_bytes, ev["suspect"]["name"])
    if "views" not in method:  # written before region proposals: the suspect's views were its collage panels only
        suspect.__dict__["views"] = views_of(suspect.rgb, suspect.panels, proposals=False)  # sets the cached value
    query, _ = describe(signals, suspect, query=True)
    rows = []
    by_key = {s.key: s for s in signals}
    verifiers = verifier_names(signals)
    for m in ev["matches"]:
        original = decode_image((bundle / m["original_file"]).read_bytes(), m["original_file"])
        if original.sha256 != m["work"]["sha256"]:
            problems.append(f"match {m['rank']}: original file differs from the registered one")
        computed, _ = describe(signals, original, query=False)
        reference = {k: by_key[k].from_bytes(by_key[k].to_bytes(d)) for k, d in computed.items()}  # as stored
        if "verified_by" in m:  # which verifiers compared the whole suspect and which views, as recorded
            ran = {n: frozenset({0}) for n in m["verified_by"]}
        else:  # bundles written before views were verified on their own: the verifiers that left evidence
            ran = {n: frozenset({0}) for n in verifiers if n in m["signals"] and "not_run" not in m["signals"][n]}
        in_views = {n: {int(v): frozenset({0}) for v in vs} for n, vs in (m.get("view_verified_by") or {}).items()}
        again = score(
            model,
            signals,
            query,
            {0: reference},
            lambda _w, descriptors: baselines.of(descriptors),
            [v.kind for v in suspect.views],
            ran,
            verify_views=in_views,
        )[0]
        diffs = {
            k: (v, again.features.get(k))
            for k, v in m["features"].items()
            if again.features.get(k) is None or abs(float(v) - float(again.features[k])) > TOLERANCE
        }
        if diffs:
            problems.append(f"match {m['rank']} ({m['ref']}): features differ: {diffs}")
        if abs(again.score - float(m["score"])) > TOLERANCE or again.verdict != m["verdict"]:
            problems.append(
                f"match {m['rank']} ({m['ref']}): score/verdict {again.score:.6f}/{again.verdict} vs "
                f"{float(m['score']):.6f}/{m['verdict']}"
            )
        rows.append(
            {
                "ref": m["ref"],
                "recorded_score": m["score"],
                "recomputed_score": again.score,
                "recorded_verdict": m["verdict"],
                "recomputed_verdict": again.verdict,
            }
        )
    return CheckResult(not problems, problems, {"matches": rows})
