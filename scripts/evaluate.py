"""Measure what Semblance finds, calibrate its fusion and verdicts, and publish the error rates.

    python scripts/evaluate.py --manifest ../shared/eval/manifest.csv --root ../shared/eval

Registers the manifest's originals in a fresh workspace, scans their derivatives (positives), the distractors
(negatives) and seeded synthetic families made from both, then:
  * fits the logistic fusion on the TUNE part and reports on the REPORT part (split by source family, never by
    image; see SPLITS), chooses verdict thresholds for target false-alarm rates on tune negatives,
  * computes µAP, recall@1, recall at 1% and 0.1% false alarms, the verdicts' operating point and
    localisation IoU per family, side by side with pHash, PDQ, the embedder's global descriptor (alone and with
    DISC21 score normalisation) and ablations,
  * writes docs/evaluation/<embedder>/ (EVALUATION.md, evaluation.json, PR curves, a gallery), the side-by-side
    docs/EVALUATION.md, and the calibration detector/calibration/<embedder>.toml (with the rates measured at each
    threshold) that the engine uses for that embedder.

The set is read, registered and scanned by service.labelled_set (as `semblance calibrate` reads and scans its own);
what is fitted and measured from the scans is detector.calibration's; this command runs them and writes the docs.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector import __version__
from detector.auto import AUTO_PREFERENCE
from detector.background import load_background
from detector.background import packaged_path as packaged_background_path
from detector.calibration import Calibration, packaged_model_path, provisional_model
from detector.calibration import fit as F
from detector.calibration import metrics as M
from detector.calibration.ablation import VIEW_ABLATIONS, ablation_predictions
from detector.calibration.assessment import assessment, predictions, rates_at_thresholds
from detector.calibration.cases import Candidates, QueryCase, calibrated
from detector.calibration.families import GROUP_NAMES
from detector.calibration.folds import leave_one_generator_out
from detector.calibration.peers import PEER_PREFIXES, peer_scores
from detector.calibration.splits import FILLER_SHARE, filler_rows
from detector.calibration.targets import targets
from detector.calibration.writer import write_packaged
from detector.embedders import DEFAULT_EMBEDDER, load_embedder
from detector.fusion import FusionModel, decide, load_model
from detector.signals import SIGNAL_TYPES
from service.engine import Engine, EngineError
from service.labelled_set import (
    LabelledScan,
    Row,
    ai_pair_cases,
    build_cases,
    filler_ref,
    in_background,
    label_shared_artwork,
    read_manifest,
    read_records,
    refresh_verifier,
    register_rows,
    scan_cases,
    scratch_engine,
    work_bytes,
    write_records,
)

REPO = Path(__file__).resolve().parents[1]


def parser() -> argparse.ArgumentParser:
    """The command's options (see --help)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", default=str(REPO.parent / "shared/eval/manifest.csv"))
    ap.add_argument("--root", default=None, help="Folder the manifest's paths are relative to (default: its own).")
    ap.add_argument("--docs", default=str(REPO / "docs"))
    ap.add_argument("--embedder", default=DEFAULT_EMBEDDER, help="Built-in embedder to evaluate and calibrate.")
    ap.add_argument(
        "--thresholds",
        default=None,
        help="Where to write the calibrated model (default detector/calibration/<embedder>.toml; '' to skip).",
    )
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument(
        "--records",
        default=str(REPO / "build" / "evaluation-records.jsonl"),
        help="Write every query's candidates and signal values here (JSON lines; '' to skip).",
    )
    ap.add_argument(
        "--from-records",
        default=None,
        help="Re-analyse an earlier run's --records file (same manifest and seed) instead of registering and "
        "scanning again: labels, fits and tables are recomputed; the registration and scan speed quoted are that "
        "run's (from docs/evaluation/<embedder>/evaluation.json).",
    )
    ap.add_argument(
        "--refresh-verifier",
        action="append",
        default=[],
        choices=[n for n, cls in SIGNAL_TYPES.items() if cls.role == "verifier"],
        help="With --from-records: compare again, with this verifier's current code, the candidates it runs on "
        "(a verifier with its own verify_top: chosen again from the recorded cheap features; another: those the "
        "scans ran it on), so a verifier's change needs no new scan, and write the records again (--records).",
    )
    ap.add_argument(
        "--calibration",
        default=None,
        help="Score with this calibration file (its fusion weights and thresholds) instead of fitting one, e.g. a "
        "release's on new scans: every table is measured with it, the rates written with it (--thresholds) are this "
        "run's; the ablations and leave-one-generator-out figures are still refitted.",
    )
    ap.add_argument(
        "--rescan-failed",
        default=None,
        help="Register and scan as a full run does, but only the queries that have no candidate in this earlier "
        "run's --records file (a scan that failed), keeping the rest of its records; then analyse all of them.",
    )
    ap.add_argument(
        "--also-rescan",
        default=None,
        help="With --rescan-failed: a file of query ids (one a line) to scan again as well, e.g. those whose views a "
        "change of detector/proposals.py changed; every other query keeps its recorded scan.",
    )
    ap.add_argument(
        "--ai-pairs",
        default=str(REPO.parent / "shared/eval/ai_pairs/manifest.csv"),
        help="Real AI pairs of other generators (paths relative to the main manifest's root), registered and fitted "
        "on, with leave-one-generator-out figures ('' to leave out).",
    )
    ap.add_argument("--synthetic-per-family", type=int, default=1)
    ap.add_argument("--synthetic-negatives", type=int, default=700)
    ap.add_argument("--max-distractors", type=int, default=None)
    ap.add_argument("--max-originals", type=int, default=None, help="Quick runs: register only this many.")
    ap.add_argument(
        "--filler-share",
        type=float,
        default=FILLER_SHARE,
        help="Share of every designed set of distractors registered as filler works (0 for none): siblings of "
        "registered works are then among the negatives, as in a real registry.",
    )
    return ap


