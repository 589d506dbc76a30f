"""The content of a report, as labelled rows and captions, shared by the HTML and the PDF renderers so both
always say the same thing."""

from __future__ import annotations

from typing import Any

Rows = list[tuple[str, object]]

NO_METADATA = "No EXIF, XMP, IPTC or PNG text metadata was found."


def case_rows(ev: dict[str, Any]) -> Rows:
    case = ev["case"]
    return [
        ("Case number", case.get("case_number", "")),
        ("Examiner", case.get("examiner", "")),
        ("Requesting authority", case.get("authority", "")),
        ("Date and time (UTC)", ev["generated_at"]),
        ("Notes", case.get("notes", "")),
    ]


def suspect_rows(ev: dict[str, Any]) -> Rows:
    sus = ev["suspect"]
    return [
        ("File name", sus["name"]),
        ("Size (bytes)", str(sus["size_bytes"])),
        ("SHA-256", sus["sha256"]),
        ("MD5", sus["md5"]),
        ("Format", sus["format"]),
        ("Dimensions", f"{sus['width']} x {sus['height']} px"),
        ("How obtained", sus.get("obtained") or "not stated"),
        ("Bundle copy", sus["file"]),
    ]


def work_rows(m: dict[str, Any]) -> Rows:
    w = m["work"]
    return [
        ("Reference", m["ref"]),
        ("Title", w.get("title", "")),
        ("Author", w.get("author", "")),
        ("Rights holder", w.get("rights_holder", "")),
        ("Registration number", w.get("registration_no", "")),
        ("Source", w.get("source_url", "")),
        ("Registered (UTC)", w.get("registered_at", "")),
        ("Registered original SHA-256", w["sha256"]),
        ("Dimensions", f"{w['width']} x {w['height']} px"),
        ("Bundle copy", m["original_file"]),
    ]


FAMILY_WORDS = {
    "all": "all copies of the calibration's works",
    "near_copy": "near copies (resized, recompressed, recoloured, bordered)",
    "crop": "crops",
    "collage": "collage panels",
    "ai": "AI re-renderings",
    "photo_of_print": "photos of prints",
    "composite": "composites (crop, recolour and watermark together)",
    "screenshot": "marketplace screenshots",
    "mockup": "product mock-ups",
    "ai_collage": "AI-rendered collages",
}
"""Plain words for the families whose rates a calibration measures (scripts/evaluate.py, service/calibrate.py)."""


def method_rows(ev: dict[str, Any]) -> Rows:
    """The method in words; the full records (embedder, signals, index, calibration) are in evidence.json."""
    method = ev["method"]
    th = method["thresholds"]
    emb = method["embedder"]
    cal = method.get("calibration") or {"version": th.get("version"), "embedder": th.get("embedder")}
    index = method.get("index") or {}
    return [
        ("Software", method["software"]),
        ("Git commit", method["git_commit"]),
        ("Embedder", f"{emb.get('id')} (weights SHA-256 {emb.get('weights_sha256')})"),
        ("Signals", ", ".join(f"{s.get('name')} v{s.get('version')}" for s in method["signals"])),
        ("Index", _index_words(index)),
        ("Exact re-scoring", method["rescoring"]),
        ("Calibration", f"{cal.get('version')} ({cal.get('origin', 'packaged')}), for embedder {cal.get('embedder')}"),
        ("Thresholds", _threshold_words(th)),
        *rate_rows(th.get("rates") or {}),
    ]