def main() -> None:
    ap = parser()
    args = ap.parse_args()
    if args.also_rescan and not args.rescan_failed:
        ap.error("--also-rescan needs --rescan-failed RECORDS: the records the other queries keep")
    if args.calibration and (fitted_for := load_model(args.calibration).embedder) != args.embedder:
        ap.error(f"--calibration {args.calibration} was fitted for {fitted_for}, not --embedder {args.embedder}")
    again = set(Path(args.also_rescan).read_text().split()) if args.also_rescan else set()  # query ids
    manifest = Path(args.manifest)
    root, rows = manifest_or_exit(manifest, Path(args.root) if args.root else None)
    rng = np.random.default_rng(args.seed)
    t_start = time.perf_counter()
    fillers = filler_rows(rows, args.filler_share)
    filler_paths = {r["path"] for r in fillers}
    if args.max_originals is not None:
        keep = {
            r["pair_id"]
            for r in sorted((r for r in rows if r["role"] == "original"), key=lambda r: r["sha1"])[: args.max_originals]
        }
        rows = [r for r in rows if r["role"] != "original" or r["pair_id"] in keep]
    embedder = load_embedder(args.embedder)
    background = load_background(embedder.id)
    left_out = in_background(rows, root, background.source_sha256 if background else frozenset())
    if left_out:
        print(f"leaving out {len(left_out)} images of the shipped background set (never queries)", flush=True)
    rows_eval = [r for r in rows if r["path"] not in filler_paths and r["path"] not in left_out]
    # features are collected before any calibration exists: scores under this provisional model are unused
    provisional = provisional_model(embedder.id, embedder.weights_sha256, background.digest if background else "")
    ai_rows: list[Row] = []
    if args.ai_pairs and not Path(args.ai_pairs).is_file():
        print(f"no AI pairs at {args.ai_pairs}: leave-one-generator-out figures are left out (--ai-pairs)")
    if args.ai_pairs and Path(args.ai_pairs).is_file():
        ai_rows = manifest_or_exit(Path(args.ai_pairs), root)[1]
    originals = [r for r in rows if r["role"] == "original"] + [r for r in ai_rows if r["role"] == "original"]
    folder = Path(args.docs) / "evaluation" / embedder.id

    def cases_of(refs: dict[str, str]) -> list[QueryCase]:
        return build_cases(
            rows_eval, root, refs, rng, args.synthetic_per_family, args.synthetic_negatives, args.max_distractors
        ) + ai_pair_cases(ai_rows, root, refs)

    if args.from_records:
        prior = json.loads((folder / "evaluation.json").read_text())
        reg_rate, scan_ms = float(prior["registration_per_s"]), float(prior["scan_ms_mean"])
        refs = {r["pair_id"]: r["path"] for r in originals}
        refs.update({filler_ref(r): r["path"] for r in fillers})
        cases = cases_of(refs)
        cands = records_or_exit(Path(args.from_records), cases)
        print(f"re-analysing the scans of {len(cases)} queries from {args.from_records}", flush=True)
        for name in args.refresh_verifier:
            print(f"comparing again with {name} on the candidates it runs on...", flush=True)
            refresh_verifier(SIGNAL_TYPES[name](), cands, cases, refs, root, progress_every(500))
    else:
        bg_path = packaged_background_path(embedder.id) if background else None
        with scratch_engine(args.embedder, Calibration(provisional, background, "given", bg_path)) as engine:
            registered = register_rows(engine, originals, fillers, root)
            reg_rate, refs = registered.per_second, registered.refs
            print(f"registered {len(refs)} works ({registered.failed} failed, {reg_rate:.1f}/s)", flush=True)
            cases = cases_of(refs)
            if args.rescan_failed:
                cands = records_or_exit(Path(args.rescan_failed), cases)
                todo = [c for c in cases if not cands[c.id] or c.id in again]
                print(
                    f"scanning again {len(todo)} queries: those with no candidate in {args.rescan_failed}"
                    + (f" and those listed in {args.also_rescan}" if again else ""),
                    flush=True,
                )
                cands.update(scanned(engine, todo).candidates)
                scan_ms = float(json.loads((folder / "evaluation.json").read_text())["scan_ms_mean"])
            else:
                print(f"scanning {len(cases)} queries", flush=True)
                scan = scanned(engine, cases)
                cands, scan_ms = scan.candidates, scan.ms_per_query
    shared_art = label_shared_artwork(cases, fillers, root)
    print(f"{shared_art} negative queries share their artwork with a registered filler (neither right nor wrong)")
    print("peers...", flush=True)
    peers = peer_scores(cases, work_bytes(originals, fillers, refs, root), embedder, background)

    if args.records and (not args.from_records or args.refresh_verifier):  # a rescan writes them whole
        write_records(Path(args.records), cases, cands)
    base = replace(  # the signals' named constants; everything else is fitted below
        provisional, signal_rules=F.starting_rules(), agreement=dict(F.AGREEMENT)
    )
    tune = [c for c in cases if c.split == "tune" and c.fitted]
    report = [c for c in cases if c.split == "report"]
    observed = {k for cs in cands.values() for cand in cs for k in cand.features}
    features = F.features_for((k.removesuffix(".excess") for k in observed), background is not None)
    if args.calibration:  # kept as fitted by the run that wrote it
        model = load_model(args.calibration)
    else:
        model = calibrated(cands, tune, base, features, f"calibrated-{args.seed}")
    print("leaving each generator out...", flush=True)
    logo = leave_one_generator_out(cands, tune, report, base, features)

    results: dict[str, object] = {
        "version": __version__,
        "embedder": embedder.describe(),
        "fillers": len(fillers),
        "negatives_sharing_artwork_with_a_filler": shared_art,
        "scans_from_records": args.from_records or None,
        "failed_scans_redone_from": args.rescan_failed or None,
        "also_rescanned": {"listed_in": args.also_rescan, "queries": len(again)} if args.also_rescan else None,
        "calibration_given": given_calibration(args.calibration, model) if args.calibration else None,
        "seed": args.seed,
        "manifest": os.path.relpath(manifest, REPO),
        "queries": len(cases),
        "tune_queries": len(tune),
        "report_queries": len(report),
        "registration_per_s": reg_rate,
        "scan_ms_mean": scan_ms,
        "fusion": {
            "bias": model.bias,
            "weights": model.weights,
            "experts": {n: {"bias": e.bias, "weights": e.weights} for n, e in model.experts.items()},
        },
        "background": background.describe() if background else None,
        "background_images_left_out": len(left_out),
        "leave_one_generator_out": logo,
        "thresholds": {
            "copy": model.copy_threshold,
            "derivative": model.derivative_threshold,
            "signals": model.signal_rules,
        },
    }
    report_ids = {c.id for c in report}
    methods: dict[str, list[M.Prediction]] = {"Semblance (full)": predictions(model, cands, report)}
    methods.update({name: [p for p in preds if p[0] in report_ids] for name, preds in peers.items()})
    methods.update(ablation_predictions(model, cands, cases, tune, report, base, features))
    results.update(assessment(model, cands, cases, tune, report, methods))
    results["elapsed_s"] = time.perf_counter() - t_start
    results["targets"] = targets(results)

    docs = Path(args.docs)
    folder.mkdir(parents=True, exist_ok=True)
    rates = rates_at_thresholds(model, cands, tune, report)
    results["rates"] = rates
    (folder / "evaluation.json").write_text(json.dumps(results, indent=1, default=float))
    plot_pr(methods, report, folder)
    gallery(cases, cands, model, folder / "gallery.png")
    write_markdown(results, folder / "EVALUATION.md")
    write_side_by_side(docs)
    thresholds = packaged_model_path(embedder.id) if args.thresholds is None else args.thresholds
    if thresholds:
        write_packaged(model, rates, Path(thresholds), results)
    print_summary(results)
    print(f"done in {results['elapsed_s']:.0f} s; wrote {folder / 'EVALUATION.md'} and {docs / 'EVALUATION.md'}")


# -- the labelled set, with this command's messages --------------------------------------------------------------
def manifest_or_exit(manifest: Path, root: Path | None) -> tuple[Path, list[Row]]:
    """service.labelled_set.read_manifest, or exit with its message."""
    try:
        return read_manifest(manifest, root)
    except EngineError as exc:
        sys.exit(f"evaluate: {exc}")


def records_or_exit(path: Path, cases: Sequence[QueryCase]) -> Candidates:
    """service.labelled_set.read_records, or exit with its message (scan again instead)."""
    try:
        return read_records(path, cases)
    except EngineError as exc:
        sys.exit(str(exc))


def scanned(engine: Engine, cases: Sequence[QueryCase]) -> LabelledScan:
    """service.labelled_set.scan_cases with its progress on stdout and each case it could not compare on stderr."""

    def progress(done: int, total: int) -> None:
        if done % 200 == 0:
            print(f"  scanned {done}/{total}", flush=True)

    scan = scan_cases(engine, cases, progress)
    for name, why in scan.errors.items():
        print(f"  scan error {name}: {why}", file=sys.stderr)
    return scan


def progress_every(step: int) -> Callable[[int, int], None]:
    """A progress callback that prints a line every `step` queries, with the time since it was made."""
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done and done % step == 0:
            print(f"  {done}/{total} queries ({time.perf_counter() - started:.0f} s)", flush=True)

    return progress