def rate_rows(rates: dict[str, Any]) -> Rows:
    """The measured error rates at the thresholds in use, as sentences a reader can check: how many unrelated images
    raised each verdict, and how many copies of each family it found, with 95% intervals."""
    rows: Rows = []
    for split, row in rates.items():
        if not isinstance(row, dict) or "false_alarms" not in row:
            continue
        verdict = "copy" if split.endswith("copy") else "derivative"
        where = split.rsplit(".", 1)[0]
        lo, hi = row.get("false_alarm_ci95", [0, 0])
        rows.append(
            (
                f"False alarms of '{verdict}' ({where} data)",
                f"{int(row['false_alarms']):,} of {int(row['negatives']):,} unrelated images were given this verdict "
                f"or a stronger one: {_pct(row['false_alarm_rate'])} (95% interval {_pct(lo)} to {_pct(hi)}).",
            )
        )
        for family, words in FAMILY_WORDS.items():
            if f"tpr_{family}" not in row:
                continue
            n, rate = int(row[f"n_{family}"]), float(row[f"tpr_{family}"])
            lo, hi = row.get(f"tpr_{family}_ci95", [0, 0])
            rows.append(
                (
                    f"Copies found as '{verdict}': {words}",
                    f"{round(rate * n):,} of {n:,}: {_pct(rate)} (95% interval {_pct(lo)} to {_pct(hi)}).",
                )
            )
    return rows or [("Measured error rates", "not calibrated: no rates were measured for these thresholds")]


def signal_rows(m: dict[str, Any]) -> Rows:
    """Each signal's values, rounded, as one line (the homography matrix and the raw values are in evidence.json)."""
    return [
        (name, "; ".join(f"{k.replace('_', ' ')} {_number(v)}" for k, v in values.items() if k != "homography"))
        for name, values in m["signals"].items()
    ]


def _pct(v: object) -> str:
    x = float(v) * 100  # type: ignore[arg-type]
    return f"{x:.2f}%" if x < 10 else f"{x:.1f}%"


def _number(v: object) -> str:
    if isinstance(v, bool) or not isinstance(v, float):
        return str(v)
    return f"{v:.3f}"


def _threshold_words(th: dict[str, Any]) -> str:
    return (
        f"'derivative' from a score of {th.get('derivative_threshold')}; 'copy' from {th.get('copy_threshold')} with "
        f"proof: at least {th.get('copy_min_inliers')} keypoint inliers that are at least "
        f"{float(th.get('copy_min_inlier_ratio') or 0):.0%} of the matches inside the outline, or PDQ hashes within "
        f"{th.get('copy_max_pdq_distance')} bits. Calibration {th.get('version')}: {th.get('derivation')}"
    )


def _index_words(index: dict[str, Any]) -> str:
    types = index.get("types") or {}
    files = index.get("files") or {}
    parts = [f"{k}: {t}" + (f" (file SHA-256 {files[k]})" if k in files else "") for k, t in types.items()]
    return f"format {index.get('format')}, registry generation {index.get('generation')}; " + "; ".join(parts)


def figures(m: dict[str, Any]) -> list[tuple[str, str]]:
    """(bundle path, caption) of a match's figures."""
    rank = m["rank"]
    return [
        (
            f"figures/match-{rank}-side-by-side.jpg",
            "Suspect (left) and registered original (right); red: the matched region; lines: keypoint correspondences.",
        ),
        (
            f"figures/match-{rank}-overlay.jpg",
            "Matched area of the suspect, the original aligned onto it, and their absolute difference.",
        ),
    ]


def region_sentence(m: dict[str, Any]) -> str:
    import json

    return (
        f"Signals agreeing on their own: {', '.join(m['agreeing_signals']) or 'none'}. Region in the suspect "
        f"(from {m['region_source']}): {json.dumps(m['region'])}; in the original: "
        f"{json.dumps(m['reference_region'])}."
    )


def integrity_text(ev: dict[str, Any]) -> str:
    return (
        "This report is part of an evidence bundle whose manifest.json lists the SHA-256 of every file and is "
        f"signed with the workspace's Ed25519 key (fingerprint {ev.get('signing_key_fingerprint', '')}). "
        "`semblance verify-report BUNDLE` checks the signature and every hash; `semblance reproduce BUNDLE` "
        "recomputes every number from the bundle's own input files."
    )