def given_calibration(path: str, model: FusionModel) -> str:
    """Name a calibration measured but not fitted here by its version and content hash, not a path that may be gone."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return f"calibration `{model.version}` (sha256 `{digest[:16]}…`)"


def print_summary(r: dict[str, object]) -> None:
    """Recall@1 per dev relation and the false-match rate on the dev distractors, on stdout."""
    rel = r["dev_by_relation"]
    assert isinstance(rel, dict)
    print("\nrecall@1 per relation (all dev derivatives with a registered original):")
    for name, row in rel.items():
        print(f"  {name:36s} {row['recall@1']:.3f}  ({row['queries']} queries)")
    fm = r["dev_distractor_false_matches"]
    assert isinstance(fm, dict)
    print(
        f"false matches on the {fm['distractors']} dev distractors: {fm['flagged']} "
        f"({fm['false_match_rate']:.4f}), of which `copy`: {fm['copy_verdicts']}"
    )
    fam = r["report_by_family"]
    assert isinstance(fam, dict)
    print("\nreport split, full pipeline:")
    for name, row in fam["Semblance (full)"].items():
        print(
            f"  {name:36s} uAP {row['uAP']:.3f}  R@1 {row['recall@1']:.3f}  R@FAR1% {row['recall@FAR1%']:.3f}  "
            f"R@FAR0.1% {row['recall@FAR0.1%']:.3f}"
        )


# -- outputs --------------------------------------------------------------------------------------------------
def plot_pr(methods: dict[str, list[M.Prediction]], report: Sequence[QueryCase], folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    negs = [M.Query(c.id, frozenset(), c.ignore) for c in report if c.group == "negative"]
    groups = sorted({c.group for c in report if c.truth})
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 4), squeeze=False)
    for ax, g in zip(axes[0], groups, strict=True):
        qs = [M.Query(c.id, c.truth, c.ignore) for c in report if c.group == g and c.truth]
        ids = {q.id for q in qs} | {q.id for q in negs}
        for name in [m for m in methods if m == "Semblance (full)" or m.startswith(PEER_PREFIXES)]:
            preds = [p for p in methods[name] if p[0] in ids]
            ap, rec, prec = M.micro_ap(qs + negs, preds)
            ax.plot(rec, prec, label=f"{name} (µAP {ap:.2f})")
        ax.set_title(g)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(folder / "pr_curves.png", dpi=90)
    plt.close(fig)


def gallery(cases: Sequence[QueryCase], cands: Candidates, model: FusionModel, path: Path) -> None:
    """Thumbnails of hits and misses, labelled with the top score and verdict.

    Several sources of the evaluation set allow research use only, so the committed gallery shows only queries
    made entirely from CC0 or public-domain originals (synthetic transformations of them)."""
    from PIL import ImageDraw

    picks: list[tuple[QueryCase, str, float, bool]] = []
    for c in cases:
        if not c.truth or not c.publishable:
            continue
        scored = sorted(((*k.scored(model), k) for k in cands.get(c.id, [])), key=lambda t: -t[0])
        top = scored[0] if scored else None
        verdict: str = decide(model, top[0], top[1]) if top else "no_match"
        ok = bool(top and top[2].ref in c.truth and verdict != "no_match")
        picks.append((c, verdict, top[0] if top else 0.0, ok))
    hits = [p for p in picks if p[3]][:12]
    misses = [p for p in picks if not p[3]][:12]
    tile = 160
    sheet = Image.new("RGB", (tile * 12, (tile + 28) * 2), "white")
    d = ImageDraw.Draw(sheet)
    for row, group in enumerate((hits, misses)):
        for i, (c, verdict, score, ok) in enumerate(group):
            im = Image.open(io.BytesIO(c.data)).convert("RGB")
            im.thumbnail((tile - 4, tile - 4))
            sheet.paste(im, (i * tile + 2, row * (tile + 28)))
            d.text(
                (i * tile + 2, row * (tile + 28) + tile - 2),
                f"{c.relation[:22]}\n{verdict} {score:.2f}",
                fill=(0, 120, 0) if ok else (200, 0, 0),
            )
    sheet.save(path)


def recall_table(
    tables: dict[str, dict[str, dict[str, Any]]], methods: Sequence[str], cols: Sequence[str]
) -> list[str]:
    """A markdown table of methods by families: recall at 1% false alarms, µAP in brackets."""
    lines = ["| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for m in methods:
        cells = []
        for f in cols:
            row = tables[m].get(f, {})
            cells.append(f"{_fmt(row.get('recall@FAR1%', float('nan')))} ({_fmt(row.get('uAP', float('nan')))})")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.3f}"
    return str(v)


def write_markdown(r: dict[str, object], path: Path) -> None:
    L: list[str] = []
    add = L.append
    add("# Evaluation\n")
    add(
        f"Generated by `python scripts/evaluate.py` (semblance {r['version']}, seed {r['seed']}) on "
        f"`{r['manifest']}`: {r['queries']} queries, {r['tune_queries']} in the tune split, "
        f"{r['report_queries']} in the report split. Elapsed {r['elapsed_s']:.0f} s on this machine"
        + (f" (re-analysed from the scans in `{r['scans_from_records']}`). " if r.get("scans_from_records") else ". ")
        + (
            f"The scans of `{r['failed_scans_redone_from']}` were kept, and those that had failed scanned again"
            + (
                f", with the {r['also_rescanned']['queries']} queries listed in `{r['also_rescanned']['listed_in']}`. "  # type: ignore[index]
                if r.get("also_rescanned")
                else ". "
            )
            if r.get("failed_scans_redone_from")
            else ""
        )
        + (
            f"**The calibration was not fitted on these scans**: it is {r['calibration_given']} as fitted by the run "
            "that wrote it (its fusion weights and thresholds), measured here; ablations and leave-one-generator-out "
            "figures are refitted. "
            if r.get("calibration_given")
            else ""
        )
        + f"Every figure below is in `docs/evaluation/{r['embedder']['id']}/evaluation.json`.\n"  # type: ignore[index]
    )
    add(
        "**Split.** The fusion weights and the verdict thresholds were fitted on the *tune* split only: the "
        "originals, derivatives and synthetic families of the Debian wallpaper, GCompris, libjxl, clipart, PyPI "
        "and npm sources (they hold no real AI outputs, so a synthetic *painterly re-rendering* family stands in), "
        "and a quarter of the distractors (by SHA-1; another quarter is the background set). All figures below "
        "are on the *report* split: the style-transfer and diffusion repositories' originals, their real "
        "derivatives (style transfer, img2img, depth2img, unCLIP, AnimeGAN, copies and crops) and synthetic "
        "families, and the other half of the distractors. Nothing in the report split was seen when fitting.\n"
    )
    bg = r.get("background")
    if isinstance(bg, dict):
        add(
            f"**Background normalisation.** Neural similarities enter the fusion as their excess over each work's "
            f"baseline: the mean of its {bg['top_k']} highest similarities to the shipped background set "
            f"({bg['description']}; sha256 `{str(bg['sha256'])[:16]}…`). The "
            f"{r['background_images_left_out']} manifest rows whose file is in that set are never queries here.\n"
        )
    add(
        "**Metrics.** µAP is pooled over all queries including the distractors (DISC21 practice). "
        "Recall@FAR x uses the score threshold at which x of the report split's distractor queries raise an alarm. "
        "Brackets are 95% Wilson intervals.\n"
    )
    th = r["thresholds"]
    assert isinstance(th, dict)
    add(
        f"Shipped thresholds: derivative ≥ {th['derivative']:.4f} (chosen for 1% false alarms on tune negatives); "
        f"copy ≥ {th['copy']:.4f} *and* geometric or PDQ proof (chosen so that at most 0.1% of tune negatives "
        "would be called a copy, never below the derivative threshold). Each signal's own decision numbers "
        f"(`[signals.*]` of the calibration): `{json.dumps(th.get('signals', {}))}`; the keypoint ratio is the "
        "smallest above every tune negative's. "
        "The score is the strongest of calibrated logistic experts: the combined one over every signal and the "
        "narrow ones of `detector.calibration.fit.EXPERTS`; each was fitted on the tune split and the AI pairs. "
        f"Fusion: `{json.dumps(r['fusion'])}`.\n"
    )
    tables = r["report_by_family"]
    assert isinstance(tables, dict)
    add("## Targets\n")
    add("| target | wanted | measured | met |")
    add("|---|---|---|---|")
    for t in r["targets"]:  # type: ignore[attr-defined]
        add(f"| {t['target']} | {t['wanted']} | {_fmt(t['measured'])} | {'yes' if t['met'] else '**no**'} |")
    add("")
    add("## Side by side, report split\n")
    fams = sorted({f for t in tables.values() for f in t})
    add("| family | " + " | ".join(tables) + " |")
    add("|---" * (len(tables) + 1) + "|")
    for f in fams:
        add(f"| {f} µAP | " + " | ".join(_fmt(t.get(f, {}).get("uAP", float("nan"))) for t in tables.values()) + " |")
    add("")
    add("## Ablations, report split: recall at 1% false alarms (µAP in brackets)\n")
    cols = [
        "AI re-renderings (keep the composition)",
        "AI semantic variations",
        "painterly re-renderings (synthetic)",
        "near copies",
        "crops & reframes",
        "collages",
        "marketplace screenshots",
    ]
    variants = [m for m in tables if not m.startswith(PEER_PREFIXES) and m not in VIEW_ABLATIONS]
    for line in recall_table(tables, variants, cols):
        add(line)
    add("")
    add("## Finding the artwork inside a larger picture: views, report split\n")
    add("Recall at 1% false alarms (µAP in brackets), each row refitted on what it leaves. A work that only a")
    add("removed view brought among the candidates stays one, so a row without views is its best case. What each")
    add("detector costs, in ms per scan: docs/PERFORMANCE.md (`scripts/benchmark.py`, the views ablation).\n")
    view_cols = [
        "product mock-ups",
        "marketplace screenshots",
        "AI-rendered collages",
        "collages",
        "crop (synthetic, <30% area)",
        "product mock-ups, second generator",
        "marketplace screenshots, second generator",
        "AI-rendered collages, second generator",
    ]
    for line in recall_table(tables, ["Semblance (full)", *[v for v in tables if v in VIEW_ABLATIONS]], view_cols):
        add(line)
    add("")
    add("## Semblance per family, report split\n")
    full = tables["Semblance (full)"]
    add("| family | queries | pairs | µAP | recall@1 | recall@FAR1% | recall@FAR0.1% |")
    add("|---|---|---|---|---|---|---|")
    for f, row in full.items():
        ci = row["recall@FAR0.1%_ci"]
        add(
            f"| {f} | {row['queries']} | {row['pairs']} | {_fmt(row['uAP'])} | {_fmt(row['recall@1'])} | "
            f"{_fmt(row['recall@FAR1%'])} | {_fmt(row['recall@FAR0.1%'])} [{ci[0]:.2f}, {ci[1]:.2f}] |"
        )
    logo = r.get("leave_one_generator_out")
    if isinstance(logo, dict) and logo.get("generators"):
        add("\n## AI re-renderings of other generators: leave one generator out\n")
        add(
            "Every real AI pair of `shared/eval/ai_pairs` (generators the main manifest lacks) scored by a "
            "calibration fitted on everything else *but its own generator* (the repository that made it). "
            "Recall at 1% false alarms uses the report split's negatives; at `derivative`, that calibration's own "
            "threshold. Semantic variations (unCLIP, image variations, ControlNet from a pose) have no recall "
            "target and must never be called a copy.\n"
        )
        add("| generator | keeps composition: queries | recall@FAR1% | recall at `derivative` | semantic: queries |")
        add("|---|---|---|---|---|")
        for g, row in logo["generators"].items():
            keep, sem = row.get("ai", {}), row.get("ai_semantic", {})
            add(
                f"| {g} | {keep.get('queries', 0)} | {_fmt(keep.get('recall@FAR1%', float('nan')))} | "
                f"{_fmt(keep.get('recall@shipped', float('nan')))} | {sem.get('queries', 0)} |"
            )
        for group, row in logo["pooled"].items():
            ci = row["recall@FAR1%_ci"]
            add(
                f"\n**Pooled, {GROUP_NAMES.get(group, group)}:** {row['queries']} queries, "
                f"recall at 1% false alarms {row['recall@FAR1%']:.3f} [{ci[0]:.2f}, {ci[1]:.2f}], at `derivative` "
                f"{row['recall@shipped']:.3f}; `copy` verdicts {row['copy_verdicts']}."
            )
    add("\n## Per relation (report split, full pipeline)\n")
    add("| relation / family | queries | µAP | recall@1 |")
    add("|---|---|---|---|")
    rel = r["report_by_relation"]
    assert isinstance(rel, dict)
    for f, row in rel.items():
        add(f"| {f} | {row['queries']} | {_fmt(row['uAP'])} | {_fmt(row['recall@1'])} |")
    add("\n## Dev set, every relation (both splits; fusion fitted on tune)\n")
    add("| relation | queries | recall@1 | µAP |")
    add("|---|---|---|---|")
    dev = r["dev_by_relation"]
    assert isinstance(dev, dict)
    for f, row in dev.items():
        add(f"| {f} | {row['queries']} | {_fmt(row['recall@1'])} | {_fmt(row['uAP'])} |")
    fm = r["dev_distractor_false_matches"]
    assert isinstance(fm, dict)
    add(
        f"\nDev distractors flagged with any verdict: {fm['flagged']} of {fm['distractors']} "
        f"({fm['false_match_rate']:.4f}, 95% CI {fm['false_match_ci95'][0]:.4f}-{fm['false_match_ci95'][1]:.4f}); "
        f"with `copy`: {fm['copy_verdicts']}. Jigsaw tiles of paintings whose original is not in the set cannot be "
        "scored and are left out."
    )
    for split in ("report", "tune"):
        add(f"\n## Verdicts at the shipped thresholds, {split} split\n")
        add("| group | queries | recall of the verdicts | false-alarm rate | wrong `copy` verdicts |")
        add("|---|---|---|---|---|")
        vt = r[f"verdicts_{split}"]
        assert isinstance(vt, dict)
        for g, row in vt.items():
            if g == "all":
                continue
            rec = (
                f"{row['recall']:.3f} [{row['recall_ci'][0]:.2f}, {row['recall_ci'][1]:.2f}]" if "recall" in row else ""
            )
            far = (
                f"{row['false_alarm_rate']:.4f} [{row['false_alarm_ci'][0]:.3f}, {row['false_alarm_ci'][1]:.3f}]"
                if "false_alarm_rate" in row
                else ""
            )
            add(f"| {g} | {row['queries']} | {rec} | {far} | {row['wrong_copy_verdicts']} |")
        add(f"\nPrecision of all verdicts: {vt['all']['precision']:.4f} over {vt['all']['flagged']} flagged pairs.")
    add("\n## Localisation (IoU of the reported region with the true one)\n")
    add("| group | n | median IoU | share with IoU ≥ 0.7 |")
    add("|---|---|---|---|")
    loc = r["localisation_all"]
    assert isinstance(loc, dict)
    for g, row in loc.items():
        add(f"| {g} | {row['n']} | {row['median_iou']:.3f} | {row['share_iou_ge_0.7']:.3f} |")
    add("\n![PR curves](pr_curves.png)\n")
    add("![Gallery: top row hits, bottom row misses; only queries made from public-domain originals](gallery.png)\n")
    add(
        f"Throughput during the run: registration {r['registration_per_s']:.1f} works/s, scan "
        f"{r['scan_ms_mean']:.0f} ms per query (mean, candidates verified, all near misses kept)."
    )
    path.write_text("\n".join(L) + "\n")


SIDE_BY_SIDE_FAMILIES = (
    "near copies",
    "crops & reframes",
    "crop (synthetic, >=30% area)",
    "crop (synthetic, <30% area)",
    "AI re-renderings (keep the composition)",
    "AI semantic variations",
    "painterly re-renderings (synthetic)",
    "collages",
    "AI-rendered collages",
    "product mock-ups",
    "marketplace screenshots",
    "photos of prints",
    "composites",
)


def write_side_by_side(docs: Path) -> None:
    """docs/EVALUATION.md: every evaluated embedder side by side (from docs/evaluation/*/evaluation.json), with
    pHash, PDQ and each descriptor alone as peers; the details of each are in its own folder."""
    runs = {}
    for f in sorted((docs / "evaluation").glob("*/evaluation.json")):
        r = json.loads(f.read_text())
        if isinstance(r.get("embedder"), dict):
            runs[r["embedder"]["id"]] = r
    L = ["# Evaluation: the embedders side by side\n"]
    L.append(
        "Each row is one run of `python scripts/evaluate.py --embedder E` on the same manifest, seed and split; "
        "its full report (targets, per relation, verdicts, ablations, PR curves, gallery) is "
        "`docs/evaluation/E/EVALUATION.md`. Figures are on the *report* split; the registry holds the originals "
        "and, as filler works, half of every designed set of distractors, so siblings of registered works are "
        "among the negatives. Recall is at 1% false alarms on the report split's negatives; µAP pools every "
        "query.\n"
    )
    for metric, key in (("µAP", "uAP"), ("recall at 1% false alarms", "recall@FAR1%")):
        L.append(f"\n## {metric}, report split\n")
        header = ["family"]
        cols: list[tuple[str, str]] = []
        for eid in runs:
            header.append(f"Semblance, {eid}")
            cols.append((eid, "Semblance (full)"))
        peers_done: set[str] = set()
        for eid, r in runs.items():
            for m in r["report_by_family"]:
                if m.startswith(PEER_PREFIXES) and m not in peers_done:
                    peers_done.add(m)
                    header.append(m)
                    cols.append((eid, m))
        L.append("| " + " | ".join(header) + " |")
        L.append("|" + "---|" * len(header))
        for fam in SIDE_BY_SIDE_FAMILIES:
            cells = [fam]
            for eid, m in cols:
                v = runs[eid]["report_by_family"][m].get(fam, {}).get(key)
                cells.append("–" if v is None else f"{v:.3f}")
            L.append("| " + " | ".join(cells) + " |")
    L.append("\n## Operating point and cost\n")
    L.append(
        "| embedder | false alarms at `derivative` (report negatives) | `copy` on negatives | derivative threshold "
        "| scan ms/query | registration /s | run s |"
    )
    L.append("|---|---|---|---|---|---|---|")
    for eid, r in runs.items():
        neg = r["verdicts_report"].get("negative", {})
        copies = sum(int(v.get("wrong_copy_verdicts", 0)) for k, v in r["verdicts_report"].items() if k == "negative")
        copies += sum(int(v.get("wrong_copy_verdicts", 0)) for k, v in r["verdicts_tune"].items() if k == "negative")
        L.append(
            f"| {eid} | {neg.get('false_alarm_rate', 0):.4f} ({neg.get('false_alarms', 0)}/{neg.get('queries', 0)}) "
            f"| {copies} | {r['thresholds']['derivative']:.4f} | {r['scan_ms_mean']:.0f} | "
            f"{r['registration_per_s']:.1f} | {r['elapsed_s']:.0f} |"
        )
    L.append("\n## Which embedder `auto` picks\n")
    means = {}
    for eid, r in runs.items():
        fams = r["report_by_family"]["Semblance (full)"]
        vals = [fams[f]["uAP"] for f in SIDE_BY_SIDE_FAMILIES if f in fams]
        means[eid] = (sum(vals) / max(1, len(vals)), r["scan_ms_mean"])
    order = ", ".join(f"`{e}`" for e in AUTO_PREFERENCE)
    L.append(
        f"`auto` takes the first of {order} that is installed and has a packaged calibration "
        "(`detector.auto.AUTO_PREFERENCE`). Mean µAP over the families above, and the mean scan time per query "
        "in this run (candidates verified, all near misses kept): "
        + "; ".join(f"`{e}` {m:.3f} at {ms:.0f} ms" for e, (m, ms) in means.items())
        + "."
    )
    L.append(
        "\nWhere the engine issue's targets are missed, by how much and why, and what would close each gap: "
        "`docs/evaluation/SHORTFALLS.md` (written by hand from these runs, not by this script)."
    )
    (docs / "EVALUATION.md").write_text("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
